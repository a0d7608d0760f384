// The built-in resource types the embedded server serves (the core, apps, coordination, events and
// apiextensions types the operator and kubectl use), with field selectors, table columns and minimal schemas.
import { isObject, type KubeObject } from './json.ts';
import { ageColumn, allVerbs, asString, col, fieldGetters, nameColumn, readPath } from './resource-fields.ts';
import type { PrinterColumn, ResourceType } from './resources.ts';
import type { Schema } from './schema.ts';

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
