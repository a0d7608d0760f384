// The API semantics behind the HTTP layer: create, read, update, patch, delete with finalizers,
// graceful pod deletion, garbage collection, namespace and CRD lifecycles, and field management.
import { randomUUID } from 'node:crypto';
import { load as loadYaml } from 'js-yaml';
import { defaultBuiltin, validateBuiltin } from './defaults.ts';
import { ApiError, alreadyExists, badRequest, conflict, fieldErrors, invalid, methodNotAllowed, notFound, unsupportedMediaType, type FieldError } from './errors.ts';
import { clone, deepEqual, isObject, nowTimestamp, type Json, type JsonObject, type KubeObject, type ManagedFieldsEntry } from './json.ts';
import { serverSideApply, trackUpdate, type Writer } from './managed-fields.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.ts';
import { coreEventToEventsV1, eventsV1ToCoreEvent, Registry, type ResourceType } from './resources.ts';
import { applyDefaults, celSkipped, CEL_BLOCKING, checkCelRules, checkListMapKeys, hasCelRules, prune, validateCel, validateValue, type Schema } from './schema.ts';
import { parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from './selectors.ts';
import { objectKey, Store, type ChangeEvent } from './store.ts';

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

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: KubeObject[];
}

const nameChars = 'bcdfghjklmnpqrstvwxz2456789';
const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);
/** A finalizer outside the standard ones is "<DNS subdomain>/<name>". */
const qualifiedFinalizer = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function forbidden(resource: ResourceType, name: string, why: string): ApiError {
  const qualified = resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
  return new ApiError(403, 'Forbidden', `${qualified} "${name}" is forbidden: ${why}`, { name, ...(resource.group === '' ? {} : { group: resource.group }), kind: resource.plural });
}

function apiVersionOf(r: ResourceType): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** The part of an object that counts for metadata.generation: everything except metadata and status. */
function specPart(obj: KubeObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'metadata' && k !== 'status' && k !== 'apiVersion' && k !== 'kind') out[k] = v as Json;
  return out;
}

export class ApiCore {
  readonly registry = new Registry();
  readonly store: Store;
  private gcQueued = false;
  private readonly gcOwners = new Set<string>();
  private readonly pendingNamespaces = new Set<string>();
  private readonly pendingCrds = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

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

