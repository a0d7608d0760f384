// The three classic patch types: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386) and the strategic
// merge patch of built-in types (merge keys per list, $patch/$retainKeys/$deleteFromPrimitiveList).
import { ApiError, badRequest } from './errors.ts';
import { clone, deepEqual, isObject, type Json, type JsonObject } from './json.ts';

function patchError(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw patchError(`invalid JSON pointer: "${pointer}"`);
  return pointer.slice(1).split('/').map(unescapePointer);
}

interface Located {
  parent: JsonObject | Json[];
  key: string;
}

function locate(doc: Json, tokens: string[], op: string, path: string): Located {
  let cur: Json = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i] ?? '';
    let next: Json | undefined;
    if (Array.isArray(cur)) next = cur[Number(t)];
    else if (isObject(cur)) next = cur[t];
    if (next === undefined || next === null || typeof next !== 'object') throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    cur = next;
  }
  if (!isObject(cur) && !Array.isArray(cur)) throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return { parent: cur, key: tokens[tokens.length - 1] ?? '' };
}

function getAt(doc: Json, tokens: string[], op: string, path: string): Json {
  if (tokens.length === 0) return doc;
  const { parent, key } = locate(doc, tokens, op, path);
  const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (value === undefined) throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return value;
}

function arrayIndex(parent: Json[], key: string, op: string, path: string, forInsert: boolean): number {
  if (forInsert && key === '-') return parent.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw patchError(`${op} operation does not apply: doc is missing path: "${path}": invalid index`);
  const index = Number(key);
  if (index > parent.length || (!forInsert && index >= parent.length)) throw patchError(`${op} operation does not apply: doc is missing path: "${path}": index out of range`);
  return index;
}

function addAt(doc: Json, tokens: string[], value: Json, path: string): Json {
  if (tokens.length === 0) return value;
  const { parent, key } = locate(doc, tokens, 'add', path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, 'add', path, true), 0, value);
  else parent[key] = value;
  return doc;
}

function removeAt(doc: Json, tokens: string[], path: string, op = 'remove'): Json {
  const { parent, key } = locate(doc, tokens, op, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, op, path, false), 1);
  else {
    if (!(key in parent)) throw patchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    delete parent[key];
  }
  return doc;
}

/** Applies an RFC 6902 JSON Patch; failures are 422 like the real server. */
export function applyJsonPatch(target: Json, patch: unknown): Json {
  if (!Array.isArray(patch)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(target);
  for (const raw of patch) {
    if (!isObject(raw)) throw badRequest('json: cannot unmarshal into Go value of type jsonpatch.Operation');
    const op = String(raw['op'] ?? '');
    const path = typeof raw['path'] === 'string' ? raw['path'] : undefined;
    if (path === undefined) throw patchError(`${op} operation does not apply: doc is missing path: "": missing value`);
    const tokens = parsePointer(path);
    switch (op) {
      case 'add':
        doc = addAt(doc, tokens, clone(raw['value'] ?? null), path);
        break;
      case 'remove':
        doc = removeAt(doc, tokens, path);
        break;
      case 'replace': {
        if (tokens.length === 0) {
          doc = clone(raw['value'] ?? null);
          break;
        }
        getAt(doc, tokens, 'replace', path);
        const { parent, key } = locate(doc, tokens, 'replace', path);
        if (Array.isArray(parent)) parent[arrayIndex(parent, key, 'replace', path, false)] = clone(raw['value'] ?? null);
        else parent[key] = clone(raw['value'] ?? null);
        break;
      }
      case 'move': {
        const from = String(raw['from'] ?? '');
        const fromTokens = parsePointer(from);
        const value = getAt(doc, fromTokens, 'move', from);
        doc = removeAt(doc, fromTokens, from, 'move');
        doc = addAt(doc, tokens, value, path);
        break;
      }
      case 'copy': {
        const from = String(raw['from'] ?? '');
        doc = addAt(doc, tokens, clone(getAt(doc, parsePointer(from), 'copy', from)), path);
        break;
      }
      case 'test': {
        const actual = getAt(doc, tokens, 'test', path);
        if (!deepEqual(actual, raw['value'] ?? null)) throw patchError(`testing value ${path} failed: test failed`);
        break;
      }
      default:
        throw patchError(`Unexpected kind: ${op}`);
    }
  }
  return doc;
}

/** Applies an RFC 7386 JSON Merge Patch. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key] ?? null, value);
  }
  return out;
}

/** Merge strategy of a list in a built-in type (from the Go struct tags of the real types). */
export interface ListStrategy {
  /** Merge key for lists of objects merged by key. */
  mergeKey?: string;
  /** Lists of primitives merged as sets. */
  primitiveMerge?: boolean;
}

/** The strategic-merge strategy of list field `name`, given sample items to tell container/service ports apart. */
export function builtinListStrategy(name: string, items: readonly Json[]): ListStrategy | undefined {
  switch (name) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
    case 'resourceClaims':
      return { mergeKey: 'name' };
    case 'volumeMounts':
      return { mergeKey: 'mountPath' };
    case 'volumeDevices':
      return { mergeKey: 'devicePath' };
    case 'ownerReferences':
      return { mergeKey: 'uid' };
    case 'conditions':
      return { mergeKey: 'type' };
    case 'hostAliases':
      return { mergeKey: 'ip' };
    case 'topologySpreadConstraints':
      return { mergeKey: 'topologyKey' };
    case 'ports':
      return { mergeKey: items.some((i) => isObject(i) && 'containerPort' in i) ? 'containerPort' : 'port' };
    case 'finalizers':
      return { primitiveMerge: true };
    default:
      return undefined;
  }
}

