// Request bodies of PATCH: the patched object for JSON, merge and strategic-merge patches, and the applied
// configuration of a server-side apply (YAML), checked against the resource and the URL.
import { load as loadYaml } from 'js-yaml';
import { checkTypeMeta, reportUnknown } from './admission.ts';
import type { WriteOptions } from './core.ts';
import { badRequest, fieldErrors, invalid, unsupportedMediaType } from './errors.ts';
import { isObject, type Json, type KubeObject } from './json.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.ts';
import type { ResourceType } from './resources.ts';
import { prune } from './schema.ts';

/** `current` with a non-apply patch of media `type` applied. */
export function patchedObject(r: ResourceType, type: string, current: KubeObject, rawBody: string): KubeObject {
  let patchBody: unknown;
  try {
    patchBody = JSON.parse(rawBody);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
  let patched: Json;
  const base = current as unknown as Json;
  switch (type) {
    case 'application/json-patch+json':
      patched = applyJsonPatch(base, patchBody);
      break;
    case 'application/merge-patch+json':
      patched = applyMergePatch(base, patchBody as Json);
      break;
    case 'application/strategic-merge-patch+json':
      if (!r.builtin) throw unsupportedMediaType(patchTypes(r));
      patched = applyStrategicMergePatch(base, patchBody as Json);
      break;
    default:
      throw unsupportedMediaType(patchTypes(r));
  }
  if (!isObject(patched)) throw badRequest('the patched object is not a JSON object');
  const obj = patched as unknown as KubeObject;
  obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
  return obj;
}

/** The configuration of a server-side apply, pruned to the schema of a custom resource. */
export function appliedObject(r: ResourceType, namespace: string | undefined, name: string, rawBody: string, opts: WriteOptions): KubeObject {
  if (opts.fieldManager === undefined || opts.fieldManager === '') throw invalid('meta.k8s.io', 'PatchOptions', '', [fieldErrors.required('fieldManager', 'is required for apply patch')]);
  let parsed: unknown;
  try {
    parsed = loadYaml(rawBody);
  } catch (err) {
    throw badRequest(`error decoding YAML: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw badRequest('error decoding YAML: the applied configuration is not an object');
  const applied = parsed as unknown as KubeObject;
  applied.metadata = isObject(applied.metadata) ? applied.metadata : {};
  if (applied.apiVersion === undefined || applied.kind === undefined) throw badRequest('invalid object type: /, Kind=');
  checkTypeMeta(r, applied);
  if (applied.metadata.name !== undefined && applied.metadata.name !== name) {
    throw badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`);
  }
  applied.metadata.name = name;
  if (r.namespaced && applied.metadata.namespace !== undefined && applied.metadata.namespace !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (!r.builtin && r.schema !== undefined) {
    const unknown: string[] = [];
    const pruned = prune(applied as unknown as Json, r.schema, '', unknown, true) as unknown as KubeObject;
    reportUnknown(r, unknown, opts);
    Object.assign(applied, pruned);
    for (const k of Object.keys(applied)) if (!(k in pruned)) delete applied[k];
  }
  return applied;
}

function patchTypes(r: ResourceType): string[] {
  return r.builtin
    ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml', 'application/strategic-merge-patch+json']
    : ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];
}
