// The API semantics behind the HTTP layer: create, read, update, patch, delete with finalizers,
// graceful pod deletion, garbage collection, namespace and CRD lifecycles, and field management.
import { randomUUID } from 'node:crypto';
import { admit, apiVersionOf, checkNamespace, checkResourceVersion, checkTypeMeta, checkUidUnchanged, keepServerMetadata } from './admission.ts';
import { checkCrdActive, isCrdResource, prepareCrd, terminatingCrdStatus } from './crd-lifecycle.ts';
import { defaultBuiltin } from './defaults.ts';
import { ApiError, alreadyExists, badRequest, conflict, notFound } from './errors.ts';
import { GarbageCollector, type GcHost } from './garbage-collector.ts';
import { clone, deepEqual, isObject, nowTimestamp, type Json, type JsonObject, type KubeObject, type ManagedFieldsEntry } from './json.ts';
import { listObjects, type ListOptions, type ListResult } from './list.ts';
import { serverSideApply, trackUpdate, type Writer } from './managed-fields.ts';
import { appliedObject, patchedObject } from './patch-bodies.ts';
import { coreEventToEventsV1, eventsV1ToCoreEvent } from './event-versions.ts';
import { Registry, type ResourceType } from './resources.ts';
import { parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from './selectors.ts';
import { objectKey, Store, type ChangeEvent } from './store.ts';

export type { ListOptions, ListResult } from './list.ts';

/** Options every write shares (query parameters of the request). */
export interface WriteOptions {
  dryRun: boolean;
  fieldManager: string | undefined;
  /** Default manager name derived from the User-Agent. */
  userAgentManager: string;
  fieldValidation: 'Strict' | 'Warn' | 'Ignore';
  /** Warnings to return in `Warning` headers. */
  warnings: string[];
  /** Set internally when a server-side apply creates the object. */
  fromApply?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

const nameChars = 'bcdfghjklmnpqrstvwxz2456789';

/** The part of an object that counts for metadata.generation: everything except metadata and status. */
function specPart(obj: KubeObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'metadata' && k !== 'status' && k !== 'apiVersion' && k !== 'kind') out[k] = v as Json;
  return out;
}

export class ApiCore implements GcHost {
  readonly registry = new Registry();
  readonly store: Store;
  private readonly gc = new GarbageCollector(this);

  constructor(historySize: number) {
    this.store = new Store(historySize);
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      const ns = this.registry.lookup('', 'v1', 'namespaces');
      if (ns !== undefined) this.create(ns, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, this.systemOptions());
    }
  }

  systemOptions(): WriteOptions {
    return { dryRun: false, fieldManager: 'kube-apiserver', userAgentManager: 'kube-apiserver', fieldValidation: 'Ignore', warnings: [] };
  }

  /** The storage-version type for a resource (writes store in it). */
  private storageType(r: ResourceType): ResourceType {
    return r.storageVersion ? r : (this.registry.storageType(r.storage) ?? r);
  }

  /** Converts a stored object to the version `r` serves. */
  toVersion(r: ResourceType, obj: KubeObject): KubeObject {
    if (r.group === 'events.k8s.io') return coreEventToEventsV1(obj);
    const apiVersion = apiVersionOf(r);
    return obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion };
  }

  private toStorage(r: ResourceType, obj: KubeObject): KubeObject {
    if (r.group === 'events.k8s.io') return eventsV1ToCoreEvent(obj);
    const s = this.storageType(r);
    return { ...obj, apiVersion: apiVersionOf(s), kind: s.kind };
  }

  private key(r: ResourceType, namespace: string | undefined, name: string): string {
    return objectKey(r.namespaced ? namespace : undefined, name);
  }

  // ---------------------------------------------------------------- reads

  get(r: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(r.storage, this.key(r, namespace, name));
    if (obj === undefined) throw notFound(r.group, r.plural, name);
    return this.toVersion(r, obj);
  }

  selectors(r: ResourceType, labelSelector: string | undefined, fieldSelector: string | undefined): { labels: LabelSelector; fields: FieldSelector } {
    return { labels: parseLabelSelector(labelSelector), fields: parseFieldSelector(fieldSelector, new Set(r.fieldSelectors.keys()), r.kind) };
  }

  /** Whether an object (in served version) passes the selectors. */
  matches(r: ResourceType, obj: KubeObject, labels: LabelSelector, fields: FieldSelector): boolean {
    if (!labels.matches(obj.metadata.labels)) return false;
    if (fields.empty) return true;
    const values: Record<string, string> = {};
    for (const t of fields.terms) values[t.field] = r.fieldSelectors.get(t.field)?.(obj) ?? '';
    return fields.matches(values);
  }
  list(r: ResourceType, namespace: string | undefined, opts: ListOptions): ListResult {
    return listObjects(this, r, namespace, opts);
  }


  private writer(r: ResourceType, opts: WriteOptions, subresource: 'status' | undefined): Writer {
    return { manager: opts.fieldManager ?? opts.userAgentManager, apiVersion: apiVersionOf(r), subresource };
  }

  // ---------------------------------------------------------------- create

  create(r: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions, appliedManagedFields?: ManagedFieldsEntry[]): KubeObject {
    if (!isObject(body)) throw badRequest('Object \'Kind\' is missing in \'null\'');
    const obj = clone(body) as unknown as KubeObject;
    checkTypeMeta(r, obj);
    obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
    if (r.namespaced) {
      if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== '' && obj.metadata.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = namespace ?? '';
    } else delete obj.metadata.namespace;
    if ((obj.metadata.name === undefined || obj.metadata.name === '') && obj.metadata.generateName !== undefined && obj.metadata.generateName !== '') {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += nameChars[Math.floor(Math.random() * nameChars.length)];
      obj.metadata.name = `${obj.metadata.generateName}${suffix}`;
    }
    const name = obj.metadata.name ?? '';
    if (r.crdName !== undefined) checkCrdActive(this.registry, this.store, r);
    const meta = obj.metadata;
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && !opts.fromApply) throw badRequest('resourceVersion should not be set on objects to be created');
    for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink']) delete (meta as Record<string, unknown>)[k];
    if (r.hasStatus && !r.builtin) delete obj['status'];
    if (r.builtin) defaultBuiltin(r.kind, obj, true);
    let admitted = admit(r, obj, undefined, opts);
    if (name !== '') checkNamespace(this.registry, this.store, r, namespace, name);
    const key = this.key(r, namespace, name);
    if (this.store.get(r.storage, key) !== undefined) throw alreadyExists(r.group, r.plural, name);
    admitted.metadata.uid = randomUUID();
    admitted.metadata.creationTimestamp = nowTimestamp();
    if (r.tracksGeneration) admitted.metadata.generation = 1;
    if (isCrdResource(r)) admitted = prepareCrd(admitted, undefined);
    admitted.metadata.managedFields = appliedManagedFields ?? trackUpdate(undefined, admitted, this.writer(r, opts, undefined), r.schema, r.builtin);
    if (admitted.metadata.managedFields.length === 0) delete admitted.metadata.managedFields;
    return this.commit(r, 'ADDED', key, admitted, undefined, opts);
  }

  /** @internal Commits a write (or not, for dryRun), returning the stored object in the served version. */
  commit(r: ResourceType, type: 'ADDED' | 'MODIFIED' | 'DELETED', key: string, obj: KubeObject, prev: KubeObject | undefined, opts: WriteOptions): KubeObject {
    const stored = this.toStorage(r, obj);
    if (opts.dryRun) {
      const out = clone(stored);
      const prevRv = prev?.metadata.resourceVersion;
      if (prevRv === undefined) delete out.metadata.resourceVersion;
      else out.metadata.resourceVersion = prevRv;
      return this.toVersion(r, out);
    }
    const rv = this.store.nextRv();
    stored.metadata = { ...stored.metadata, resourceVersion: String(rv) };
    this.store.commit(type, r.storage, key, stored, prev, rv);
    this.afterCommit(r, type, stored, prev);
    return this.toVersion(r, stored);
  }

  private afterCommit(r: ResourceType, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject, prev: KubeObject | undefined): void {
    if (isCrdResource(r)) this.registry.setCrd(obj.metadata.name ?? '', type === 'DELETED' ? undefined : obj);
    this.gc.noteCommit(r, type, obj, prev);
  }

  // ---------------------------------------------------------------- update

  /** PUT: replaces the object (or its status with subresource 'status'). */
  update(r: ResourceType, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions, subresource: 'status' | undefined): KubeObject {
    if (!isObject(body)) throw badRequest("Object 'Kind' is missing in 'null'");
    const obj = clone(body) as unknown as KubeObject;
    checkTypeMeta(r, obj);
    obj.metadata = isObject(obj.metadata) ? obj.metadata : {};
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (r.namespaced && obj.metadata.namespace !== undefined && obj.metadata.namespace !== '' && obj.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const key = this.key(r, namespace, name);
    const currentStored = this.store.get(r.storage, key);
    if (currentStored === undefined) throw notFound(r.group, r.plural, name);
    const current = this.toVersion(r, currentStored);
    checkResourceVersion(r, name, obj.metadata.resourceVersion, current);
    return this.replace(r, key, current, currentStored, obj, opts, subresource, 'update');
  }

  /** The common tail of update and patch: merge with the current object, admit, commit. */
  private replace(r: ResourceType, key: string, current: KubeObject, currentStored: KubeObject, incoming: KubeObject, opts: WriteOptions, subresource: 'status' | undefined, mode: 'update' | 'apply'): KubeObject {
    checkUidUnchanged(r, incoming, current);
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...clone(current) };
      if (incoming['status'] === undefined) delete next['status'];
      else next['status'] = clone(incoming['status']);
      if (mode === 'apply') next.metadata.managedFields = incoming.metadata.managedFields ?? [];
    } else {
      next = clone(incoming);
      next.metadata = { ...next.metadata };
      if (r.hasStatus) {
        if (current['status'] === undefined) delete next['status'];
        else next['status'] = clone(current['status']);
      }
      keepServerMetadata(r, next.metadata, current.metadata);
      if (r.kind === 'Namespace') next['spec'] = clone(current['spec']);
      if (r.builtin) defaultBuiltin(r.kind, next, false);
    }
    delete next.metadata.resourceVersion;
    next = admit(r, next, current, opts);
    if (subresource !== 'status' && r.tracksGeneration && !deepEqual(specPart(next), specPart(current))) {
      next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    }
    if (isCrdResource(r) && subresource !== 'status') next = prepareCrd(next, current);
    if (mode === 'update') {
      const managed = trackUpdate(current, next, this.writer(r, opts, subresource), r.schema, r.builtin);
      if (managed.length > 0) next.metadata.managedFields = managed;
      else delete next.metadata.managedFields;
    }
    if (deepEqual(next, { ...current, metadata: { ...current.metadata, resourceVersion: undefined } }) || this.unchanged(next, current)) {
      return current;
    }
    if (next.metadata.deletionTimestamp !== undefined && (next.metadata.finalizers ?? []).length === 0 && !this.gracefulPending(r, next)) {
      return this.commit(r, 'DELETED', key, next, currentStored, opts);
    }
    return this.commit(r, 'MODIFIED', key, next, currentStored, opts);
  }

  /** @internal Writes `next` over the stored object `stored` as an update by `opts`'s manager. */
  rewrite(t: ResourceType, key: string, stored: KubeObject, next: KubeObject, opts: WriteOptions): KubeObject {
    return this.replace(t, key, this.toVersion(t, stored), stored, next, opts, undefined, 'update');
  }

  /** A no-op write keeps the resourceVersion and emits no event, like the real server. */
  private unchanged(next: KubeObject, current: KubeObject): boolean {
    const strip = (o: KubeObject): KubeObject => {
      const managed = (o.metadata.managedFields ?? []).map((e) => ({ ...e, time: '' }));
      return { ...o, metadata: { ...o.metadata, resourceVersion: '', managedFields: managed } };
    };
    return deepEqual(JSON.parse(JSON.stringify(strip(next))), JSON.parse(JSON.stringify(strip(current))));
  }

  private gracefulPending(r: ResourceType, obj: KubeObject): boolean {
    return r.kind === 'Pod' && r.builtin && obj.metadata.deletionTimestamp !== undefined && (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
  }

  // ---------------------------------------------------------------- patch

  patch(r: ResourceType, namespace: string | undefined, name: string, contentType: string, rawBody: string, opts: WriteOptions, subresource: 'status' | undefined, force: boolean): KubeObject {
    const key = this.key(r, namespace, name);
    const currentStored = this.store.get(r.storage, key);
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    if (type === 'application/apply-patch+yaml' || type === 'application/apply-patch+cbor') {
      return this.apply(r, namespace, name, rawBody, opts, subresource, force, currentStored);
    }
    if (force) throw badRequest('force may not be specified for non-apply patch');
    if (currentStored === undefined) throw notFound(r.group, r.plural, name);
    const current = this.toVersion(r, currentStored);
    const obj = patchedObject(r, type, current, rawBody);
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    checkResourceVersion(r, name, obj.metadata.resourceVersion, current);
    checkTypeMeta(r, obj);
    return this.replace(r, key, current, currentStored, obj, opts, subresource, 'update');
  }

  private apply(r: ResourceType, namespace: string | undefined, name: string, rawBody: string, opts: WriteOptions, subresource: 'status' | undefined, force: boolean, currentStored: KubeObject | undefined): KubeObject {
    const applied = appliedObject(r, namespace, name, rawBody, opts);
    const rvApplied = applied.metadata.resourceVersion;
    const writer = this.writer(r, opts, subresource);
    if (currentStored === undefined) {
      if (subresource === 'status') throw notFound(r.group, r.plural, name);
      const merged = serverSideApply({ live: undefined, applied, writer, force, schema: r.schema, builtin: r.builtin, group: r.group, plural: r.plural });
      merged.apiVersion = applied.apiVersion;
      merged.kind = applied.kind;
      merged.metadata.name = name;
      if (r.namespaced && namespace !== undefined) merged.metadata.namespace = namespace;
      return this.createFromApply(r, namespace, merged, opts);
    }
    const current = this.toVersion(r, currentStored);
    checkResourceVersion(r, name, rvApplied, current);
    const merged = serverSideApply({ live: current, applied, writer, force, schema: r.schema, builtin: r.builtin, group: r.group, plural: r.plural });
    const key = this.key(r, namespace, name);
    return this.replace(r, key, current, currentStored, merged, opts, subresource, 'apply');
  }

  private createFromApply(r: ResourceType, namespace: string | undefined, merged: KubeObject, opts: WriteOptions): KubeObject {
    const managed = merged.metadata.managedFields ?? [];
    const obj = clone(merged);
    delete obj.metadata.managedFields;
    return this.create(r, namespace, obj, { ...opts, fromApply: true }, managed);
  }

  // ---------------------------------------------------------------- delete

  delete(r: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions, opts: WriteOptions): { object: KubeObject; deleted: boolean } {
    const key = this.key(r, namespace, name);
    const currentStored = this.store.get(r.storage, key);
    if (currentStored === undefined) throw notFound(r.group, r.plural, name);
    const current = this.toVersion(r, currentStored);
    const pre = options.preconditions;
    if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) {
      throw conflict(r.group, r.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid ?? ''}`);
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(r.group, r.plural, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion ?? ''}`);
    }
    const next = clone(current);
    const finalizers = [...(next.metadata.finalizers ?? [])];
    const policy = options.propagationPolicy;
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (policy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    if (r.kind === 'Namespace' && r.builtin) {
      next['status'] = { ...(isObject(next['status']) ? next['status'] : {}), phase: 'Terminating' };
    }
    let grace = 0;
    if (r.kind === 'Pod' && r.builtin) {
      const phase = isObject(current['status']) ? current['status']['phase'] : undefined;
      const nodeName = isObject(current['spec']) ? current['spec']['nodeName'] : undefined;
      const specGrace = isObject(current['spec']) && typeof current['spec']['terminationGracePeriodSeconds'] === 'number' ? current['spec']['terminationGracePeriodSeconds'] : 30;
      grace = options.gracePeriodSeconds ?? specGrace;
      if (typeof nodeName !== 'string' || nodeName === '' || phase === 'Succeeded' || phase === 'Failed') grace = 0;
      if (current.metadata.deletionGracePeriodSeconds !== undefined && grace > current.metadata.deletionGracePeriodSeconds) grace = current.metadata.deletionGracePeriodSeconds;
    }
    const namespacePending = r.kind === 'Namespace' && r.builtin && isObject(next['spec']) && Array.isArray(next['spec']['finalizers']) && next['spec']['finalizers'].length > 0;
    const crdPending = r.kind === 'CustomResourceDefinition' && r.builtin;
    if (finalizers.length > 0 || grace > 0 || namespacePending || crdPending) {
      if (finalizers.length > 0) next.metadata.finalizers = finalizers;
      const alreadyDeleting = next.metadata.deletionTimestamp !== undefined;
      if (!alreadyDeleting || (grace > 0 && grace < (next.metadata.deletionGracePeriodSeconds ?? Infinity))) {
        next.metadata.deletionTimestamp = nowTimestamp(Date.now() + grace * 1000);
        next.metadata.deletionGracePeriodSeconds = grace;
        if (!alreadyDeleting && next.metadata.generation !== undefined) next.metadata.generation += 1;
      }
      if (crdPending) {
        next['status'] = terminatingCrdStatus(next['status']);
      }
      if (this.unchanged(next, current)) return { object: current, deleted: false };
      const written = this.commit(r, 'MODIFIED', key, next, currentStored, opts);
      return { object: written, deleted: false };
    }
    const written = this.commit(r, 'DELETED', key, next, currentStored, opts);
    return { object: written, deleted: true };
  }

  deleteCollection(r: ResourceType, namespace: string | undefined, listOpts: ListOptions, options: DeleteOptions, opts: WriteOptions): ListResult {
    const listed = this.list(r, namespace, { ...listOpts, limit: 0 });
    const items: KubeObject[] = [];
    for (const item of listed.items) {
      try {
        items.push(this.delete(r, item.metadata.namespace, item.metadata.name ?? '', options, opts).object);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    return { ...listed, items };
  }

  // ---------------------------------------------------------------- watch support

  /** Translates a store event into what a watcher with these selectors sees (or nothing). */
  watchEventFor(r: ResourceType, e: ChangeEvent, labels: LabelSelector, fields: FieldSelector): { type: string; object: KubeObject } | undefined {
    const cur = e.type === 'DELETED' ? undefined : this.toVersion(r, e.object);
    const prev = e.prev === undefined ? undefined : this.toVersion(r, e.prev);
    const curPasses = cur !== undefined && this.matches(r, cur, labels, fields);
    const prevPasses = e.type === 'ADDED' ? false : prev !== undefined ? this.matches(r, prev, labels, fields) : false;
    if (e.type === 'DELETED') {
      const obj = this.toVersion(r, e.object);
      return prev !== undefined && this.matches(r, prev, labels, fields) ? { type: 'DELETED', object: obj } : this.matches(r, obj, labels, fields) ? { type: 'DELETED', object: obj } : undefined;
    }
    if (curPasses && (prevPasses || e.type === 'ADDED')) return { type: e.type, object: cur };
    if (curPasses && !prevPasses) return { type: 'ADDED', object: cur };
    if (!curPasses && prevPasses && prev !== undefined) return { type: 'DELETED', object: { ...prev, metadata: { ...prev.metadata, resourceVersion: String(e.rv) } } };
    return undefined;
  }
}
