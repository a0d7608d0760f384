// FieldsV1 field sets: which fields an object sets (by list type: map keys, set values or atomic lists),
// and the set operations and path helpers that field ownership and server-side apply are built on.
import { clone, deepEqual, isObject, type Json, type JsonObject, type KubeObject } from './json.ts';
import { builtinListStrategy } from './patch.ts';
import type { Schema } from './schema.ts';

/** How a list merges: by keys, as a set, or replaced whole. */
export type ListKind = { type: 'map'; keys: string[] } | { type: 'set' } | { type: 'atomic' };

/** Schema context while walking: a CRD schema node, or the name-based rules of built-in types. */
export interface Ctx {
  schema: Schema | undefined;
  builtin: boolean;
}

export function childCtx(ctx: Ctx, key: string): Ctx {
  if (ctx.schema === undefined) return ctx;
  const s = ctx.schema.properties?.[key] ?? (isObject(ctx.schema.additionalProperties) ? (ctx.schema.additionalProperties as Schema) : undefined);
  return { schema: s, builtin: ctx.builtin };
}

export function itemCtx(ctx: Ctx): Ctx {
  return { schema: ctx.schema?.items, builtin: ctx.builtin };
}

/**
 * Whether map `name` is owned and replaced as a whole: x-kubernetes-map-type atomic in a CRD; in built-in
 * types every `selector` (a Service's selector map and LabelSelector are atomic in the real types).
 */
export function atomicMap(name: string, ctx: Ctx): boolean {
  return ctx.schema?.['x-kubernetes-map-type'] === 'atomic' || (ctx.builtin && name === 'selector');
}

/** Whether the items of list `name` are owned and replaced whole: an OwnerReference is an atomic struct. */
export function atomicItems(name: string): boolean {
  return name === 'ownerReferences';
}

export function listKind(name: string, items: readonly Json[], ctx: Ctx): ListKind {
  if (name === 'finalizers') return { type: 'set' };
  if (name === 'ownerReferences') return { type: 'map', keys: ['uid'] };
  if (name === 'managedFields') return { type: 'atomic' };
  if (ctx.schema !== undefined && !ctx.builtin) {
    const t = ctx.schema['x-kubernetes-list-type'];
    if (t === 'map') return { type: 'map', keys: ctx.schema['x-kubernetes-list-map-keys'] ?? [] };
    if (t === 'set') return { type: 'set' };
    return { type: 'atomic' };
  }
  if (!ctx.builtin) return { type: 'atomic' };
  // Built-in types merge lists as their strategic-merge tags say; ports are keyed by port and protocol.
  const strategy = builtinListStrategy(name, items);
  if (strategy?.primitiveMerge === true) return { type: 'set' };
  if (strategy?.mergeKey === undefined) return { type: 'atomic' };
  return { type: 'map', keys: name === 'ports' ? [strategy.mergeKey, 'protocol'] : [strategy.mergeKey] };
}

function keyValue(item: JsonObject, key: string, kind: ListKind): Json {
  const v = item[key];
  // protocol defaults to TCP for port list-maps, as the real types default it.
  if (v === undefined && key === 'protocol' && kind.type === 'map' && kind.keys.length === 2) return 'TCP';
  return v ?? null;
}

export function itemKey(item: Json, kind: ListKind): string {
  if (kind.type === 'map' && isObject(item)) {
    const obj: JsonObject = {};
    for (const k of [...kind.keys].sort()) obj[k] = keyValue(item, k, kind);
    return `k:${JSON.stringify(obj)}`;
  }
  return `v:${JSON.stringify(item)}`;
}

/** Top-level fields the field manager never tracks. */
const ignoredTop = new Set(['apiVersion', 'kind']);
/** Metadata fields the field manager never tracks. */
export const ignoredMeta = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'generateName']);

