// What the controller's informers keep of each object, and the index they share: a job's children by
// "namespace/job". Pods are the bulk of the cache (one per rank) and the controller reads only their
// metadata, spec.nodeName and status (podInfo in controller.ts), so that is all a cached pod holds; a job's
// ConfigMap keeps only the data keys decide() reads.
// No cached object keeps managedFields: the controller's server-side applies learn of another manager's
// fields from the apply's conflicts (owned-writes.ts), not from the cache.
import { CONFIG_MAP_KEYS, LABELS } from '../api/index.ts';
import { CONFIGMAPS, JOBS, PODS, RANKS, SERVICES, type KubeObject, type ResourceKind } from '../kube/client.ts';
import { withoutManagedFields } from '../kube/trim.ts';

/** A pod as the controller reads it: metadata without managedFields, spec.nodeName, status. */
export function cachedPod(pod: KubeObject): KubeObject {
  const { metadata, status } = withoutManagedFields(pod) as KubeObject & { status?: unknown };
  const nodeName = (pod['spec'] as { nodeName?: string } | undefined)?.nodeName;
  return {
    ...(pod.apiVersion === undefined ? {} : { apiVersion: pod.apiVersion }),
    ...(pod.kind === undefined ? {} : { kind: pod.kind }),
    metadata,
    spec: nodeName === undefined ? {} : { nodeName },
    ...(status === undefined ? {} : { status }),
  };
}

/** The keys of a job's ConfigMap that decide() reads; the others it only writes (see cachedConfigMap). */
const READ_CONFIG_MAP_KEYS: readonly string[] = [CONFIG_MAP_KEYS.profile, CONFIG_MAP_KEYS.profiling];

/**
 * A job's ConfigMap as the controller reads it: without managedFields, and with only the data keys decide()
 * reads. The frontier (hundreds of KB a job), the planner inputs and the fitted model are written, never
 * read back; configMapToApply reads the live object when it rewrites the ConfigMap, so they are kept.
 */
export function cachedConfigMap(cm: KubeObject): KubeObject {
  const trimmed = withoutManagedFields(cm);
  const data = trimmed['data'] as Record<string, string> | undefined;
  if (data === undefined || Object.keys(data).every((k) => READ_CONFIG_MAP_KEYS.includes(k))) return trimmed;
  return { ...trimmed, data: Object.fromEntries(Object.entries(data).filter(([k]) => READ_CONFIG_MAP_KEYS.includes(k))) };
}

/**
 * Objects per page when an informer lists `kind`. A job's ConfigMap holds its frontier CSV (about 350 KB
 * at 8×12), so 500 of them are a page of some 175 MB to receive and parse at once; 25 keep a page near 10 MB.
 */
export function listPageSize(kind: ResourceKind): number {
  return kind === CONFIGMAPS ? 25 : 500;
}

/** The informer transform of each kind the controller watches. */
export function cacheTransform(kind: ResourceKind): (object: KubeObject) => KubeObject {
  if (kind === PODS) return cachedPod;
  if (kind === CONFIGMAPS) return cachedConfigMap;
  if (kind === JOBS || kind === CONFIGMAPS || kind === RANKS || kind === SERVICES) return withoutManagedFields;
  return (object) => object;
}

/** The index key of a job's child: "namespace/job" from its job label (undefined without one). */
export function jobIndexKey(object: KubeObject): string | undefined {
  const job = object.metadata.labels?.[LABELS.job];
  return job === undefined ? undefined : `${object.metadata.namespace ?? ''}/${job}`;
}
