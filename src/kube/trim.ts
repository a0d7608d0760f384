// What informers cache of an object: metadata.managedFields is often larger than the rest of the object
// (one entry per writer, each a tree of every field it set) and most readers never look at it.
import type { KubeObject } from './client.ts';

/** `object` without metadata.managedFields (the same object when it has none). */
export function withoutManagedFields(object: KubeObject): KubeObject {
  if (object.metadata?.['managedFields'] === undefined) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata: metadata as KubeObject['metadata'] };
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: Record<string, unknown>;
}

/**
 * `object` with only the label and annotation ownership in metadata.managedFields: per entry its manager,
 * operation and fieldsV1 `f:metadata` `f:labels`/`f:annotations`; entries owning none of those are dropped.
 * Enough to tell which manager holds a label or an annotation, at a fraction of the size.
 */
export function withMetadataOwnership(object: KubeObject): KubeObject {
  const entries = object.metadata?.['managedFields'] as ManagedFieldsEntry[] | undefined;
  if (entries === undefined) return object;
  const kept: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    const meta = e.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined;
    const owned = Object.fromEntries(['f:labels', 'f:annotations'].filter((k) => meta?.[k] !== undefined).map((k) => [k, meta?.[k]]));
    if (Object.keys(owned).length === 0) continue;
    kept.push({ ...(e.manager === undefined ? {} : { manager: e.manager }), ...(e.operation === undefined ? {} : { operation: e.operation }), fieldsV1: { 'f:metadata': owned } });
  }
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata: (kept.length === 0 ? metadata : { ...metadata, managedFields: kept }) as KubeObject['metadata'] };
}