/** The FieldsV1 set of every field present in `obj` (restricted to `status` or to everything else). */
export function fieldSetOf(obj: KubeObject | JsonObject, schema: Schema | undefined, builtin: boolean, part: 'main' | 'status' | 'all'): JsonObject {
  const out: JsonObject = {};
  const ctx: Ctx = { schema, builtin };
  for (const [key, value] of Object.entries(obj)) {
    if (ignoredTop.has(key) || value === undefined) continue;
    if (part === 'main' && key === 'status') continue;
    if (part === 'status' && key !== 'status') continue;
    if (key === 'metadata') {
      if (!isObject(value)) continue;
      const meta: JsonObject = {};
      for (const [mk, mv] of Object.entries(value)) {
        if (ignoredMeta.has(mk) || mv === undefined) continue;
        meta[`f:${mk}`] = walk(mv as Json, mk, { schema: undefined, builtin: true });
      }
      if (Object.keys(meta).length > 0 && part !== 'status') out['f:metadata'] = meta;
      continue;
    }
    out[`f:${key}`] = walk(value as Json, key, childCtx(ctx, key));
  }
  return out;
}

function walk(value: Json, name: string, ctx: Ctx): JsonObject {
  if (isObject(value)) {
    if (atomicMap(name, ctx)) return {};
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) out[`f:${k}`] = walk(v, k, childCtx(ctx, k));
    return out;
  }
  if (Array.isArray(value)) {
    const kind = listKind(name, value, ctx);
    if (kind.type === 'atomic') return {};
    const out: JsonObject = {};
    for (const item of value) {
      if (kind.type === 'set') out[itemKey(item, kind)] = {};
      else {
        const child = isObject(item) && !atomicItems(name) ? walk(item, '', itemCtx(ctx)) : {};
        out[itemKey(item, kind)] = { '.': {}, ...child };
      }
    }
    return out;
  }
  return {};
}

/** Leaf paths of a field set: nodes without children, and `.` markers (as the owning item's path). */
export function leafPaths(set: JsonObject, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(set)) {
    if (k === '.') {
      out.push(prefix);
      continue;
    }
    const path = [...prefix, k];
    if (!isObject(v) || Object.keys(v).length === 0) out.push(path);
    else out.push(...leafPaths(v, path));
  }
  return out;
}

export function hasPath(set: JsonObject, path: readonly string[], isItem: boolean): boolean {
  let cur: Json | undefined = set;
  for (const p of path) {
    if (!isObject(cur)) return false;
    cur = cur[p];
    if (cur === undefined) return false;
  }
  if (!isObject(cur)) return false;
  return isItem ? cur['.'] !== undefined : Object.keys(cur).length === 0 || cur['.'] !== undefined;
}

export function isItemElement(p: string | undefined): boolean {
  return p !== undefined && (p.startsWith('k:') || p.startsWith('v:'));
}

export function ownsLeaf(set: JsonObject, path: readonly string[]): boolean {
  return hasPath(set, path, isItemElement(path[path.length - 1]) && !path[path.length - 1]?.startsWith('v:'));
}

export function removePathFromSet(set: JsonObject, path: readonly string[]): JsonObject {
  const out = clone(set);
  const stack: JsonObject[] = [out];
  let cur: JsonObject = out;
  for (let i = 0; i < path.length - 1; i++) {
    const next = cur[path[i] ?? ''];
    if (!isObject(next)) return out;
    cur = next;
    stack.push(cur);
  }
  const last = path[path.length - 1];
  if (last === undefined) return out;
  const node = cur[last];
  if (isObject(node) && node['.'] !== undefined) delete node['.'];
  if (!isObject(node) || Object.keys(node).length === 0 || isItemElement(last)) {
    if (isObject(node) && Object.keys(node).length > 0 && isItemElement(last)) {
      // an item keeps its owned children even if the item marker goes
    } else delete cur[last];
  }
  // prune empty parents
  for (let i = path.length - 2; i >= 0; i--) {
    const parent = stack[i];
    const key = path[i] ?? '';
    const child = parent?.[key];
    if (parent !== undefined && isObject(child) && Object.keys(child).length === 0) delete parent[key];
  }
  return out;
}

