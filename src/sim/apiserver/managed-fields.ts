// Server-side apply: field ownership per manager in metadata.managedFields (FieldsV1), conflicts between
// managers, and the merge of an applied configuration into the live object by list type.
import { ApiError } from './errors.ts';
import { clone, deepEqual, isObject, nowTimestamp, type Json, type JsonObject, type KubeObject, type ManagedFieldsEntry } from './json.ts';
import type { Schema } from './schema.ts';

/** How a list merges: by keys, as a set, or replaced whole. */
type ListKind = { type: 'map'; keys: string[] } | { type: 'set' } | { type: 'atomic' };

/** Schema context while walking: a CRD schema node, or the name-based rules of built-in types. */
interface Ctx {
  schema: Schema | undefined;
  builtin: boolean;
}

function childCtx(ctx: Ctx, key: string): Ctx {
  if (ctx.schema === undefined) return ctx;
  const s = ctx.schema.properties?.[key] ?? (isObject(ctx.schema.additionalProperties) ? (ctx.schema.additionalProperties as Schema) : undefined);
  return { schema: s, builtin: ctx.builtin };
}

function itemCtx(ctx: Ctx): Ctx {
  return { schema: ctx.schema?.items, builtin: ctx.builtin };
}

function listKind(name: string, items: readonly Json[], ctx: Ctx): ListKind {
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
  switch (name) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'resourceClaims':
      return { type: 'map', keys: ['name'] };
    case 'volumeMounts':
      return { type: 'map', keys: ['mountPath'] };
    case 'conditions':
      return { type: 'map', keys: ['type'] };
    case 'ports':
      return items.some((i) => isObject(i) && 'containerPort' in i) ? { type: 'map', keys: ['containerPort', 'protocol'] } : { type: 'map', keys: ['port', 'protocol'] };
    default:
      return { type: 'atomic' };
  }
}

function keyValue(item: JsonObject, key: string, kind: ListKind): Json {
  const v = item[key];
  // protocol defaults to TCP for port list-maps, as the real types default it.
  if (v === undefined && key === 'protocol' && kind.type === 'map' && kind.keys.length === 2) return 'TCP';
  return v ?? null;
}

function itemKey(item: Json, kind: ListKind): string {
  if (kind.type === 'map' && isObject(item)) {
    const obj: JsonObject = {};
    for (const k of [...kind.keys].sort()) obj[k] = keyValue(item, k, kind);
    return `k:${JSON.stringify(obj)}`;
  }
  return `v:${JSON.stringify(item)}`;
}

/** Top-level fields the field manager never tracks. */
const ignoredTop = new Set(['apiVersion', 'kind']);
const ignoredMeta = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'generateName']);

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
    if (ctx.schema?.['x-kubernetes-map-type'] === 'atomic') return {};
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
        const child = isObject(item) ? walk(item, '', itemCtx(ctx)) : {};
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

function hasPath(set: JsonObject, path: readonly string[], isItem: boolean): boolean {
  let cur: Json | undefined = set;
  for (const p of path) {
    if (!isObject(cur)) return false;
    cur = cur[p];
    if (cur === undefined) return false;
  }
  if (!isObject(cur)) return false;
  return isItem ? cur['.'] !== undefined : Object.keys(cur).length === 0 || cur['.'] !== undefined;
}

function isItemElement(p: string | undefined): boolean {
  return p !== undefined && (p.startsWith('k:') || p.startsWith('v:'));
}

function ownsLeaf(set: JsonObject, path: readonly string[]): boolean {
  return hasPath(set, path, isItemElement(path[path.length - 1]) && !path[path.length - 1]?.startsWith('v:'));
}

