// The CustomResourceDefinition lifecycle as the API server keeps it: defaulted names and status on every
// write, no new instances while the CRD terminates, and the Terminating condition on delete.
import { methodNotAllowed } from './errors.ts';
import { CRD_CLEANUP_FINALIZER } from './garbage-collector.ts';
import { isObject, nowTimestamp, type JsonObject, type KubeObject } from './json.ts';
import type { Registry, ResourceType } from './resources.ts';
import type { Store } from './store.ts';

/** Whether `r` is the CustomResourceDefinition resource itself. */
export function isCrdResource(r: ResourceType): boolean {
  return r.kind === 'CustomResourceDefinition' && r.group === 'apiextensions.k8s.io';
}

/** Instances of a custom resource cannot be created while its CRD terminates. */
export function checkCrdActive(registry: Registry, store: Store, r: ResourceType): void {
  const crdType = registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  const crd = crdType === undefined ? undefined : store.get(crdType.storage, r.crdName ?? '');
  if (crd?.metadata.deletionTimestamp !== undefined) throw methodNotAllowed(`create not allowed while custom resource definition is terminating`);
}

/** Fills a CRD's defaulted names and conversion, its cleanup finalizer (on create) and its status. */
export function prepareCrd(crd: KubeObject, old: KubeObject | undefined): KubeObject {
  const spec = isObject(crd['spec']) ? { ...crd['spec'] } : {};
  spec['conversion'] ??= { strategy: 'None' };
  const names = isObject(spec['names']) ? { ...spec['names'] } : {};
  names['singular'] ??= String(names['kind'] ?? '').toLowerCase();
  names['listKind'] ??= `${String(names['kind'] ?? '')}List`;
  spec['names'] = names;
  crd['spec'] = spec;
  if (old === undefined) {
    crd.metadata.finalizers = [...new Set([...(crd.metadata.finalizers ?? []), CRD_CLEANUP_FINALIZER])];
  }
  const versions = Array.isArray(spec['versions']) ? spec['versions'] : [];
  const storage = versions.find((v) => isObject(v) && v['storage'] === true);
  const now = nowTimestamp();
  const oldStatus = isObject(old?.['status']) ? (old['status'] as JsonObject) : {};
  const stored = new Set<string>([...(Array.isArray(oldStatus['storedVersions']) ? (oldStatus['storedVersions'] as string[]) : []), ...(isObject(storage) ? [String(storage['name'])] : [])]);
  crd['status'] = {
    conditions: [
      { type: 'NamesAccepted', status: 'True', lastTransitionTime: now, reason: 'NoConflicts', message: 'no conflicts found' },
      { type: 'Established', status: 'True', lastTransitionTime: now, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
    ],
    acceptedNames: names,
    storedVersions: [...stored],
  };
  if (isObject(oldStatus) && Array.isArray(oldStatus['conditions'])) {
    // keep transition times of unchanged conditions
    (crd['status'] as JsonObject)['conditions'] = oldStatus['conditions'].filter((c) => isObject(c) && c['type'] !== 'Terminating');
  }
  return crd;
}

/** The CRD status a delete leaves while its instances are removed. */
export function terminatingCrdStatus(status: unknown): JsonObject {
  return withCondition(status, { type: 'Terminating', status: 'True', reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress' });
}

function withCondition(status: unknown, condition: JsonObject): JsonObject {
  const s: JsonObject = isObject(status) ? { ...status } : {};
  const conditions = Array.isArray(s['conditions']) ? s['conditions'].filter((c) => !(isObject(c) && c['type'] === condition['type'])) : [];
  conditions.push({ ...condition, lastTransitionTime: nowTimestamp() });
  s['conditions'] = conditions;
  return s;
}
