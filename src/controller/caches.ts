// What the controller's informers keep of each object, and the index they share: a job's children by
// "namespace/job". Pods are the bulk of the cache (one per rank) and the controller reads only their
// metadata, spec.nodeName and status (podInfo in controller.ts), so that is all a cached pod holds.
// Ranks and Services keep the label and annotation ownership of managedFields (withoutYielded in
// owned-writes.ts reads it from the cached copy); jobs and ConfigMaps keep none of it.
import { LABELS } from '../api/index.ts';
import { CONFIGMAPS, JOBS, PODS, RANKS, SERVICES, type KubeObject, type ResourceKind } from '../kube/client.ts';
import { withMetadataOwnership, withoutManagedFields } from '../kube/trim.ts';

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

/** The informer transform of each kind the controller watches. */
export function cacheTransform(kind: ResourceKind): (object: KubeObject) => KubeObject {
  if (kind === PODS) return cachedPod;
  if (kind === RANKS || kind === SERVICES) return withMetadataOwnership;
  if (kind === JOBS || kind === CONFIGMAPS) return withoutManagedFields;
  return (object) => object;
}

/** The index key of a job's child: "namespace/job" from its job label (undefined without one). */
export function jobIndexKey(object: KubeObject): string | undefined {
  const job = object.metadata.labels?.[LABELS.job];
  return job === undefined ? undefined : `${object.metadata.namespace ?? ''}/${job}`;
}
