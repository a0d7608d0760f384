// Admission of a write: type meta, names, labels and owner references, schema pruning, defaulting and
// validation (structural and CEL) for custom resources, built-in validation, and CRD definitions.
import { validateBuiltin } from './defaults.ts';
import { ApiError, badRequest, conflict, fieldErrors, invalid, notFound, type FieldError } from './errors.ts';
import { isObject, type Json, type KubeObject, type ObjectMeta } from './json.ts';
import type { WriteOptions } from './core.ts';
import type { Registry, ResourceType } from './resources.ts';
import { applyDefaults, checkListMapKeys, prune, validateValue, type Schema } from './schema.ts';
import { celSkipped, CEL_BLOCKING, checkCelRules, hasCelRules, validateCel } from './schema-cel.ts';
import type { Store } from './store.ts';

const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);
/** A finalizer outside the standard ones is "<DNS subdomain>/<name>". */
const qualifiedFinalizer = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function apiVersionOf(r: ResourceType): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

function forbidden(resource: ResourceType, name: string, why: string): ApiError {
  const qualified = resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`;
  return new ApiError(403, 'Forbidden', `${qualified} "${name}" is forbidden: ${why}`, { name, ...(resource.group === '' ? {} : { group: resource.group }), kind: resource.plural });
}

/** Checks apiVersion and kind of a body against the resource and fills them in. */
export function checkTypeMeta(r: ResourceType, obj: KubeObject): void {
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

/** A namespaced object needs its namespace to exist and not to be terminating. */
export function checkNamespace(registry: Registry, store: Store, r: ResourceType, namespace: string | undefined, name: string): void {
  if (!r.namespaced) return;
  if (namespace === undefined || namespace === '') throw badRequest('the server could not find the requested resource');
  const nsType = registry.lookup('', 'v1', 'namespaces');
  const ns = nsType === undefined ? undefined : store.get(nsType.storage, namespace);
  if (ns === undefined) throw notFound('', 'namespaces', namespace);
  if (ns.metadata.deletionTimestamp !== undefined) {
    throw forbidden(r, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
  }
}

/** Prunes, defaults and validates a body for create/update; returns the object to store. */
export function admit(r: ResourceType, obj: KubeObject, old: KubeObject | undefined, opts: WriteOptions): KubeObject {
  let out = obj;
  if (!r.builtin && r.schema !== undefined) {
    const unknown: string[] = [];
    out = prune(out as unknown as Json, r.schema, '', unknown, true) as unknown as KubeObject;
    reportUnknown(r, unknown, opts);
    out = applyDefaults(out as unknown as Json, r.schema) as unknown as KubeObject;
  }
  const errors: FieldError[] = [];
  validateMeta(r, out, errors);
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
    if (r.kind === 'CustomResourceDefinition') errors.push(...validateCrd(out, old));
  }
  if (errors.length > 0) throw invalid(r.group, r.kind, out.metadata.name ?? out.metadata.generateName ?? '', errors);
  return out;
}

export function reportUnknown(r: ResourceType, unknown: string[], opts: WriteOptions): void {
  if (unknown.length === 0 || opts.fieldValidation === 'Ignore') return;
  if (opts.fieldValidation === 'Strict') {
    const text = unknown.length === 1 ? `unknown field "${unknown[0]}"` : unknown.map((u) => `unknown field "${u}"`).join(', ');
    throw badRequest(`${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${text}`);
  }
  for (const u of unknown) opts.warnings.push(`unknown field "${u}"`);
}

function validateMeta(r: ResourceType, obj: KubeObject, errors: FieldError[]): void {
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
  for (const v of Object.values(obj.metadata.labels ?? {})) {
    if (typeof v !== 'string' || v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)) {
      errors.push(fieldErrors.invalid(`metadata.labels`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
    }
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

function validateCrd(crd: KubeObject, old: KubeObject | undefined): FieldError[] {
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

/** A write carrying a resourceVersion must name the current one. */
export function checkResourceVersion(r: ResourceType, name: string, rv: string | undefined, current: KubeObject): void {
  if (rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion) {
    throw conflict(r.group, r.plural, name, 'the object has been modified; please apply your changes to the latest version and try again');
  }
}

/** An update (of the object or a subresource) that names another UID is invalid, as on kube-apiserver: a UID in a patch is a precondition. */
export function checkUidUnchanged(r: ResourceType, incoming: KubeObject, current: KubeObject): void {
  const uid = incoming.metadata?.uid;
  if (typeof uid === 'string' && uid !== '' && uid !== current.metadata.uid) {
    throw invalid(r.group, r.kind, current.metadata.name ?? '', [fieldErrors.invalid('metadata.uid', uid, 'field is immutable')]);
  }
}

/** An update keeps what only the server sets (identity, creation, deletion, generation); no finalizer may be added while deleting. */
export function keepServerMetadata(r: ResourceType, m: ObjectMeta, c: ObjectMeta): void {
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
}
