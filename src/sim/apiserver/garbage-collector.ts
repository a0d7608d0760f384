// Garbage collection after writes: dependents of deleted owners (background, foreground, orphan), the
// contents of terminating namespaces and the instances of terminating CRDs, then the finalizer that held each.
import type { DeleteOptions, WriteOptions } from './core.ts';
import { ApiError } from './errors.ts';
import { clone, isObject, type JsonObject, type KubeObject } from './json.ts';
import type { Registry, ResourceType } from './resources.ts';
import type { Store } from './store.ts';

export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

/** What the collector needs of the API core. */
export interface GcHost {
  readonly store: Store;
  readonly registry: Registry;
  systemOptions(): WriteOptions;
  delete(r: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions, opts: WriteOptions): unknown;
  /** Writes `next` over the stored object `stored` as an update (admission, managed fields, events). */
  rewrite(t: ResourceType, key: string, stored: KubeObject, next: KubeObject, opts: WriteOptions): KubeObject;
  commit(r: ResourceType, type: 'MODIFIED' | 'DELETED', key: string, obj: KubeObject, prev: KubeObject | undefined, opts: WriteOptions): KubeObject;
}

/** A stored object's place: storage and key. */
type Location = readonly [storage: string, key: string];

const locationOf = (id: string): Location => id.split('\u0000') as unknown as Location;

export class GarbageCollector {
  private queued = false;
  /** UIDs of owners whose dependents need a look. */
  private readonly owners = new Set<string>();
  private readonly pendingNamespaces = new Set<string>();

  constructor(private readonly host: GcHost) {}

  /** Notes what a committed write leaves to collect, and schedules a pass. */
  noteCommit(r: ResourceType, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject, prev: KubeObject | undefined): void {
    if (type === 'DELETED') {
      if (obj.metadata.uid !== undefined) this.owners.add(obj.metadata.uid);
      for (const ref of obj.metadata.ownerReferences ?? []) this.owners.add(ref.uid);
      this.schedule();
    } else if (obj.metadata.deletionTimestamp !== undefined) {
      const finalizers = obj.metadata.finalizers ?? [];
      if (finalizers.includes('foregroundDeletion') || finalizers.includes('orphan')) {
        if (obj.metadata.uid !== undefined) this.owners.add(obj.metadata.uid);
        this.schedule();
      }
      if (r.kind === 'Namespace' && prev?.metadata.deletionTimestamp === undefined) {
        this.pendingNamespaces.add(obj.metadata.name ?? '');
        this.schedule();
      }
      if (r.crdName === undefined && r.kind === 'CustomResourceDefinition') this.schedule();
    }
  }