export function unionSets(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = clone(a);
  for (const [k, v] of Object.entries(b)) {
    const existing = out[k];
    out[k] = isObject(existing) && isObject(v) ? unionSets(existing, v) : clone(v);
  }
  return out;
}

/** The value at a field path in an object (undefined when absent). */
export function valueAtPath(obj: Json | undefined, path: readonly string[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const p of path) {
    if (cur === undefined || cur === null) return undefined;
    if (p.startsWith('f:')) {
      if (!isObject(cur)) return undefined;
      cur = cur[p.slice(2)];
    } else if (p.startsWith('k:')) {
      if (!Array.isArray(cur)) return undefined;
      const keys = JSON.parse(p.slice(2)) as JsonObject;
      cur = cur.find((item) => isObject(item) && Object.entries(keys).every(([k, v]) => deepEqual(item[k] ?? (k === 'protocol' ? 'TCP' : null), v)));
    } else if (p.startsWith('v:')) {
      if (!Array.isArray(cur)) return undefined;
      const value = JSON.parse(p.slice(2)) as Json;
      cur = cur.find((item) => deepEqual(item, value));
    }
  }
  return cur;
}

/** `.spec.containers[name="nginx"].image`: the way conflicts name a field. */
export function describePath(path: readonly string[]): string {
  let out = '';
  for (const p of path) {
    if (p.startsWith('f:')) out += `.${p.slice(2)}`;
    else if (p.startsWith('k:')) {
      const keys = JSON.parse(p.slice(2)) as JsonObject;
      out += `[${Object.entries(keys).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    } else if (p.startsWith('v:')) out += `[=${p.slice(2)}]`;
  }
  return out;
}

export function removeValueAtPath(obj: Json, path: readonly string[]): Json {
  if (path.length === 0) return obj;
  const [head, ...rest] = path;
  if (head === undefined) return obj;
  if (head.startsWith('f:') && isObject(obj)) {
    const key = head.slice(2);
    if (!(key in obj)) return obj;
    const out = { ...obj };
    if (rest.length === 0) delete out[key];
    else {
      const child = out[key];
      // Like kube-apiserver, a map left empty by the removal goes too (a dropped optional struct, not `{}`).
      const next = child === undefined ? undefined : removeValueAtPath(child, rest);
      if (isObject(next) && Object.keys(next).length === 0 && isObject(child) && Object.keys(child).length > 0) delete out[key];
      else if (next !== undefined) out[key] = next;
    }
    return out;
  }
  if ((head.startsWith('k:') || head.startsWith('v:')) && Array.isArray(obj)) {
    const target = valueAtPath(obj, [head]);
    if (target === undefined) return obj;
    if (rest.length === 0) return obj.filter((item) => item !== target);
    return obj.map((item) => (item === target ? removeValueAtPath(item, rest) : item));
  }
  return obj;
}

/** Merges an applied configuration into the live object following list types. */

export function pathToSet(path: readonly string[]): JsonObject {
  let node: JsonObject = {};
  const leafIsItem = isItemElement(path[path.length - 1]) && !path[path.length - 1]?.startsWith('v:');
  if (leafIsItem) node = { '.': {} };
  for (let i = path.length - 1; i >= 0; i--) node = { [path[i] ?? '']: node };
  return node;
}

export function intersectExisting(set: JsonObject, existing: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(set)) {
    if (k === '.') {
      out[k] = {};
      continue;
    }
    const e = existing[k];
    if (e === undefined) continue;
    if (isObject(v) && Object.keys(v).length > 0 && isObject(e)) {
      const child = intersectExisting(v, e);
      if (Object.keys(child).length > 0) out[k] = child;
    } else out[k] = v;
  }
  return out;
}
