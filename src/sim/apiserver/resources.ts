// The resource registry: built-in types and the types that CustomResourceDefinitions add at runtime.
// Discovery, routing, field selectors, table printing and merge semantics all read from here.
import { isObject, type Json, type JsonObject, type KubeObject } from './json.ts';
import type { Schema } from './schema.ts';

/** A table column as the server prints it (metav1.TableColumnDefinition plus how to fill it). */
export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell(obj: KubeObject, now: number): Json;
}

/** One served resource at one group/version. */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Identity shared by every version of one resource (objects are stored once). */
  storage: string;
  /** Whether this version is the storage version (the one stored and converted from). */
  storageVersion: boolean;
  hasStatus: boolean;
  /** `spec.replicas` style scale subresource paths, when served. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string };
  hasBinding: boolean;
  /** Whether metadata.generation counts spec changes. */
  tracksGeneration: boolean;
  /** Custom resources reject strategic merge patch (415). */
  builtin: boolean;
  /** The structural schema (custom resources) or a minimal one (built-ins, for OpenAPI). */
  schema?: Schema;
  /** Fields usable in fieldSelector, and how to read them. */
  fieldSelectors: Map<string, (obj: KubeObject) => string>;
  printerColumns: PrinterColumn[];
  /** Name of the CRD that defines it. */
  crdName?: string;
  verbs: string[];
}

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Reads a dotted path (`spec.nodeName`) as a string, '' when absent. */
export function readPath(obj: unknown, path: string): Json | undefined {
  let cur: unknown = obj;
  for (const part of path.split('.').filter((p) => p !== '')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur as Json | undefined;
}

function asString(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function fieldGetters(paths: readonly string[], extra: Record<string, (obj: KubeObject) => string> = {}): Map<string, (obj: KubeObject) => string> {
  const map = new Map<string, (obj: KubeObject) => string>();
  map.set('metadata.name', (o) => o.metadata.name ?? '');
  map.set('metadata.namespace', (o) => o.metadata.namespace ?? '');
  for (const path of paths) map.set(path, (o) => asString(readPath(o, path)));
  for (const [k, f] of Object.entries(extra)) map.set(k, f);
  return map;
}

/** kubectl's short age: 5s, 3m, 2d... (duration.HumanDuration). */
export function humanAge(fromIso: string | undefined, now: number): string {
  if (fromIso === undefined) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 === 0 ? '' : `${seconds % 60}s`}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return `${hours}h${minutes % 60 === 0 ? '' : `${minutes % 60}m`}`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return `${days}d${hours % 24 === 0 ? '' : `${hours % 24}h`}`;
  if (days < 365 * 2) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

const nameColumn: PrinterColumn = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0, cell: (o) => o.metadata.name ?? '' };
const ageColumn: PrinterColumn = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0, cell: (o, now) => humanAge(o.metadata.creationTimestamp, now) };

function col(name: string, description: string, cell: (o: KubeObject, now: number) => Json, type = 'string', priority = 0): PrinterColumn {
  return { name, type, description, priority, cell };
}

function podReady(o: KubeObject): string {
  const statuses = readPath(o, 'status.containerStatuses');
  const containers = readPath(o, 'spec.containers');
  const total = Array.isArray(containers) ? containers.length : 0;
  const ready = Array.isArray(statuses) ? statuses.filter((s) => isObject(s) && s['ready'] === true).length : 0;
  return `${ready}/${total}`;
}

function podRestarts(o: KubeObject): number {
  const statuses = readPath(o, 'status.containerStatuses');
  return Array.isArray(statuses) ? statuses.reduce<number>((n, s) => n + (isObject(s) && typeof s['restartCount'] === 'number' ? s['restartCount'] : 0), 0) : 0;
}

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp !== undefined) return 'Terminating';
  return asString(readPath(o, 'status.reason')) || asString(readPath(o, 'status.phase')) || 'Pending';
}

function nodeStatus(o: KubeObject): string {
  const conditions = readPath(o, 'status.conditions');
  const ready = Array.isArray(conditions) ? conditions.find((c) => isObject(c) && c['type'] === 'Ready') : undefined;
  let status = isObject(ready) && ready['status'] === 'True' ? 'Ready' : isObject(ready) ? 'NotReady' : 'Unknown';
  if (readPath(o, 'spec.unschedulable') === true) status += ',SchedulingDisabled';
  return status;
}