  private schedule(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      this.run();
    });
  }

  private run(): void {
    const sys = this.host.systemOptions();
    sys.fieldManager = 'generic-garbage-collector';
    let guard = 0;
    while (this.owners.size > 0 && guard++ < 100000) {
      const uid = this.owners.values().next().value as string;
      this.owners.delete(uid);
      this.collectDependents(uid, sys);
    }
    this.finishNamespaces(sys);
    this.finishCrds(sys);
  }

  /** The dependents of one owner: orphaned, deleted in the foreground, or deleted once the owner is gone. */
  private collectDependents(uid: string, sys: WriteOptions): void {
    const store = this.host.store;
    const ownerLoc = store.byUid.get(uid);
    const owner = ownerLoc === undefined ? undefined : store.get(ownerLoc.storage, ownerLoc.key);
    const dependents = [...(store.dependents.get(uid) ?? [])];
    const ownerFinalizers = owner?.metadata.finalizers ?? [];
    const deleting = owner?.metadata.deletionTimestamp !== undefined;
    if (owner !== undefined && deleting && ownerFinalizers.includes('orphan')) {
      for (const id of dependents) this.removeOwnerRef(locationOf(id), uid, sys);
      this.removeFinalizer(ownerLoc, 'orphan', sys);
      return;
    }
    if (owner !== undefined && deleting && ownerFinalizers.includes('foregroundDeletion')) {
      if (this.deleteAll(dependents.map(locationOf), 'Foreground', sys) === 0) this.removeFinalizer(ownerLoc, 'foregroundDeletion', sys);
      return;
    }
    if (owner !== undefined) return;
    for (const id of dependents) {
      const [storage, key] = locationOf(id);
      const dep = store.get(storage, key);
      const t = this.host.registry.storageType(storage);
      if (dep === undefined || t === undefined) continue;
      const liveOwners = (dep.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid && store.byUid.has(ref.uid));
      if (liveOwners.length > 0) this.removeOwnerRef([storage, key], uid, sys);
      else if (dep.metadata.deletionTimestamp === undefined) this.deleteQuietly(t, dep, 'Background', sys);
    }
  }

  /** Deletes every object not already being deleted; returns how many of them still exist. */
  private deleteAll(locations: readonly Location[], propagation: 'Background' | 'Foreground', sys: WriteOptions): number {
    let remaining = 0;
    for (const [storage, key] of locations) {
      const obj = this.host.store.get(storage, key);
      const t = this.host.registry.storageType(storage);
      if (obj === undefined || t === undefined) continue;
      remaining++;
      if (obj.metadata.deletionTimestamp !== undefined) continue;
      this.deleteQuietly(t, obj, propagation, sys);
      if (this.host.store.get(storage, key) === undefined) remaining--;
    }
    return remaining;
  }

  /** Deletes an object; one that is already gone is fine. */
  private deleteQuietly(t: ResourceType, obj: KubeObject, propagation: 'Background' | 'Foreground', sys: WriteOptions): void {
    try {
      this.host.delete(t, obj.metadata.namespace, obj.metadata.name ?? '', { propagationPolicy: propagation }, sys);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  private removeOwnerRef([storage, key]: Location, uid: string, sys: WriteOptions): void {
    const dep = this.host.store.get(storage, key);
    const t = this.host.registry.storageType(storage);
    if (dep === undefined || t === undefined) return;
    const next = clone(dep);
    next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid);
    if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
    this.host.rewrite(t, key, dep, next, sys);
  }

  private removeFinalizer(loc: { storage: string; key: string } | undefined, finalizer: string, sys: WriteOptions): void {
    if (loc === undefined) return;
    const obj = this.host.store.get(loc.storage, loc.key);
    const t = this.host.registry.storageType(loc.storage);
    if (obj === undefined || t === undefined) return;
    const next = clone(obj);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    this.host.rewrite(t, loc.key, obj, next, sys);
  }

  /** A terminating namespace is emptied, then its spec.finalizers cleared (and it is deleted when nothing else holds it). */
  private finishNamespaces(sys: WriteOptions): void {
    const { store, registry } = this.host;
    const nsType = registry.lookup('', 'v1', 'namespaces');
    if (nsType === undefined) return;
    for (const name of [...this.pendingNamespaces]) {
      const ns = store.get(nsType.storage, name);
      if (ns === undefined || ns.metadata.deletionTimestamp === undefined) {
        this.pendingNamespaces.delete(name);
        continue;
      }
      let remaining = 0;
      for (const storage of store.storages()) {
        if (registry.storageType(storage)?.namespaced !== true) continue;
        remaining += this.deleteAll(store.keys(storage, name).map((key) => [storage, key] as const), 'Background', sys);
      }
      if (remaining > 0) continue;
      this.pendingNamespaces.delete(name);
      const next = clone(ns);
      next['spec'] = { ...(isObject(next['spec']) ? next['spec'] : {}), finalizers: [] };
      if ((next.metadata.finalizers ?? []).length === 0) this.host.commit(nsType, 'DELETED', name, next, ns, sys);
      else this.host.commit(nsType, 'MODIFIED', name, next, ns, sys);
    }
  }

  /** A terminating CRD has its instances deleted, then loses its cleanup finalizer. */
  private finishCrds(sys: WriteOptions): void {
    const { store, registry } = this.host;
    const crdType = registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    if (crdType === undefined) return;
    for (const key of store.keys(crdType.storage)) {
      const crd = store.get(crdType.storage, key);
      if (crd === undefined || crd.metadata.deletionTimestamp === undefined) continue;
      if (!(crd.metadata.finalizers ?? []).includes(CRD_CLEANUP_FINALIZER)) continue;
      const spec = crd['spec'] as JsonObject;
      const storage = `${String(spec['group'])}/${String((spec['names'] as JsonObject)['plural'])}`;
      const remaining = this.deleteAll(store.keys(storage).map((k) => [storage, k] as const), 'Background', sys);
      // Instances still finalizing: their deletion commits schedule the next pass.
      if (remaining === 0) this.removeFinalizer({ storage: crdType.storage, key }, CRD_CLEANUP_FINALIZER, sys);
    }
  }
}