function removePathFromSet(set: JsonObject, path: readonly string[]): JsonObject {
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

function unionSets(a: JsonObject, b: JsonObject): JsonObject {
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

function removeValueAtPath(obj: Json, path: readonly string[]): Json {
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
      if (child !== undefined) out[key] = removeValueAtPath(child, rest);
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
function mergeApplied(live: Json | undefined, applied: Json, name: string, ctx: Ctx): Json {
  if (isObject(applied)) {
    if (ctx.schema?.['x-kubernetes-map-type'] === 'atomic') return clone(applied);
    const out: JsonObject = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) {
      if (v === null) {
        delete out[k];
        continue;
      }
      out[k] = mergeApplied(out[k], v, k, childCtx(ctx, k));
    }
    return out;
  }
  if (Array.isArray(applied)) {
    const kind = listKind(name, applied, ctx);
    if (kind.type === 'atomic' || !Array.isArray(live)) return clone(applied);
    const out: Json[] = [...live];
    for (const item of applied) {
      const key = itemKey(item, kind);
      const index = out.findIndex((o) => itemKey(o, kind) === key);
      if (index < 0) out.push(clone(item));
      else if (kind.type === 'map') out[index] = mergeApplied(out[index], item, '', itemCtx(ctx));
    }
    return out;
  }
  return applied;
}

/** Who wrote a request: manager name, operation, apiVersion, subresource. */
export interface Writer {
  manager: string;
  apiVersion: string;
  subresource: 'status' | undefined;
}

function entryMatches(e: ManagedFieldsEntry, w: Writer, operation: 'Apply' | 'Update'): boolean {
  return e.manager === w.manager && e.operation === operation && (e.subresource ?? undefined) === w.subresource;
}

function makeEntry(w: Writer, operation: 'Apply' | 'Update', set: JsonObject): ManagedFieldsEntry {
  const entry: ManagedFieldsEntry = { manager: w.manager, operation, apiVersion: w.apiVersion, time: nowTimestamp(), fieldsType: 'FieldsV1', fieldsV1: set };
  if (w.subresource !== undefined) entry.subresource = w.subresource;
  return entry;
}

/**
 * Records an Update (create, PUT, non-apply PATCH): fields whose value changed become the writer's, and
 * stop being anybody else's; fields that disappeared leave every manager.
 */
export function trackUpdate(old: KubeObject | undefined, next: KubeObject, w: Writer, schema: Schema | undefined, builtin: boolean): ManagedFieldsEntry[] {
  const part = w.subresource === 'status' ? 'status' : 'main';
  const nextSet = fieldSetOf(next, schema, builtin, 'all');
  const changed = leafPaths(fieldSetOf(next, schema, builtin, part)).filter((p) => old === undefined || !deepEqual(valueAtPath(old as unknown as Json, p), valueAtPath(next as unknown as Json, p)));
  let entries = (old?.metadata.managedFields ?? []).map((e) => ({ ...e }));
  // drop ownership of fields that no longer exist
  entries = entries.map((e) => ({ ...e, fieldsV1: intersectExisting(e.fieldsV1, nextSet) }));
  if (changed.length > 0) {
    entries = entries.map((e) => {
      if (entryMatches(e, w, 'Update')) return e;
      let set = e.fieldsV1;
      for (const p of changed) set = removePathFromSet(set, p);
      return { ...e, fieldsV1: set };
    });
    let changedSet: JsonObject = {};
    for (const p of changed) changedSet = unionSets(changedSet, pathToSet(p));
    const mine = entries.find((e) => entryMatches(e, w, 'Update'));
    if (mine !== undefined) {
      mine.fieldsV1 = unionSets(mine.fieldsV1, changedSet);
      mine.time = nowTimestamp();
      mine.apiVersion = w.apiVersion;
    } else entries.push(makeEntry(w, 'Update', changedSet));
  }
  return entries.filter((e) => Object.keys(e.fieldsV1).length > 0);
}

function pathToSet(path: readonly string[]): JsonObject {
  let node: JsonObject = {};
  const leafIsItem = isItemElement(path[path.length - 1]) && !path[path.length - 1]?.startsWith('v:');
  if (leafIsItem) node = { '.': {} };
  for (let i = path.length - 1; i >= 0; i--) node = { [path[i] ?? '']: node };
  return node;
}

function intersectExisting(set: JsonObject, existing: JsonObject): JsonObject {
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

/** One conflicting field: which manager owns it. */
interface ConflictItem {
  /** The manager as kube-apiserver names it: `"name"` for appliers, `"name" using v1` for updaters. */
  owner: string;
  path: string[];
}

function conflictError(group: string, plural: string, name: string, conflicts: ConflictItem[]): ApiError {
  const byManager = new Map<string, ConflictItem[]>();
  for (const c of conflicts) {
    const key = c.owner;
    byManager.set(key, [...(byManager.get(key) ?? []), c]);
  }
  let message: string;
  if (conflicts.length === 1 && conflicts[0] !== undefined) {
    const c = conflicts[0];
    message = `Apply failed with 1 conflict: conflict with ${c.owner}: ${describePath(c.path)}`;
  } else {
    const parts = [...byManager.values()].map((items) => {
      const first = items[0];
      const head = items.length === 1 ? `conflict with ${first?.owner}:` : `conflicts with ${first?.owner}:`;
      return `${head}\n${items.map((i) => `- ${describePath(i.path)}`).join('\n')}`;
    });
    message = `Apply failed with ${conflicts.length} conflicts: ${parts.join('\n')}`;
  }
  const qualified = group === '' ? plural : `${plural}.${group}`;
  void qualified;
  return new ApiError(409, 'Conflict', message, {
    name,
    ...(group === '' ? {} : { group }),
    kind: plural,
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.owner}`, field: describePath(c.path) })),
  });
}

/** The result of a server-side apply: the merged object (managedFields set). */
export interface ApplyInput {
  live: KubeObject | undefined;
  applied: KubeObject;
  writer: Writer;
  force: boolean;
  schema: Schema | undefined;
  builtin: boolean;
  group: string;
  plural: string;
}

/** Server-side apply: conflicts (409 unless force), ownership transfer, removal of dropped fields, merge. */
export function serverSideApply(input: ApplyInput): KubeObject {
  const { live, applied, writer, force, schema, builtin } = input;
  const part = writer.subresource === 'status' ? 'status' : 'main';
  const appliedSet = fieldSetOf(applied, schema, builtin, part);
  const appliedLeaves = leafPaths(appliedSet);
  let entries = (live?.metadata.managedFields ?? []).map((e) => ({ ...e }));
  const conflicts: ConflictItem[] = [];
  const conflictsByEntry = new Map<ManagedFieldsEntry, string[][]>();
  for (const e of entries) {
    if (entryMatches(e, writer, 'Apply')) continue;
    for (const p of appliedLeaves) {
      if (!ownsLeaf(e.fieldsV1, p)) continue;
      const liveValue = valueAtPath(live as unknown as Json, p);
      const appliedValue = valueAtPath(applied as unknown as Json, p);
      const isItem = isItemElement(p[p.length - 1]);
      if (isItem || deepEqual(liveValue, appliedValue)) continue;
      conflicts.push({ owner: e.operation === 'Apply' ? `"${e.manager}"` : `"${e.manager}" using ${e.apiVersion}`, path: p });
      conflictsByEntry.set(e, [...(conflictsByEntry.get(e) ?? []), p]);
    }
  }
  if (conflicts.length > 0 && !force) throw conflictError(input.group, input.plural, applied.metadata.name ?? '', conflicts);
  for (const [e, paths] of conflictsByEntry) {
    for (const p of paths) e.fieldsV1 = removePathFromSet(e.fieldsV1, p);
  }
  // Fields this manager applied before but not now: removed unless another manager owns them.
  const mine = entries.find((e) => entryMatches(e, writer, 'Apply'));
  let base: Json = live === undefined ? { apiVersion: applied.apiVersion, kind: applied.kind, metadata: {} } : clone(live as unknown as Json);
  if (mine !== undefined) {
    for (const p of leafPaths(mine.fieldsV1)) {
      if (ownsLeaf(appliedSet, p)) continue;
      if (entries.some((e) => e !== mine && ownsLeaf(e.fieldsV1, p))) continue;
      base = removeValueAtPath(base, p);
    }
  }
  const appliedBody: JsonObject = { ...(applied as unknown as JsonObject) };
  delete appliedBody['apiVersion'];
  delete appliedBody['kind'];
  if (isObject(appliedBody['metadata'])) {
    const meta = { ...appliedBody['metadata'] };
    for (const k of ignoredMeta) delete meta[k];
    appliedBody['metadata'] = meta;
  }
  if (part === 'main') delete appliedBody['status'];
  else for (const k of Object.keys(appliedBody)) if (k !== 'status') delete appliedBody[k];
  const merged = mergeApplied(base, appliedBody, '', { schema, builtin }) as unknown as KubeObject;
  entries = entries.filter((e) => e !== mine);
  const entry = makeEntry(writer, 'Apply', appliedSet);
  entries.push(entry);
  merged.metadata = { ...merged.metadata, managedFields: entries.filter((e) => Object.keys(e.fieldsV1).length > 0) };
  return merged;
}