interface BuiltinSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  hasStatus?: boolean;
  hasBinding?: boolean;
  tracksGeneration?: boolean;
  fields?: string[];
  extraFields?: Record<string, (obj: KubeObject) => string>;
  columns?: PrinterColumn[];
  storage?: string;
  scale?: ResourceType['scale'];
}

function builtin(spec: BuiltinSpec): ResourceType {
  const resource: ResourceType = {
    group: spec.group,
    version: spec.version,
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    plural: spec.plural,
    singular: spec.kind.toLowerCase(),
    namespaced: spec.namespaced,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    storage: spec.storage ?? `${spec.group}/${spec.plural}`,
    storageVersion: spec.storage === undefined,
    hasStatus: spec.hasStatus ?? false,
    hasBinding: spec.hasBinding ?? false,
    tracksGeneration: spec.tracksGeneration ?? false,
    builtin: true,
    fieldSelectors: fieldGetters(spec.fields ?? [], spec.extraFields),
    printerColumns: [nameColumn, ...(spec.columns ?? []), ageColumn],
    verbs: allVerbs,
    schema: builtinSchema(spec.kind),
  };
  if (spec.scale !== undefined) resource.scale = spec.scale;
  return resource;
}

const objectMetaSchema: Schema = {
  type: 'object',
  description: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  properties: {
    name: { type: 'string', description: 'Name must be unique within a namespace.' },
    generateName: { type: 'string', description: 'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.' },
    namespace: { type: 'string', description: 'Namespace defines the space within which each name must be unique.' },
    uid: { type: 'string', description: 'UID is the unique in time and space value for this object.' },
    resourceVersion: { type: 'string', description: 'An opaque value that represents the internal version of this object.' },
    generation: { type: 'integer', description: 'A sequence number representing a specific generation of the desired state.' },
    creationTimestamp: { type: 'string', format: 'date-time', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' },
    deletionTimestamp: { type: 'string', format: 'date-time', description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.' },
    labels: { type: 'object', additionalProperties: { type: 'string' }, description: 'Map of string keys and values that can be used to organize and categorize objects.' },
    annotations: { type: 'object', additionalProperties: { type: 'string' }, description: 'Annotations is an unstructured key value map stored with a resource.' },
    finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set', description: 'Must be empty before the object is deleted from the registry.' },
    ownerReferences: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['uid'], description: 'List of objects depended by this object.' },
    managedFields: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, description: 'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.' },
  },
};

/** Minimal schemas of built-in types: enough for `kubectl explain` and OpenAPI-driven clients. */
function builtinSchema(kind: string): Schema {
  const open: Schema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  const base: Record<string, Schema> = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: objectMetaSchema,
  };
  const data: Record<string, Record<string, Schema>> = {
    ConfigMap: { data: { type: 'object', additionalProperties: { type: 'string' }, description: 'Data contains the configuration data.' }, binaryData: { type: 'object', additionalProperties: { type: 'string', format: 'byte' } }, immutable: { type: 'boolean' } },
    Secret: { data: { type: 'object', additionalProperties: { type: 'string', format: 'byte' } }, stringData: { type: 'object', additionalProperties: { type: 'string' } }, type: { type: 'string' }, immutable: { type: 'boolean' } },
    ServiceAccount: { secrets: { type: 'array', items: open }, imagePullSecrets: { type: 'array', items: open }, automountServiceAccountToken: { type: 'boolean' } },
  };
  const props = data[kind];
  if (props !== undefined) return { type: 'object', description: `${kind} of the core API.`, properties: { ...base, ...props } };
  const withStatus = { spec: { ...open, description: `Spec of the ${kind}.` }, status: { ...open, description: `Most recently observed status of the ${kind}.` } };
  const eventish: Record<string, Schema> = kind === 'Event' ? { involvedObject: open, regarding: open, reason: { type: 'string' }, message: { type: 'string' }, note: { type: 'string' }, type: { type: 'string' }, source: open, count: { type: 'integer' } } : {};
  return { type: 'object', description: `${kind} of the Kubernetes API.`, properties: { ...base, ...withStatus, ...eventish }, 'x-kubernetes-preserve-unknown-fields': true };
}

