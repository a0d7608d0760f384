// Flag parsing shared by every sub-command: node's parseArgs plus typed conversions whose errors name the
// flag and the expected form, so a bad flag is a one-line message and exit code 2, never a stack trace.
import { parseArgs } from 'node:util';

/** A user error in a flag: printed as one line, exit code 2. */
export class FlagError extends Error {
  override readonly name = 'FlagError';
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
}

/** Parses `argv` against `spec`; unknown flags and stray positionals (unless allowed) are FlagErrors. */
export function parseFlags<T extends Record<string, FlagSpec>>(
  argv: readonly string[],
  spec: T,
  allowPositionals = false,
): { values: { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : T[K]['multiple'] extends true ? string[] : string }; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: spec as never, allowPositionals, strict: true });
    return { values: values as never, positionals };
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
}

/** An integer flag in [min, max] (default: positive), or `fallback` when absent. */
export function intFlag(name: string, raw: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
    throw new FlagError(`--${name}: expected an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`}, got "${raw}"`);
  }
  return Number(raw);
}

/** A finite number flag within [min, max], or `fallback` when absent. */
export function numberFlag(name: string, raw: string | undefined, fallback: number, min = -Infinity, max = Infinity): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new FlagError(`--${name}: expected a number in [${min}, ${max}], got "${raw}"`);
  }
  return value;
}

const durationUnits: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, m: 60, h: 3600 };

/** Parses a duration: a plain number of seconds, or a number with a unit (`1ms`, `100us`, `2s`, `5m`). */
export function parseDurationSeconds(raw: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(s|ms|us|µs|m|h)?\s*$/i.exec(raw);
  if (match === null) return undefined;
  const unit = durationUnits[(match[2] ?? 's').toLowerCase()];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}

/** A positive duration flag in seconds, or `fallback` when absent. */
export function durationFlag(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const seconds = parseDurationSeconds(raw);
  if (seconds === undefined || !(seconds > 0)) {
    throw new FlagError(`--${name}: expected a positive duration such as 0.001, 1ms or 100us, got "${raw}"`);
  }
  return seconds;
}

/** A `true`/`false` flag written `--name=true|false` (case-insensitive), or `fallback` when absent. */
export function boolFlag(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  const value = raw.trim().toLowerCase();
  if (value !== 'true' && value !== 'false') throw new FlagError(`--${name}: expected true or false, got "${raw}"`);
  return value === 'true';
}

/** One of `choices` (case-insensitive), or `fallback` when absent. */
export function choiceFlag<C extends string>(name: string, raw: string | undefined, choices: readonly C[], fallback: C): C {
  if (raw === undefined) return fallback;
  const found = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
  if (found === undefined) throw new FlagError(`--${name}: expected one of ${choices.join(', ')}, got "${raw}"`);
  return found;
}

/**
 * Runs a command body: a FlagError is a one-line message and exit code 2; any other failure (a library
 * that cannot be loaded, a port in use) is a one-line message with its causes and exit code 1. The stack
 * is printed too when LOG_LEVEL=debug.
 */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`perseus ${name}: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`perseus ${name}: ${describeError(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

/** An error's message followed by its causes' messages (`a: b`), without repeating a cause already quoted. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}
