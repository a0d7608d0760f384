// Server-side apply: field ownership per manager in metadata.managedFields (FieldsV1), conflicts between
// managers, and the merge of an applied configuration into the live object by list type.
import { ApiError } from './errors.ts';
import { atomicItems, atomicMap, childCtx, type Ctx, describePath, ignoredMeta, fieldSetOf, intersectExisting, isItemElement, itemCtx, itemKey, leafPaths, listKind, ownsLeaf, pathToSet, removePathFromSet, removeValueAtPath, unionSets, valueAtPath } from './field-sets.ts';
import { clone, deepEqual, isObject, nowTimestamp, type Json, type JsonObject, type KubeObject, type ManagedFieldsEntry } from './json.ts';
import type { Schema } from './schema.ts';

function mergeApplied(live: Json | undefined, applied: Json, name: string, ctx: Ctx): Json {
  if (isObject(applied)) {
    if (atomicMap(name, ctx)) return clone(applied);
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
      else if (kind.type === 'map') out[index] = atomicItems(name) ? clone(item) : mergeApplied(out[index], item, '', itemCtx(ctx));
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
      // An item conflicts as a whole only when it is atomic (an owner reference); otherwise its fields do.
      if ((isItem && !atomicItems(p[p.length - 2]?.slice(2) ?? '')) || deepEqual(liveValue, appliedValue)) continue;
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
