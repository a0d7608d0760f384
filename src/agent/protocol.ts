// The local training API (DESIGN §5): newline-delimited JSON over a Unix socket. Parsing is total: any
// input yields either a typed message or an error naming the field and the expected form.
import type { Instruction } from '../api/planner-types.ts';
import type { RankMode } from './types.ts';

/** The protocol version this agent speaks. */
export const PROTOCOL_VERSION = 1;
/** Longest accepted line (bytes, without the newline). */
export const MAX_LINE_BYTES = 4096;

/** `hello`: binds the connection to a rank; `token` proves the pod. */
export interface HelloMessage {
  readonly type: 'hello';
  readonly v: number;
  readonly namespace: string;
  readonly rank: string;
  readonly pod: string;
  readonly token: string;
  /** GPUs this process drives (a subset of the pod's); default: all of the pod's GPUs. */
  readonly gpus?: readonly string[];
}

/** `begin`: a computation starts now. */
export interface BeginMessage {
  readonly type: 'begin';
  readonly instruction: Instruction;
  readonly microbatch: number;
  readonly chunk: number;
}

/** `end`: the computation started by the last `begin` ended (profiling needs it). */
export interface EndMessage {
  readonly type: 'end';
}

/** `step_end`: an iteration ended; its wall time as the trainer measured it. */
export interface StepEndMessage {
  readonly type: 'step_end';
  readonly iterationSeconds: number;
}

export type ClientMessage = HelloMessage | BeginMessage | EndMessage | StepEndMessage;

/** Error codes of `error` replies. */
export type ErrorCode = 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotReady' | 'RateLimited' | 'LineTooLong' | 'Internal';

/** The agent's reply to a bad message (never sent for a good begin/end/step_end). */
export interface ErrorReply {
  readonly type: 'error';
  readonly code: ErrorCode;
  /** The offending field, when one is to blame. */
  readonly field?: string;
  /** What the field should look like. */
  readonly expected?: string;
  readonly message: string;
}

/** The reply to a successful hello: the mode tells the client whether to synchronize (profiling). */
export interface HelloReply {
  readonly type: 'hello';
  readonly ok: true;
  readonly v: number;
  readonly mode: RankMode;
  readonly gpus: readonly string[];
  /** True while profiling: the client should synchronize the device before `end`. */
  readonly synchronize: boolean;
}

export type ServerReply = ErrorReply | HelloReply;

export type ParseResult = { readonly ok: true; readonly message: ClientMessage } | { readonly ok: false; readonly error: ErrorReply };

function bad(field: string, expected: string, got?: unknown): { ok: false; error: ErrorReply } {
  const shown = got === undefined ? 'nothing' : JSON.stringify(got)?.slice(0, 40) ?? String(got);
  return { ok: false, error: { type: 'error', code: 'BadRequest', field, expected, message: `${field}: expected ${expected}, got ${shown}` } };
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MAX_MICROBATCH = 1 << 20;
const MAX_CHUNK = 255;

function isIndex(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Parses one line (without its newline). */
export function parseClientMessage(line: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return bad('(line)', 'one JSON object per line', line.length > 40 ? `${line.slice(0, 40)}…` : line);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('(line)', 'a JSON object', raw);
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'begin': {
      if (m.instruction !== 'forward' && m.instruction !== 'backward') return bad('instruction', '"forward" or "backward"', m.instruction);
      if (!isIndex(m.microbatch, MAX_MICROBATCH)) return bad('microbatch', `an integer in [0, ${MAX_MICROBATCH}]`, m.microbatch);
      const chunk = m.chunk ?? 0;
      if (!isIndex(chunk, MAX_CHUNK)) return bad('chunk', `an integer in [0, ${MAX_CHUNK}] (or absent)`, m.chunk);
      return { ok: true, message: { type: 'begin', instruction: m.instruction, microbatch: m.microbatch, chunk } };
    }
    case 'end':
      return { ok: true, message: { type: 'end' } };
    case 'step_end': {
      const s = m.iterationSeconds;
      if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0 || s > 86_400) return bad('iterationSeconds', 'a number of seconds in (0, 86400]', s);
      return { ok: true, message: { type: 'step_end', iterationSeconds: s } };
    }
    case 'hello': {
      if (m.v !== PROTOCOL_VERSION) return bad('v', `protocol version ${PROTOCOL_VERSION}`, m.v);
      for (const field of ['namespace', 'rank', 'pod'] as const) {
        const v = m[field];
        if (typeof v !== 'string' || !NAME.test(v)) return bad(field, 'a Kubernetes object name (lowercase DNS subdomain)', v);
      }
      if (typeof m.token !== 'string' || m.token.length === 0 || m.token.length > 1024) return bad('token', 'the contents of the rank token file (1 to 1024 characters)', m.token === undefined ? undefined : '(redacted)');
      let gpus: string[] | undefined;
      if (m.gpus !== undefined) {
        if (!Array.isArray(m.gpus) || m.gpus.length > 64 || !m.gpus.every((g) => typeof g === 'string' && g.length > 0 && g.length <= 128)) {
          return bad('gpus', 'an array of at most 64 GPU UUID strings (or absent)', m.gpus);
        }
        gpus = m.gpus as string[];
      }
      const hello: HelloMessage = { type: 'hello', v: m.v, namespace: m.namespace as string, rank: m.rank as string, pod: m.pod as string, token: m.token, ...(gpus ? { gpus } : {}) };
      return { ok: true, message: hello };
    }
    default:
      return bad('type', '"hello", "begin", "end" or "step_end"', m.type);
  }
}