/** The built-in resources every cluster has. */
export function builtinResources(): ResourceType[] {
  return [
    builtin({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], hasStatus: true, fields: ['status.phase'], columns: [col('Status', 'The status of the namespace', (o) => asString(readPath(o, 'status.phase')))] }),
    builtin({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], hasStatus: true, fields: ['spec.unschedulable'], columns: [col('Status', 'The status of the node', nodeStatus), col('Roles', 'The roles of the node', () => '<none>'), col('Version', 'Kubelet Version reported by the node.', (o) => asString(readPath(o, 'status.nodeInfo.kubeletVersion')))] }),
    builtin({
      group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'], hasStatus: true, hasBinding: true,
      fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
      extraFields: { 'spec.hostNetwork': (o) => String(readPath(o, 'spec.hostNetwork') === true) },
      columns: [col('Ready', 'The aggregate readiness state of this pod for accepting traffic.', podReady), col('Status', 'The aggregate status of the containers in this pod.', podStatus), col('Restarts', 'The number of times the containers in this pod have been restarted.', podRestarts, 'string'), col('IP', 'IP address allocated to the pod.', (o) => asString(readPath(o, 'status.podIP')) || '<none>', 'string', 1), col('Node', 'Name of the Node this pod runs on.', (o) => asString(readPath(o, 'spec.nodeName')) || '<none>', 'string', 1)],
    }),
    builtin({ group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], categories: ['all'], hasStatus: true, fields: ['spec.clusterIP', 'spec.type'], columns: [col('Type', 'The type of the service.', (o) => asString(readPath(o, 'spec.type')) || 'ClusterIP'), col('Cluster-IP', 'The cluster IP of the service.', (o) => asString(readPath(o, 'spec.clusterIP')) || '<none>')] }),
    builtin({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], columns: [col('Data', 'Number of data entries.', (o) => Object.keys(isObject(o['data']) ? o['data'] : {}).length + Object.keys(isObject(o['binaryData']) ? o['binaryData'] : {}).length, 'integer')] }),
    builtin({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, fields: ['type'], columns: [col('Type', 'The type of the secret.', (o) => asString(o['type']) || 'Opaque'), col('Data', 'Number of data entries.', (o) => Object.keys(isObject(o['data']) ? o['data'] : {}).length, 'integer')] }),
    builtin({ group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'] }),
    builtin({
      group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'],
      fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'type', 'source'],
      extraFields: { source: (o) => asString(readPath(o, 'source.component')) || asString(o['reportingComponent']) },
      columns: [col('Type', 'Type of this event.', (o) => asString(o['type'])), col('Reason', 'Reason of this event.', (o) => asString(o['reason'])), col('Object', 'The object this event is about.', (o) => `${asString(readPath(o, 'involvedObject.kind')).toLowerCase()}/${asString(readPath(o, 'involvedObject.name'))}`), col('Message', 'A human-readable description.', (o) => asString(o['message']))],
    }),
    builtin({
      group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'], storage: '/events',
      fields: ['regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'regarding.apiVersion', 'regarding.resourceVersion', 'regarding.fieldPath', 'reason', 'reportingController', 'type'],
      columns: [col('Type', 'Type of this event.', (o) => asString(o['type'])), col('Reason', 'Reason of this event.', (o) => asString(o['reason'])), col('Object', 'The object this event is about.', (o) => `${asString(readPath(o, 'regarding.kind')).toLowerCase()}/${asString(readPath(o, 'regarding.name'))}`), col('Message', 'A human-readable description.', (o) => asString(o['note']))],
    }),
    builtin({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, columns: [col('Holder', 'The holder of the lease.', (o) => asString(readPath(o, 'spec.holderIdentity')))] }),
    builtin({
      group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], categories: ['all'], hasStatus: true, tracksGeneration: true,
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
      columns: [col('Ready', 'Number of the pod with ready state.', (o) => `${asString(readPath(o, 'status.readyReplicas')) || '0'}/${asString(readPath(o, 'spec.replicas')) || '1'}`), col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', (o) => Number(readPath(o, 'status.updatedReplicas') ?? 0), 'integer'), col('Available', 'Total number of available pods.', (o) => Number(readPath(o, 'status.availableReplicas') ?? 0), 'integer')],
    }),
    builtin({
      group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true, shortNames: ['ds'], categories: ['all'], hasStatus: true, tracksGeneration: true,
      columns: [col('Desired', 'The number of nodes that should be running the daemon pod.', (o) => Number(readPath(o, 'status.desiredNumberScheduled') ?? 0), 'integer'), col('Current', 'The number of nodes running at least one daemon pod.', (o) => Number(readPath(o, 'status.currentNumberScheduled') ?? 0), 'integer'), col('Ready', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.', (o) => Number(readPath(o, 'status.numberReady') ?? 0), 'integer')],
    }),
    builtin({
      group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], hasStatus: true, tracksGeneration: true,
      columns: [],
    }),
  ];
}

/** Converts a stored core/v1 Event to events.k8s.io/v1 (they share storage, as in the real server). */
export function coreEventToEventsV1(obj: KubeObject): KubeObject {
  const out: KubeObject = { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: obj.metadata };
  const copy = (from: string, to: string): void => {
    if (obj[from] !== undefined) out[to] = obj[from];
  };
  copy('involvedObject', 'regarding');
  copy('message', 'note');
  copy('reason', 'reason');
  copy('type', 'type');
  copy('eventTime', 'eventTime');
  copy('action', 'action');
  copy('related', 'related');
  copy('reportingComponent', 'reportingController');
  copy('reportingInstance', 'reportingInstance');
  copy('source', 'deprecatedSource');
  copy('firstTimestamp', 'deprecatedFirstTimestamp');
  copy('lastTimestamp', 'deprecatedLastTimestamp');
  copy('count', 'deprecatedCount');
  if (isObject(obj['series'])) out['series'] = { count: obj['series']['count'] ?? 0, lastObservedTime: obj['series']['lastObservedTime'] ?? null };
  if (out['eventTime'] === undefined) out['eventTime'] = null;
  return out;
}

/** Converts an events.k8s.io/v1 Event to the stored core/v1 form. */
export function eventsV1ToCoreEvent(obj: KubeObject): KubeObject {
  const out: KubeObject = { apiVersion: 'v1', kind: 'Event', metadata: obj.metadata };
  const copy = (from: string, to: string): void => {
    if (obj[from] !== undefined) out[to] = obj[from];
  };
  copy('regarding', 'involvedObject');
  copy('note', 'message');
  copy('reason', 'reason');
  copy('type', 'type');
  copy('eventTime', 'eventTime');
  copy('action', 'action');
  copy('related', 'related');
  copy('reportingController', 'reportingComponent');
  copy('reportingInstance', 'reportingInstance');
  copy('deprecatedSource', 'source');
  copy('deprecatedFirstTimestamp', 'firstTimestamp');
  copy('deprecatedLastTimestamp', 'lastTimestamp');
  copy('deprecatedCount', 'count');
  if (isObject(obj['series'])) out['series'] = obj['series'];
  if (out['involvedObject'] === undefined) out['involvedObject'] = {};
  return out;
}

/** The types a CRD serves: one ResourceType per served version. */
export function crdResources(crd: KubeObject): ResourceType[] {
  const spec = crd['spec'] as JsonObject;
  const names = spec['names'] as JsonObject;
  const group = spec['group'] as string;
  const plural = names['plural'] as string;
  const kind = names['kind'] as string;
  const versions = (spec['versions'] as JsonObject[]) ?? [];
  const out: ResourceType[] = [];
  for (const v of versions) {
    if (v['served'] === false) continue;
    const subresources = isObject(v['subresources']) ? v['subresources'] : {};
    const schema = isObject(v['schema']) && isObject(v['schema']['openAPIV3Schema']) ? (v['schema']['openAPIV3Schema'] as unknown as Schema) : undefined;
    const columnsSpec = Array.isArray(v['additionalPrinterColumns']) ? (v['additionalPrinterColumns'] as JsonObject[]) : [];
    const columns: PrinterColumn[] = columnsSpec.map((c) => {
      const path = String(c['jsonPath'] ?? '');
      const type = String(c['type'] ?? 'string');
      const column: PrinterColumn = {
        name: String(c['name'] ?? ''),
        type,
        description: String(c['description'] ?? ''),
        priority: Number(c['priority'] ?? 0),
        cell: (o, now) => {
          const value = readPath(o, path.replace(/^\./, ''));
          if (value === undefined || value === null) return null;
          if (type === 'date') return typeof value === 'string' ? humanAge(value, now) : null;
          return value;
        },
      };
      if (typeof c['format'] === 'string') column.format = c['format'];
      return column;
    });
    const selectable = Array.isArray(v['selectableFields']) ? (v['selectableFields'] as JsonObject[]).map((f) => String(f['jsonPath'] ?? '').replace(/^\./, '')) : [];
    const resource: ResourceType = {
      group,
      version: v['name'] as string,
      kind,
      listKind: (names['listKind'] as string | undefined) ?? `${kind}List`,
      plural,
      singular: (names['singular'] as string | undefined) ?? kind.toLowerCase(),
      namespaced: spec['scope'] === 'Namespaced',
      shortNames: Array.isArray(names['shortNames']) ? (names['shortNames'] as string[]) : [],
      categories: Array.isArray(names['categories']) ? (names['categories'] as string[]) : [],
      storage: `${group}/${plural}`,
      storageVersion: v['storage'] === true,
      hasStatus: isObject(subresources['status']),
      hasBinding: false,
      tracksGeneration: true,
      builtin: false,
      fieldSelectors: fieldGetters(selectable),
      printerColumns: columns.length > 0 || columnsSpec.length > 0 ? [nameColumn, ...columns, ...(columns.some((c) => c.name === 'Age') ? [] : [ageColumn])] : [nameColumn, ageColumn],
      crdName: crd.metadata.name ?? '',
      verbs: allVerbs,
    };
    if (schema !== undefined) resource.schema = schema;
    if (isObject(subresources['scale'])) {
      const s = subresources['scale'];
      resource.scale = { specReplicasPath: String(s['specReplicasPath'] ?? ''), statusReplicasPath: String(s['statusReplicasPath'] ?? '') };
      if (typeof s['labelSelectorPath'] === 'string') resource.scale.labelSelectorPath = s['labelSelectorPath'];
    }
    out.push(resource);
  }
  return out;
}

/** The registry: lookup by group/version/plural, by kind, by storage. */
export class Registry {
  private readonly byPath = new Map<string, ResourceType>();
  private readonly crdTypes = new Map<string, ResourceType[]>();

  constructor() {
    for (const r of builtinResources()) this.add(r);
  }

  private add(r: ResourceType): void {
    this.byPath.set(`${r.group}/${r.version}/${r.plural}`, r);
  }

  /** The resource served at `group/version/plural`, if any. */
  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.byPath.get(`${group}/${version}/${plural}`);
  }

  /** The storage-version type of a storage key (for GC and namespace cleanup). */
  storageType(storage: string): ResourceType | undefined {
    for (const r of this.byPath.values()) if (r.storage === storage && r.storageVersion) return r;
    return undefined;
  }

  /** The type of an apiVersion/kind pair (for ownerReferences and apply). */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
    for (const r of this.byPath.values()) if (r.group === group && r.version === version && r.kind === kind) return r;
    return undefined;
  }

  all(): ResourceType[] {
    return [...this.byPath.values()];
  }

  /** Group → versions (preferred first), for discovery. */
  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const r of this.byPath.values()) {
      const versions = groups.get(r.group) ?? [];
      if (!versions.includes(r.version)) versions.push(r.version);
      groups.set(r.group, versions);
    }
    for (const versions of groups.values()) versions.sort(compareVersions);
    return groups;
  }

  /** Replaces the types served for a CRD (on create/update), or removes them (`crd` undefined). */
  setCrd(name: string, crd: KubeObject | undefined): void {
    for (const r of this.crdTypes.get(name) ?? []) this.byPath.delete(`${r.group}/${r.version}/${r.plural}`);
    this.crdTypes.delete(name);
    if (crd === undefined) return;
    const types = crdResources(crd);
    this.crdTypes.set(name, types);
    for (const r of types) this.add(r);
  }
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (v1 > v1beta2 > v1alpha1). */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (m === null) return [-1, 0, 0];
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [sa, ma, na] = parse(a);
  const [sb, mb, nb] = parse(b);
  if (sa !== sb) return sb - sa;
  if (ma !== mb) return mb - ma;
  if (na !== nb) return nb - na;
  return a.localeCompare(b);
}
