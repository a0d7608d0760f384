// Runtime validation against the same OpenAPI nodes the CRDs embed: structure, enums, bounds, and the CEL
// rules (evaluated with a CEL interpreter), so the controller rejects exactly what the API server would,
// even on a cluster where the CRD was installed without validation.
import { parse as parseCel } from '@marcbachmann/cel-js';
import type { OpenApiSchema } from './schema.ts';

/** One problem with a value, naming the field (`spec.topology.stages`). */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly Issue[] };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Returns a deep copy of `value` with every absent property that has a schema default filled in. */
export function applyDefaults(schema: OpenApiSchema, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = schema.items;
    return items === undefined ? structuredClone(value) : value.map((v) => applyDefaults(items, v));
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const child = schema.properties?.[k] ?? schema.additionalProperties;
    out[k] = child === undefined ? structuredClone(v) : applyDefaults(child, v);
  }
  for (const [k, child] of Object.entries(schema.properties ?? {})) {
    if (out[k] === undefined && child.default !== undefined) out[k] = applyDefaults(child, structuredClone(child.default));
  }
  return out;
}

const compiled = new Map<string, (ctx: Record<string, unknown>) => unknown>();

function compile(rule: string): (ctx: Record<string, unknown>) => unknown {
  let fn = compiled.get(rule);
  if (fn === undefined) {
    const parsed = parseCel(rule);
    fn = (ctx) => parsed(ctx);
    compiled.set(rule, fn);
  }
  return fn;
}

/** Converts a JSON value to CEL values typed by the schema (integers become CEL ints). */
function toCel(schema: OpenApiSchema | undefined, value: unknown): unknown {
  if (schema === undefined) return value;
  if (schema.type === 'integer' && typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map((v) => toCel(schema.items, v));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCel(schema.properties?.[k] ?? schema.additionalProperties, v);
    return out;
  }
  return value;
}

function typeIssue(schema: OpenApiSchema, value: unknown): string | undefined {
  switch (schema.type) {
    case 'object':
      return isPlainObject(value) ? undefined : 'must be an object';
    case 'array':
      return Array.isArray(value) ? undefined : 'must be a list';
    case 'string':
      return typeof value === 'string' ? undefined : 'must be a string';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be a boolean';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) ? undefined : 'must be an integer';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a number';
    default:
      return undefined;
  }
}

function check(schema: OpenApiSchema, value: unknown, old: unknown, path: string, issues: Issue[]): void {
  if (value === null || value === undefined) {
    issues.push({ path, message: 'must not be null' });
    return;
  }
  const before = issues.length;
  const wrongType = typeIssue(schema, value);
  if (wrongType !== undefined) {
    issues.push({ path, message: `${wrongType}, got ${JSON.stringify(value)}` });
    return;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value as string)) {
    issues.push({ path, message: `must be one of ${schema.enum.join(', ')}, got ${JSON.stringify(value)}` });
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined) {
      if (schema.exclusiveMinimum === true ? value <= schema.minimum : value < schema.minimum) {
        issues.push({ path, message: `must be ${schema.exclusiveMinimum === true ? '>' : '≥'} ${schema.minimum}, got ${value}` });
      }
    }
    if (schema.maximum !== undefined && value > schema.maximum) issues.push({ path, message: `must be ≤ ${schema.maximum}, got ${value}` });
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) issues.push({ path, message: `must have at least ${schema.minLength} characters` });
    if (schema.maxLength !== undefined && value.length > schema.maxLength) issues.push({ path, message: `must have at most ${schema.maxLength} characters` });
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      issues.push({ path, message: `must match ${schema.pattern}, got ${JSON.stringify(value)}` });
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) issues.push({ path, message: `must have at least ${schema.minItems} items` });
    if (schema.maxItems !== undefined && value.length > schema.maxItems) issues.push({ path, message: `must have at most ${schema.maxItems} items` });
    const items = schema.items;
    if (items !== undefined) value.forEach((v, i) => check(items, v, undefined, `${path}[${i}]`, issues));
    const keys = schema['x-kubernetes-list-map-keys'];
    if (schema['x-kubernetes-list-type'] === 'map' && keys !== undefined) {
      const seen = new Set<string>();
      value.forEach((v, i) => {
        const key = JSON.stringify(keys.map((k) => (isPlainObject(v) ? v[k] : undefined)));
        if (seen.has(key)) issues.push({ path: `${path}[${i}]`, message: `duplicate entry for key ${keys.join(', ')} = ${key}` });
        seen.add(key);
      });
    }
  }
  if (isPlainObject(value)) {
    const oldObj = isPlainObject(old) ? old : undefined;
    for (const key of schema.required ?? []) {
      if (value[key] === undefined) issues.push({ path: join(path, key), message: 'is required' });
    }
    for (const [key, v] of Object.entries(value)) {
      const child = schema.properties?.[key] ?? schema.additionalProperties;
      if (child === undefined) {
        if (schema['x-kubernetes-preserve-unknown-fields'] !== true) issues.push({ path: join(path, key), message: 'is not a known field' });
        continue;
      }
      check(child, v, oldObj?.[key], join(path, key), issues);
    }
  }
  // CEL rules see a value only once its structure is valid, like the API server's typed evaluation.
  if (issues.length > before) return;
  for (const { rule, message } of schema['x-kubernetes-validations'] ?? []) {
    const transition = /\boldSelf\b/.test(rule);
    if (transition && (old === undefined || old === null)) continue;
    let passed: unknown;
    try {
      passed = compile(rule)({ self: toCel(schema, value), ...(transition ? { oldSelf: toCel(schema, old) } : {}) });
    } catch (err) {
      issues.push({ path, message: `${message} (rule could not be evaluated: ${(err as Error).message.split('\n')[0]})` });
      continue;
    }
    if (passed !== true) issues.push({ path, message });
  }
}

/**
 * Validates `value` (already defaulted) against `schema`; `old` is the previous version on an update
 * (enables the transition rules that compare with `oldSelf`). Returns every issue, each naming its field.
 */
export function validate(schema: OpenApiSchema, value: unknown, old?: unknown, path = ''): Issue[] {
  const issues: Issue[] = [];
  check(schema, value, old, path, issues);
  return issues;
}