const directivePrefixes = ['$setElementOrder/', '$deleteFromPrimitiveList/', '$retainKeys'];

/** Applies a strategic merge patch to a built-in object. */
export function applyStrategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) throw badRequest('unable to find api field in struct for the patch');
  return mergeObject(isObject(target) ? target : {}, patch);
}

function mergeObject(target: JsonObject, patch: JsonObject): JsonObject {
  if (patch['$patch'] === 'replace') {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(patch)) if (k !== '$patch') out[k] = clone(v);
    return out;
  }
  if (patch['$patch'] === 'delete') return {};
  let out: JsonObject = { ...target };
  const retain = patch['$retainKeys'];
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || directivePrefixes.some((p) => key.startsWith(p) && !key.startsWith('$deleteFromPrimitiveList/'))) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(value)) out[field] = current.filter((v) => !value.some((d) => deepEqual(d, v)));
      continue;
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const current = out[key];
    if (isObject(value)) {
      out[key] = isObject(current) ? mergeObject(current, value) : mergeObject({}, value);
    } else if (Array.isArray(value)) {
      out[key] = mergeList(key, Array.isArray(current) ? current : [], value, patch[`$setElementOrder/${key}`]);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function mergeList(name: string, current: Json[], patch: Json[], order: Json | undefined): Json[] {
  const replaceDirective = patch.find((i) => isObject(i) && i['$patch'] === 'replace');
  if (replaceDirective !== undefined) return patch.filter((i) => i !== replaceDirective).map((i) => clone(i));
  const strategy = builtinListStrategy(name, [...current, ...patch]);
  if (strategy === undefined) return clone(patch);
  if (strategy.primitiveMerge === true) {
    const out = [...current];
    for (const v of patch) if (!out.some((c) => deepEqual(c, v))) out.push(v);
    return out;
  }
  const key = strategy.mergeKey ?? 'name';
  const out: Json[] = current.map((c) => c);
  for (const item of patch) {
    if (!isObject(item)) continue;
    const index = out.findIndex((c) => isObject(c) && deepEqual(c[key], item[key]));
    if (item['$patch'] === 'delete') {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const existing = out[index];
      out[index] = mergeObject(isObject(existing) ? existing : {}, item);
    } else {
      out.push(mergeObject({}, item));
    }
  }
  if (Array.isArray(order)) {
    const position = (item: Json): number => {
      const i = order.findIndex((o) => isObject(o) && isObject(item) && deepEqual(o[key], item[key]));
      return i < 0 ? order.length : i;
    };
    return out.map((item, i) => ({ item, i })).sort((a, b) => position(a.item) - position(b.item) || a.i - b.i).map((x) => x.item);
  }
  return normalizeOrder(out, patch, current, key);
}

/**
 * The element order kube-apiserver gives a merged list without `$setElementOrder`: the patch's items (in
 * patch order) and the server-only items (in their old order) are merged, an item of each side keeping its
 * old relative position when both existed before, and a patch item going first otherwise.
 */
function normalizeOrder(merged: Json[], patch: Json[], current: Json[], key: string): Json[] {
  const keyOf = (item: Json): Json | undefined => (isObject(item) ? item[key] : undefined);
  const indexIn = (list: Json[], item: Json): number => list.findIndex((o) => isObject(o) && deepEqual(o[key], keyOf(item)));
  const patchItems = merged.filter((m) => indexIn(patch, m) >= 0).sort((a, b) => indexIn(patch, a) - indexIn(patch, b));
  const serverOnly = merged.filter((m) => indexIn(patch, m) < 0);
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < patchItems.length) {
    const left = serverOnly[i];
    const right = patchItems[j];
    if (right === undefined || (left !== undefined && indexIn(current, left) >= 0 && indexIn(current, right) >= 0 && indexIn(current, left) < indexIn(current, right))) {
      out.push(left as Json);
      i++;
    } else if (left === undefined) {
      out.push(right);
      j++;
    } else {
      out.push(right);
      j++;
    }
  }
  return out;
}
