// OpenAPI documents (v2 and v3 per group-version) built from the registry: CRD schemas plus minimal
// built-in schemas, with the PATCH operations and parameters kubectl probes before it sends a request.
import { createHash } from 'node:crypto';
import { isObject } from './json.ts';
import type { Registry, ResourceType } from './resources.ts';
import type { Schema } from './schema.ts';

const builtinPackages: Record<string, string> = {
  '': 'io.k8s.api.core.v1',
  apps: 'io.k8s.api.apps.v1',
  'coordination.k8s.io': 'io.k8s.api.coordination.v1',
  'events.k8s.io': 'io.k8s.api.events.v1',
  'apiextensions.k8s.io': 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1',
};

const objectMetaRef = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** The definition name of a type: `io.k8s.api.core.v1.Pod`, or reversed group for CRDs (`energy.perseus.v1alpha1.X`). */
export function definitionName(r: ResourceType): string {
  if (r.builtin) return `${builtinPackages[r.group] ?? `io.k8s.api.${r.group}.${r.version}`}.${r.kind}`;
  return `${r.group.split('.').reverse().join('.')}.${r.version}.${r.kind}`;
}

function gvk(r: ResourceType): { group: string; version: string; kind: string } {
  return { group: r.group, version: r.version, kind: r.kind };
}

function schemaFor(r: ResourceType, refPrefix: string): Schema & Record<string, unknown> {
  const base: Schema = r.schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const properties: Record<string, unknown> = { ...(base.properties ?? {}) };
  properties['apiVersion'] = { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.' };
  properties['kind'] = { type: 'string', description: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to.' };
  properties['metadata'] = { allOf: [{ $ref: `${refPrefix}${objectMetaRef}` }], default: {}, description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata" };
  return { ...base, properties: properties as Record<string, Schema>, 'x-kubernetes-group-version-kind': [gvk(r)] } as Schema & Record<string, unknown>;
}

function objectMetaSchema(r: ResourceType[]): unknown {
  const withMeta = r.find((x) => x.builtin && x.schema?.properties?.['metadata'] !== undefined);
  return withMeta?.schema?.properties?.['metadata'] ?? { type: 'object' };
}

const queryParams = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'];

function operations(r: ResourceType, ref: string, v3: boolean): { paths: Record<string, unknown> } {
  const prefix = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const collection = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}` : `${prefix}/${r.plural}`;
  const item = `${collection}/{name}`;
  const param = (name: string): unknown => (v3 ? { name, in: 'query', schema: { type: 'string', uniqueItems: true } } : { name, in: 'query', type: 'string', uniqueItems: true });
  const body = v3 ? { requestBody: { content: { '*/*': { schema: { $ref: ref } } }, required: true } } : { parameters: [{ name: 'body', in: 'body', required: true, schema: { $ref: ref } }] };
  const response = v3 ? { responses: { '200': { description: 'OK', content: { 'application/json': { schema: { $ref: ref } } } } } } : { responses: { '200': { description: 'OK', schema: { $ref: ref } } } };
  const op = (action: string, withBody: boolean): unknown => {
    const parameters = withBody ? queryParams.map(param) : [];
    const out: Record<string, unknown> = { operationId: `${action}${r.kind}`, 'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': gvk(r), ...response };
    if (withBody) {
      if (v3) {
        out['parameters'] = parameters;
        Object.assign(out, body);
      } else out['parameters'] = [...(body as { parameters: unknown[] }).parameters, ...parameters];
    }
    return out;
  };
  const paths: Record<string, unknown> = {
    [collection]: { get: op('list', false), post: op('post', true) },
    [item]: { get: op('get', false), put: op('put', true), patch: op('patch', true), delete: op('delete', false) },
  };
  if (r.hasStatus) paths[`${item}/status`] = { get: op('get', false), put: op('put', true), patch: op('patch', true) };
  return { paths };
}

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

/** The OpenAPI v3 document of one group-version. */
export function openApiV3(registry: Registry, group: string, version: string): unknown {
  const types = registry.all().filter((r) => r.group === group && r.version === version);
  const schemas: Record<string, unknown> = { [objectMetaRef]: objectMetaSchema(registry.all()) };
  let paths: Record<string, unknown> = {};
  for (const r of types) {
    const name = definitionName(r);
    schemas[name] = schemaFor(r, '#/components/schemas/');
    paths = { ...paths, ...operations(r, `#/components/schemas/${name}`, true).paths };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.35.0' }, paths, components: { schemas } };
}

/** The /openapi/v3 index: one entry per group-version with a content hash. */
export function openApiV3Index(registry: Registry): unknown {
  const paths: Record<string, unknown> = {};
  for (const [group, versions] of registry.groups()) {
    for (const version of versions) {
      const hash = createHash('sha512').update(JSON.stringify(openApiV3(registry, group, version))).digest('hex').toUpperCase();
      paths[gvPath(group, version)] = { serverRelativeURL: `/${'openapi/v3/'}${gvPath(group, version)}?hash=${hash}` };
    }
  }
  return { paths };
}

/** The OpenAPI v2 (swagger) document of every type. */
export function openApiV2(registry: Registry): unknown {
  const definitions: Record<string, unknown> = { [objectMetaRef]: objectMetaSchema(registry.all()) };
  let paths: Record<string, unknown> = {};
  for (const r of registry.all()) {
    const name = definitionName(r);
    const schema = schemaFor(r, '#/definitions/');
    definitions[name] = stripV3Only(schema);
    paths = { ...paths, ...operations(r, `#/definitions/${name}`, false).paths };
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.35.0' }, paths, definitions };
}

/** Swagger 2.0 has no `nullable`; the real server drops it (and keeps the rest). */
function stripV3Only(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(stripV3Only);
  if (!isObject(schema)) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) if (k !== 'nullable') out[k] = stripV3Only(v);
  return out;
}