  /** Stops background timers (graceful deletion deadlines). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
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
    const { labels, fields } = this.selectors(r, opts.labelSelector, opts.fieldSelector);
    let snapshotRv = this.store.rv;
    let startAfter: string | undefined;
    if (opts.continue !== undefined && opts.continue !== '') {
      let token: { rv?: number; start?: string };
      try {
        token = JSON.parse(Buffer.from(opts.continue, 'base64url').toString('utf8')) as { rv?: number; start?: string };
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data at input byte 0');
      }
      if (typeof token.rv !== 'number' || typeof token.start !== 'string') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      if (token.rv < this.store.compactedRv) {
        throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
      }
      snapshotRv = token.rv;
      startAfter = token.start;
    } else if (opts.resourceVersion !== undefined && opts.resourceVersion !== '' && opts.resourceVersion !== '0') {
      const rv = Number(opts.resourceVersion);
      if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version "${opts.resourceVersion}"`);
      if (opts.resourceVersionMatch === 'Exact') {
        if (rv > this.store.rv) throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${this.store.rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
        if (rv < this.store.compactedRv) throw this.store.tooOld(rv);
        snapshotRv = rv;
      } else if (rv > this.store.rv) {
        throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${this.store.rv}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
      }
    }
    const useSnapshot = snapshotRv !== this.store.rv;
    const table = useSnapshot ? this.store.snapshotAt(r.storage, snapshotRv) : undefined;
    const nsFilter = r.namespaced ? namespace : undefined;
    const keys = useSnapshot && table !== undefined ? [...table.keys()].filter((k) => nsFilter === undefined || k.startsWith(`${nsFilter}/`)).sort() : this.store.keys(r.storage, nsFilter);
    let start = 0;
    if (startAfter !== undefined) {
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((keys[mid] ?? '') <= startAfter) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : Infinity;
    const items: KubeObject[] = [];
    let lastKey: string | undefined;
    let i = start;
    for (; i < keys.length && items.length < limit; i++) {
      const k = keys[i] ?? '';
      const stored = table !== undefined ? table.get(k) : this.store.get(r.storage, k);
      if (stored === undefined) continue;
      const obj = this.toVersion(r, stored);
      lastKey = k;
      if (this.matches(r, obj, labels, fields)) items.push(obj);
    }
    const result: ListResult = { apiVersion: apiVersionOf(r), kind: r.listKind, metadata: { resourceVersion: String(snapshotRv) }, items };
    if (i < keys.length && lastKey !== undefined) {
      result.metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: snapshotRv, start: lastKey })).toString('base64url');
      if (labels.empty && fields.empty) result.metadata.remainingItemCount = keys.length - i;
    }
    return result;
  }

  // ---------------------------------------------------------------- admission

  private namespaceCheck(r: ResourceType, namespace: string | undefined, name: string): void {
    if (!r.namespaced) return;
    if (namespace === undefined || namespace === '') throw badRequest('the server could not find the requested resource');
    const nsType = this.registry.lookup('', 'v1', 'namespaces');
    const ns = nsType === undefined ? undefined : this.store.get(nsType.storage, namespace);
    if (ns === undefined) throw notFound('', 'namespaces', namespace);
    if (ns.metadata.deletionTimestamp !== undefined) {
      throw forbidden(r, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  /** Prunes, defaults and validates a body for create/update; returns the object to store. */
  private admit(r: ResourceType, obj: KubeObject, old: KubeObject | undefined, opts: WriteOptions): KubeObject {
    let out = obj;
    if (!r.builtin && r.schema !== undefined) {
      const unknown: string[] = [];
      out = prune(out as unknown as Json, r.schema, '', unknown, true) as unknown as KubeObject;
      this.reportUnknown(r, unknown, opts);
      out = applyDefaults(out as unknown as Json, r.schema) as unknown as KubeObject;
    }
    const errors: FieldError[] = [];
    this.validateMeta(r, out, errors);
    if (!r.builtin && r.schema !== undefined) {
      const schema: Schema = { ...r.schema, properties: { ...(r.schema.properties ?? {}) } };
      delete schema.properties?.['metadata'];
      delete schema.properties?.['apiVersion'];
      delete schema.properties?.['kind'];
      validateValue(out as unknown as Json, schema, '', errors);
      // As kube-apiserver: CEL rules are evaluated beside schema errors unless one of those leaves the
      // object mistyped or incomplete, which is reported instead.
      if (hasCelRules(schema)) {
        if (errors.some((e) => CEL_BLOCKING.has(e.reason))) errors.push(celSkipped());
        else validateCel(out as unknown as Json, old as unknown as Json | undefined, schema, '', errors);
      }
      // root-level errors use the top-level field names without a leading dot
      for (const e of errors) if (e.field.startsWith('.')) e.field = e.field.slice(1);
    } else if (r.builtin) {
      errors.push(...validateBuiltin(r.kind, out));
      if (r.kind === 'CustomResourceDefinition') errors.push(...this.validateCrd(out, old));
    }
    if (errors.length > 0) throw invalid(r.group, r.kind, out.metadata.name ?? out.metadata.generateName ?? '', errors);
    return out;
  }

  private reportUnknown(r: ResourceType, unknown: string[], opts: WriteOptions): void {
    if (unknown.length === 0 || opts.fieldValidation === 'Ignore') return;
    if (opts.fieldValidation === 'Strict') {
      const text = unknown.length === 1 ? `unknown field "${unknown[0]}"` : unknown.map((u) => `unknown field "${u}"`).join(', ');
      throw badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${text}`);
    }
    for (const u of unknown) opts.warnings.push(`unknown field "${u}"`);
  }

  private validateMeta(r: ResourceType, obj: KubeObject, errors: FieldError[]): void {
    const name = obj.metadata.name;
    if (name === undefined || name === '') {
      errors.push(fieldErrors.required('metadata.name', 'name or generateName is required'));
      return;
    }
    if (r.kind === 'Namespace' ? !dns1123Label.test(name) || name.length > 63 : !dns1123Subdomain.test(name) || name.length > 253) {
      const detail = r.kind === 'Namespace'
        ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
      errors.push(fieldErrors.invalid('metadata.name', name, detail));
    }
    for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
      if (typeof v !== 'string' || v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)) {
        errors.push(fieldErrors.invalid(`metadata.labels`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
      }
      void k;
    }
    (obj.metadata.ownerReferences ?? []).forEach((ref, i) => {
      for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) {
        if (typeof ref[f] !== 'string' || ref[f] === '') errors.push(fieldErrors.invalid(`metadata.ownerReferences[${i}].${f}`, ref[f] ?? '', `${f} must not be empty`));
      }
    });
    (obj.metadata.finalizers ?? []).forEach((f, i) => {
      if (!standardFinalizers.has(f) && !qualifiedFinalizer.test(f)) errors.push(fieldErrors.invalid(`metadata.finalizers[${i}]`, f, 'name is neither a standard finalizer name nor is it fully qualified'));
    });
    const controllers = (obj.metadata.ownerReferences ?? []).filter((ref) => ref.controller === true);
    if (controllers.length > 1) errors.push(fieldErrors.invalid('metadata.ownerReferences', obj.metadata.ownerReferences, 'Only one reference can have Controller set to true'));
  }

  private validateCrd(crd: KubeObject, old: KubeObject | undefined): FieldError[] {
    const errors: FieldError[] = [];
    const spec = isObject(crd['spec']) ? crd['spec'] : {};
    const names = isObject(spec['names']) ? spec['names'] : {};
    const group = typeof spec['group'] === 'string' ? spec['group'] : '';
    if (group === '') errors.push(fieldErrors.required('spec.group', ''));
    if (typeof names['plural'] !== 'string' || names['plural'] === '') errors.push(fieldErrors.required('spec.names.plural', ''));
    if (typeof names['kind'] !== 'string' || names['kind'] === '') errors.push(fieldErrors.required('spec.names.kind', ''));
    if (typeof names['plural'] === 'string' && crd.metadata.name !== `${names['plural']}.${group}`) {
      errors.push(fieldErrors.invalid('metadata.name', crd.metadata.name ?? '', 'must be spec.names.plural+"."+spec.group'));
    }
    if (spec['scope'] !== 'Namespaced' && spec['scope'] !== 'Cluster') errors.push(fieldErrors.notSupported('spec.scope', spec['scope'] ?? '', ['Cluster', 'Namespaced']));
    const versions = Array.isArray(spec['versions']) ? spec['versions'] : [];
    if (versions.length === 0) errors.push(fieldErrors.invalid('spec.versions', [], 'must have exactly one version marked as storage version'));
    else if (versions.filter((v) => isObject(v) && v['storage'] === true).length !== 1) errors.push(fieldErrors.invalid('spec.versions', versions.length, 'must have exactly one version marked as storage version'));
    // kube-apiserver validates identical per-version schemas once, as the internal spec.validation.
    const schemaOf = (v: unknown): Schema | undefined => (isObject(v) && isObject(v['schema']) && isObject(v['schema']['openAPIV3Schema']) ? (v['schema']['openAPIV3Schema'] as unknown as Schema) : undefined);
    const hoisted = versions.length > 0 && versions.every((v) => schemaOf(v) !== undefined && JSON.stringify(schemaOf(v)) === JSON.stringify(schemaOf(versions[0])));
    versions.forEach((v, i) => {
      if (!isObject(v)) return;
      const schema = schemaOf(v);
      if (schema === undefined) errors.push(fieldErrors.required(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'));
      else if (!hoisted || i === 0) {
        const path = hoisted ? 'spec.validation.openAPIV3Schema' : `spec.versions[${i}].schema.openAPIV3Schema`;
        if (schema.type !== 'object') errors.push(fieldErrors.required(`${path}.type`, 'must not be empty at the root'));
        checkCelRules(schema, path, errors);
        checkListMapKeys(schema, path, errors);
      }
    });
    if (old !== undefined) {
      const oldSpec = isObject(old['spec']) ? old['spec'] : {};
      if (oldSpec['scope'] !== spec['scope']) errors.push(fieldErrors.invalid('spec.scope', spec['scope'] ?? '', 'field is immutable'));
    }
    return errors;
  }

  private writer(r: ResourceType, opts: WriteOptions, subresource: 'status' | undefined): Writer {
    return { manager: opts.fieldManager ?? opts.userAgentManager, apiVersion: apiVersionOf(r), subresource };
  }

  // ---------------------------------------------------------------- create

  create(r: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions, appliedManagedFields?: ManagedFieldsEntry[]): KubeObject {
    if (!isObject(body)) throw badRequest('Object \'Kind\' is missing in \'null\'');
    const obj = clone(body) as unknown as KubeObject;
    this.checkTypeMeta(r, obj);
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
    if (r.crdName !== undefined) this.checkCrdActive(r, name);
    const meta = obj.metadata;
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && !opts.fromApply) throw badRequest('resourceVersion should not be set on objects to be created');
    for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'selfLink']) delete (meta as Record<string, unknown>)[k];
    if (r.hasStatus && !r.builtin) delete obj['status'];
    if (r.builtin) defaultBuiltin(r.kind, obj, true);
    let admitted = this.admit(r, obj, undefined, opts);
    if (name !== '') this.namespaceCheck(r, namespace, name);
    const key = this.key(r, namespace, name);
    if (this.store.get(r.storage, key) !== undefined) throw alreadyExists(r.group, r.plural, name);
    admitted.metadata.uid = randomUUID();
    admitted.metadata.creationTimestamp = nowTimestamp();
    if (r.tracksGeneration) admitted.metadata.generation = 1;
    if (r.kind === 'CustomResourceDefinition' && r.group === 'apiextensions.k8s.io') admitted = this.prepareCrd(admitted, undefined);
    admitted.metadata.managedFields = appliedManagedFields ?? trackUpdate(undefined, admitted, this.writer(r, opts, undefined), r.schema, r.builtin);
    if (admitted.metadata.managedFields.length === 0) delete admitted.metadata.managedFields;
    return this.commit(r, 'ADDED', key, admitted, undefined, opts);
  }

  private checkTypeMeta(r: ResourceType, obj: KubeObject): void {
    const expected = apiVersionOf(r);
    if (obj.kind !== undefined && obj.kind !== '' && obj.kind !== r.kind) {
      throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${expected})`);
    }
    if (obj.apiVersion !== undefined && obj.apiVersion !== '' && obj.apiVersion !== expected) {
      throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${expected})`);
    }
    obj.apiVersion = expected;
    obj.kind = r.kind;
  }

  private checkCrdActive(r: ResourceType, name: string): void {
    const crdType = this.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    const crd = crdType === undefined ? undefined : this.store.get(crdType.storage, r.crdName ?? '');
    if (crd?.metadata.deletionTimestamp !== undefined) throw methodNotAllowed(`create not allowed while custom resource definition is terminating`);
    void name;
  }

  /** Commits a write (or not, for dryRun), returning the stored object in the served version. */
  private commit(r: ResourceType, type: 'ADDED' | 'MODIFIED' | 'DELETED', key: string, obj: KubeObject, prev: KubeObject | undefined, opts: WriteOptions): KubeObject {
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
    if (r.kind === 'CustomResourceDefinition' && r.group === 'apiextensions.k8s.io') {
      this.registry.setCrd(obj.metadata.name ?? '', type === 'DELETED' ? undefined : obj);
      if (type !== 'DELETED' && obj.metadata.deletionTimestamp !== undefined) this.pendingCrds.add(obj.metadata.name ?? '');
    }
    if (type === 'DELETED') {
      if (obj.metadata.uid !== undefined) this.gcOwners.add(obj.metadata.uid);
      for (const ref of obj.metadata.ownerReferences ?? []) this.gcOwners.add(ref.uid);
      if (obj.metadata.namespace !== undefined && this.pendingNamespaces.has(obj.metadata.namespace)) this.scheduleGc();
      if (r.crdName !== undefined && this.pendingCrds.has(r.crdName)) this.scheduleGc();
      this.scheduleGc();
    } else if (obj.metadata.deletionTimestamp !== undefined) {
      const finalizers = obj.metadata.finalizers ?? [];
      if (finalizers.includes('foregroundDeletion') || finalizers.includes('orphan')) {
        if (obj.metadata.uid !== undefined) this.gcOwners.add(obj.metadata.uid);
        this.scheduleGc();
      }
      if (r.kind === 'Namespace' && prev?.metadata.deletionTimestamp === undefined) {
        this.pendingNamespaces.add(obj.metadata.name ?? '');
        this.scheduleGc();
      }
      if (r.crdName === undefined && r.kind === 'CustomResourceDefinition') this.scheduleGc();
    }
    void prev;
  }

  // ---------------------------------------------------------------- update

  /** PUT: replaces the object (or its status with subresource 'status'). */
  update(r: ResourceType, namespace: string | undefined, name: string, body: unknown, opts: WriteOptions, subresource: 'status' | undefined): KubeObject {
    if (!isObject(body)) throw badRequest("Object 'Kind' is missing in 'null'");
    const obj = clone(body) as unknown as KubeObject;
    this.checkTypeMeta(r, obj);
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
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      throw conflict(r.group, r.plural, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    return this.replace(r, key, current, currentStored, obj, opts, subresource, 'update');
  }

  /** The common tail of update and patch: merge with the current object, admit, commit. */
  private replace(r: ResourceType, key: string, current: KubeObject, currentStored: KubeObject, incoming: KubeObject, opts: WriteOptions, subresource: 'status' | undefined, mode: 'update' | 'apply'): KubeObject {
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
      const m = next.metadata;
      const c = current.metadata;
      m.name = c.name ?? '';
      if (c.namespace !== undefined) m.namespace = c.namespace;
      else delete m.namespace;
      m.uid = c.uid ?? '';
      m.creationTimestamp = c.creationTimestamp ?? '';
      if (c.generateName !== undefined) m.generateName = c.generateName;
      if (c.deletionTimestamp !== undefined) m.deletionTimestamp = c.deletionTimestamp;
      else delete m.deletionTimestamp;
      if (c.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = c.deletionGracePeriodSeconds;
      else delete m.deletionGracePeriodSeconds;
      if (c.generation !== undefined) m.generation = c.generation;
      else delete m.generation;
      if (c.deletionTimestamp !== undefined) {
        const added = (m.finalizers ?? []).filter((f) => !(c.finalizers ?? []).includes(f));
        if (added.length > 0) throw invalid(r.group, r.kind, c.name ?? '', [fieldErrors.forbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`)]);
      }
      if (r.kind === 'Namespace') next['spec'] = clone(current['spec']);
      if (r.builtin) defaultBuiltin(r.kind, next, false);
    }
    delete next.metadata.resourceVersion;
    next = this.admit(r, next, current, opts);
    if (subresource !== 'status' && r.tracksGeneration && !deepEqual(specPart(next), specPart(current))) {
      next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    }
    if (r.kind === 'CustomResourceDefinition' && r.group === 'apiextensions.k8s.io' && subresource !== 'status') next = this.prepareCrd(next, current);
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
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    const rv = obj.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
      throw conflict(r.group, r.plural, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    this.checkTypeMeta(r, obj);
    return this.replace(r, key, current, currentStored, obj, opts, subresource, 'update');
  }

  private apply(r: ResourceType, namespace: string | undefined, name: string, rawBody: string, opts: WriteOptions, subresource: 'status' | undefined, force: boolean, currentStored: KubeObject | undefined): KubeObject {
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
    this.checkTypeMeta(r, applied);
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
      this.reportUnknown(r, unknown, opts);
      Object.assign(applied, pruned);
      for (const k of Object.keys(applied)) if (!(k in pruned)) delete applied[k];
    }
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
    if (rvApplied !== undefined && rvApplied !== '' && rvApplied !== current.metadata.resourceVersion) {
      throw conflict(r.group, r.plural, name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
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
        next['status'] = withCondition(next['status'], { type: 'Terminating', status: 'True', reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress' });
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

  // ---------------------------------------------------------------- CRDs

  private prepareCrd(crd: KubeObject, old: KubeObject | undefined): KubeObject {
    const spec = isObject(crd['spec']) ? { ...crd['spec'] } : {};
    spec['conversion'] ??= { strategy: 'None' };
    const names = isObject(spec['names']) ? { ...spec['names'] } : {};
    names['singular'] ??= String(names['kind'] ?? '').toLowerCase();
    names['listKind'] ??= `${String(names['kind'] ?? '')}List`;
    spec['names'] = names;
    crd['spec'] = spec;
    if (old === undefined) {
      crd.metadata.finalizers = [...new Set([...(crd.metadata.finalizers ?? []), 'customresourcecleanup.apiextensions.k8s.io'])];
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

  // ---------------------------------------------------------------- garbage collection

  private scheduleGc(): void {
    if (this.gcQueued) return;
    this.gcQueued = true;
    setImmediate(() => {
      this.gcQueued = false;
      this.runGc();
    });
  }

  private typeOfStorage(storage: string): ResourceType | undefined {
    return this.registry.storageType(storage);
  }

  private runGc(): void {
    const sys = this.systemOptions();
    sys.fieldManager = 'generic-garbage-collector';
    let guard = 0;
    while (this.gcOwners.size > 0 && guard++ < 100000) {
      const uid = this.gcOwners.values().next().value as string;
      this.gcOwners.delete(uid);
      const ownerLoc = this.store.byUid.get(uid);
      const owner = ownerLoc === undefined ? undefined : this.store.get(ownerLoc.storage, ownerLoc.key);
      const dependents = [...(this.store.dependents.get(uid) ?? [])];
      const ownerFinalizers = owner?.metadata.finalizers ?? [];
      const deleting = owner?.metadata.deletionTimestamp !== undefined;
      if (owner !== undefined && deleting && ownerFinalizers.includes('orphan')) {
        for (const id of dependents) this.removeOwnerRef(id, uid, sys);
        this.removeFinalizer(ownerLoc, 'orphan', sys);
        continue;
      }
      if (owner !== undefined && deleting && ownerFinalizers.includes('foregroundDeletion')) {
        let remaining = 0;
        for (const id of dependents) {
          const [storage, key] = id.split('\u0000') as [string, string];
          const dep = this.store.get(storage, key);
          const t = this.typeOfStorage(storage);
          if (dep === undefined || t === undefined) continue;
          remaining++;
          if (dep.metadata.deletionTimestamp === undefined) {
            try {
              this.delete(t, dep.metadata.namespace, dep.metadata.name ?? '', { propagationPolicy: 'Foreground' }, sys);
            } catch (err) {
              if (!(err instanceof ApiError && err.code === 404)) throw err;
            }
            if (this.store.get(storage, key) === undefined) remaining--;
          }
        }
        if (remaining === 0) this.removeFinalizer(ownerLoc, 'foregroundDeletion', sys);
        continue;
      }
      if (owner !== undefined) continue;
      for (const id of dependents) {
        const [storage, key] = id.split('\u0000') as [string, string];
        const dep = this.store.get(storage, key);
        const t = this.typeOfStorage(storage);
        if (dep === undefined || t === undefined) continue;
        const liveOwners = (dep.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid && this.store.byUid.has(ref.uid));
        if (liveOwners.length > 0) this.removeOwnerRef(id, uid, sys);
        else if (dep.metadata.deletionTimestamp === undefined) {
          try {
            this.delete(t, dep.metadata.namespace, dep.metadata.name ?? '', { propagationPolicy: 'Background' }, sys);
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 404)) throw err;
          }
        }
      }
    }
    this.processNamespaces(sys);
    this.processCrds(sys);
  }

  private removeOwnerRef(id: string, uid: string, sys: WriteOptions): void {
    const [storage, key] = id.split('\u0000') as [string, string];
    const dep = this.store.get(storage, key);
    const t = this.typeOfStorage(storage);
    if (dep === undefined || t === undefined) return;
    const next = clone(dep);
    next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== uid);
    if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
    this.replace(t, key, this.toVersion(t, dep), dep, next, sys, undefined, 'update');
  }

  private removeFinalizer(loc: { storage: string; key: string } | undefined, finalizer: string, sys: WriteOptions): void {
    if (loc === undefined) return;
    const obj = this.store.get(loc.storage, loc.key);
    const t = this.typeOfStorage(loc.storage);
    if (obj === undefined || t === undefined) return;
    const next = clone(obj);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    this.replace(t, loc.key, this.toVersion(t, obj), obj, next, sys, undefined, 'update');
  }

  private processNamespaces(sys: WriteOptions): void {
    const nsType = this.registry.lookup('', 'v1', 'namespaces');
    if (nsType === undefined) return;
    for (const name of [...this.pendingNamespaces]) {
      const ns = this.store.get(nsType.storage, name);
      if (ns === undefined || ns.metadata.deletionTimestamp === undefined) {
        this.pendingNamespaces.delete(name);
        continue;
      }
      let remaining = 0;
      for (const storage of this.store.storages()) {
        const t = this.typeOfStorage(storage);
        if (t === undefined || !t.namespaced) continue;
        for (const key of this.store.keys(storage, name)) {
          const obj = this.store.get(storage, key);
          if (obj === undefined) continue;
          remaining++;
          if (obj.metadata.deletionTimestamp === undefined) {
            try {
              this.delete(t, name, obj.metadata.name ?? '', { propagationPolicy: 'Background' }, sys);
            } catch (err) {
              if (!(err instanceof ApiError && err.code === 404)) throw err;
            }
            if (this.store.get(storage, key) === undefined) remaining--;
          }
        }
      }
      if (remaining > 0) continue;
      this.pendingNamespaces.delete(name);
      const next = clone(ns);
      next['spec'] = { ...(isObject(next['spec']) ? next['spec'] : {}), finalizers: [] };
      const key = this.key(nsType, undefined, name);
      if ((next.metadata.finalizers ?? []).length === 0) this.commit(nsType, 'DELETED', key, next, ns, sys);
      else this.commit(nsType, 'MODIFIED', key, next, ns, sys);
    }
  }

  private processCrds(sys: WriteOptions): void {
    const crdType = this.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    if (crdType === undefined) return;
    for (const key of this.store.keys(crdType.storage)) {
      const crd = this.store.get(crdType.storage, key);
      if (crd === undefined || crd.metadata.deletionTimestamp === undefined) continue;
      if (!(crd.metadata.finalizers ?? []).includes('customresourcecleanup.apiextensions.k8s.io')) continue;
      const spec = crd['spec'] as JsonObject;
      const storage = `${String(spec['group'])}/${String((spec['names'] as JsonObject)['plural'])}`;
      const t = this.typeOfStorage(storage);
      let remaining = 0;
      if (t !== undefined) {
        for (const k of [...this.store.keys(storage)]) {
          const obj = this.store.get(storage, k);
          if (obj === undefined) continue;
          remaining++;
          if (obj.metadata.deletionTimestamp === undefined) {
            try {
              this.delete(t, obj.metadata.namespace, obj.metadata.name ?? '', { propagationPolicy: 'Background' }, sys);
            } catch (err) {
              if (!(err instanceof ApiError && err.code === 404)) throw err;
            }
            if (this.store.get(storage, k) === undefined) remaining--;
          }
        }
      }
      if (remaining === 0) this.removeFinalizer({ storage: crdType.storage, key }, 'customresourcecleanup.apiextensions.k8s.io', sys);
      else this.pendingCrds.add(crd.metadata.name ?? '');
    }
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

function patchTypes(r: ResourceType): string[] {
  return r.builtin
    ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml', 'application/strategic-merge-patch+json']
    : ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];
}

function withCondition(status: unknown, condition: JsonObject): JsonObject {
  const s: JsonObject = isObject(status) ? { ...status } : {};
  const conditions = Array.isArray(s['conditions']) ? s['conditions'].filter((c) => !(isObject(c) && c['type'] === condition['type'])) : [];
  conditions.push({ ...condition, lastTransitionTime: nowTimestamp() });
  s['conditions'] = conditions;
  return s;
}
