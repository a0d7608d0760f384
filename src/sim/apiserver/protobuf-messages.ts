// The protobuf field tables of the built-in kinds whose protobuf bodies are decoded: per message its Go type
// name and, per field number, the JSON name and how the value is read (used by protobuf.ts).

/** A message's Go type name and its fields by field number. */
export interface MessageSpec {
  name: string;
  fields: ReadonlyMap<number, FieldSpec>;
}

/** How one field's value is read and written into JSON. */
export type ValueKind =
  | { type: 'string' | 'bytes' | 'bool' | 'int32' | 'int64' | 'time' | 'intOrString' | 'quantity' | 'fieldsV1' }
  | { type: 'message'; message: () => MessageSpec };

export type FieldSpec = ValueKind & {
  json: string;
  repeated?: boolean;
  /** A map<string, V>: repeated entries {key = 1, value = 2}. */
  mapValue?: ValueKind;
  /**
   * The Go field is a pointer (or has no `omitempty`), so a zero value on the wire is a value. Other zero
   * scalars are left out: Go's protobuf marshaller writes every non-pointer field, JSON omits empty ones.
   */
  keepZero?: boolean;
  /** An embedded Go struct (`json:",inline"`): its fields appear in the parent's JSON object. */
  inline?: boolean;
};

type FieldOptions = Pick<FieldSpec, 'repeated' | 'keepZero' | 'inline'>;

const str = (json: string, o: FieldOptions = {}): FieldSpec => ({ type: 'string', json, ...o });
const strs = (json: string): FieldSpec => ({ type: 'string', json, repeated: true });
const bool = (json: string, o: FieldOptions = {}): FieldSpec => ({ type: 'bool', json, ...o });
const int32 = (json: string, o: FieldOptions = {}): FieldSpec => ({ type: 'int32', json, ...o });
const int64 = (json: string, o: FieldOptions = {}): FieldSpec => ({ type: 'int64', json, ...o });
const time = (json: string): FieldSpec => ({ type: 'time', json });
const intOrString = (json: string): FieldSpec => ({ type: 'intOrString', json });
const msg = (json: string, message: () => MessageSpec, o: FieldOptions = {}): FieldSpec => ({ type: 'message', message, json, ...o });
const msgs = (json: string, message: () => MessageSpec): FieldSpec => ({ type: 'message', message, json, repeated: true });
const map = (json: string, value: ValueKind): FieldSpec => ({ type: 'string', json, mapValue: value });
const stringMap = (json: string): FieldSpec => map(json, { type: 'string' });

function spec(name: string, fields: Record<number, FieldSpec>): MessageSpec {
  return { name, fields: new Map(Object.entries(fields).map(([n, f]) => [Number(n), f])) };
}

// ---------------------------------------------------------------- field tables
// Field numbers from k8s.io/apimachinery/pkg/apis/meta/v1, k8s.io/api/core/v1 and k8s.io/api/apps/v1
// generated.proto. Only messages that built-in kinds served here use are listed; a field missing from a
// table is answered with 415 rather than dropped.

export const TypeMeta = spec('TypeMeta', { 1: str('apiVersion'), 2: str('kind') });

const OwnerReference = spec('OwnerReference', {
  1: str('kind'),
  3: str('name'),
  4: str('uid'),
  5: str('apiVersion'),
  6: bool('controller', { keepZero: true }),
  7: bool('blockOwnerDeletion', { keepZero: true }),
});

const ManagedFieldsEntry = spec('ManagedFieldsEntry', {
  1: str('manager'),
  2: str('operation'),
  3: str('apiVersion'),
  4: time('time'),
  6: str('fieldsType'),
  // FieldsV1 is a pointer whose JSON form is the raw field set itself.
  7: { type: 'fieldsV1', json: 'fieldsV1' },
  8: str('subresource'),
});

const ObjectMeta = spec('ObjectMeta', {
  1: str('name'),
  2: str('generateName'),
  3: str('namespace'),
  4: str('selfLink'),
  5: str('uid'),
  6: str('resourceVersion'),
  7: int64('generation'),
  8: time('creationTimestamp'),
  9: time('deletionTimestamp'),
  10: int64('deletionGracePeriodSeconds', { keepZero: true }),
  11: stringMap('labels'),
  12: stringMap('annotations'),
  13: msgs('ownerReferences', () => OwnerReference),
  14: strs('finalizers'),
  17: msgs('managedFields', () => ManagedFieldsEntry),
});

const LabelSelectorRequirement = spec('LabelSelectorRequirement', { 1: str('key'), 2: str('operator'), 3: strs('values') });
const LabelSelector = spec('LabelSelector', { 1: stringMap('matchLabels'), 2: msgs('matchExpressions', () => LabelSelectorRequirement) });

const Condition = spec('Condition', {
  1: str('type'),
  2: str('status'),
  3: int64('observedGeneration'),
  4: time('lastTransitionTime'),
  5: str('reason'),
  6: str('message'),
});

const ObjectReference = spec('ObjectReference', {
  1: str('kind'),
  2: str('namespace'),
  3: str('name'),
  4: str('uid'),
  5: str('apiVersion'),
  6: str('resourceVersion'),
  7: str('fieldPath'),
});
const LocalObjectReference = spec('LocalObjectReference', { 1: str('name') });

const NamespaceCondition = spec('NamespaceCondition', { 1: str('type'), 2: str('status'), 4: time('lastTransitionTime'), 5: str('reason'), 6: str('message') });
const NamespaceSpec = spec('NamespaceSpec', { 1: strs('finalizers') });
const NamespaceStatus = spec('NamespaceStatus', { 1: str('phase'), 2: msgs('conditions', () => NamespaceCondition) });
const Namespace = spec('Namespace', { 1: msg('metadata', () => ObjectMeta), 2: msg('spec', () => NamespaceSpec), 3: msg('status', () => NamespaceStatus) });

const ConfigMap = spec('ConfigMap', {
  1: msg('metadata', () => ObjectMeta),
  2: stringMap('data'),
  3: map('binaryData', { type: 'bytes' }),
  4: bool('immutable', { keepZero: true }),
});

const Secret = spec('Secret', {
  1: msg('metadata', () => ObjectMeta),
  2: map('data', { type: 'bytes' }),
  3: str('type'),
  4: stringMap('stringData'),
  5: bool('immutable', { keepZero: true }),
});

const ServiceAccount = spec('ServiceAccount', {
  1: msg('metadata', () => ObjectMeta),
  2: msgs('secrets', () => ObjectReference),
  3: msgs('imagePullSecrets', () => LocalObjectReference),
  4: bool('automountServiceAccountToken', { keepZero: true }),
});

const ServicePort = spec('ServicePort', {
  1: str('name'),
  2: str('protocol'),
  3: int32('port', { keepZero: true }),
  4: intOrString('targetPort'),
  5: int32('nodePort'),
  6: str('appProtocol', { keepZero: true }),
});
const ClientIPConfig = spec('ClientIPConfig', { 1: int32('timeoutSeconds', { keepZero: true }) });
const SessionAffinityConfig = spec('SessionAffinityConfig', { 1: msg('clientIP', () => ClientIPConfig) });
const ServiceSpec = spec('ServiceSpec', {
  1: msgs('ports', () => ServicePort),
  2: stringMap('selector'),
  3: str('clusterIP'),
  4: str('type'),
  5: strs('externalIPs'),
  7: str('sessionAffinity'),
  8: str('loadBalancerIP'),
  9: strs('loadBalancerSourceRanges'),
  10: str('externalName'),
  11: str('externalTrafficPolicy'),
  12: int32('healthCheckNodePort'),
  13: bool('publishNotReadyAddresses'),
  14: msg('sessionAffinityConfig', () => SessionAffinityConfig),
  17: str('ipFamilyPolicy', { keepZero: true }),
  18: strs('clusterIPs'),
  19: strs('ipFamilies'),
  20: bool('allocateLoadBalancerNodePorts', { keepZero: true }),
  21: str('loadBalancerClass', { keepZero: true }),
  22: str('internalTrafficPolicy', { keepZero: true }),
  23: str('trafficDistribution', { keepZero: true }),
});
const PortStatus = spec('PortStatus', { 1: int32('port', { keepZero: true }), 2: str('protocol'), 3: str('error', { keepZero: true }) });
const LoadBalancerIngress = spec('LoadBalancerIngress', { 1: str('ip'), 2: str('hostname'), 3: str('ipMode', { keepZero: true }), 4: msgs('ports', () => PortStatus) });
const LoadBalancerStatus = spec('LoadBalancerStatus', { 1: msgs('ingress', () => LoadBalancerIngress) });
const ServiceStatus = spec('ServiceStatus', { 1: msg('loadBalancer', () => LoadBalancerStatus), 2: msgs('conditions', () => Condition) });
const Service = spec('Service', { 1: msg('metadata', () => ObjectMeta), 2: msg('spec', () => ServiceSpec), 3: msg('status', () => ServiceStatus) });

const ContainerPort = spec('ContainerPort', { 1: str('name'), 2: int32('hostPort'), 3: int32('containerPort', { keepZero: true }), 4: str('protocol'), 5: str('hostIP') });
const ConfigMapKeySelector = spec('ConfigMapKeySelector', { 1: msg('localObjectReference', () => LocalObjectReference, { inline: true }), 2: str('key'), 3: bool('optional', { keepZero: true }) });
const SecretKeySelector = spec('SecretKeySelector', { 1: msg('localObjectReference', () => LocalObjectReference, { inline: true }), 2: str('key'), 3: bool('optional', { keepZero: true }) });
const ObjectFieldSelector = spec('ObjectFieldSelector', { 1: str('apiVersion'), 2: str('fieldPath') });
const ResourceFieldSelector = spec('ResourceFieldSelector', { 1: str('containerName'), 2: str('resource'), 3: { type: 'quantity', json: 'divisor' } });
const EnvVarSource = spec('EnvVarSource', {
  1: msg('fieldRef', () => ObjectFieldSelector),
  2: msg('resourceFieldRef', () => ResourceFieldSelector),
  3: msg('configMapKeyRef', () => ConfigMapKeySelector),
  4: msg('secretKeyRef', () => SecretKeySelector),
});
const EnvVar = spec('EnvVar', { 1: str('name'), 2: str('value'), 3: msg('valueFrom', () => EnvVarSource) });
const ResourceClaim = spec('ResourceClaim', { 1: str('name'), 2: str('request') });
const ResourceRequirements = spec('ResourceRequirements', {
  1: map('limits', { type: 'quantity' }),
  2: map('requests', { type: 'quantity' }),
  3: msgs('claims', () => ResourceClaim),
});
const VolumeMount = spec('VolumeMount', {
  1: str('name'),
  2: bool('readOnly'),
  3: str('mountPath'),
  4: str('subPath'),
  5: str('mountPropagation', { keepZero: true }),
  6: str('subPathExpr'),
  7: str('recursiveReadOnly', { keepZero: true }),
});
const Container = spec('Container', {
  1: str('name'),
  2: str('image'),
  3: strs('command'),
  4: strs('args'),
  5: str('workingDir'),
  6: msgs('ports', () => ContainerPort),
  7: msgs('env', () => EnvVar),
  8: msg('resources', () => ResourceRequirements),
  9: msgs('volumeMounts', () => VolumeMount),
  13: str('terminationMessagePath'),
  14: str('imagePullPolicy'),
  16: bool('stdin'),
  17: bool('stdinOnce'),
  18: bool('tty'),
  20: str('terminationMessagePolicy'),
  24: str('restartPolicy', { keepZero: true }),
});
const PodSpec = spec('PodSpec', {
  2: msgs('containers', () => Container),
  3: str('restartPolicy'),
  4: int64('terminationGracePeriodSeconds', { keepZero: true }),
  5: int64('activeDeadlineSeconds', { keepZero: true }),
  6: str('dnsPolicy'),
  7: stringMap('nodeSelector'),
  8: str('serviceAccountName'),
  9: str('serviceAccount'),
  10: str('nodeName'),
  11: bool('hostNetwork'),
  12: bool('hostPID'),
  13: bool('hostIPC'),
  15: msgs('imagePullSecrets', () => LocalObjectReference),
  16: str('hostname'),
  17: str('subdomain'),
  19: str('schedulerName'),
  20: msgs('initContainers', () => Container),
  21: bool('automountServiceAccountToken', { keepZero: true }),
  24: str('priorityClassName'),
  25: int32('priority', { keepZero: true }),
  27: bool('shareProcessNamespace', { keepZero: true }),
  29: str('runtimeClassName', { keepZero: true }),
  30: bool('enableServiceLinks', { keepZero: true }),
  31: str('preemptionPolicy', { keepZero: true }),
  35: bool('setHostnameAsFQDN', { keepZero: true }),
  37: bool('hostUsers', { keepZero: true }),
  41: str('hostnameOverride', { keepZero: true }),
});
const PodTemplateSpec = spec('PodTemplateSpec', { 1: msg('metadata', () => ObjectMeta), 2: msg('spec', () => PodSpec) });

const RollingUpdateDeployment = spec('RollingUpdateDeployment', { 1: intOrString('maxUnavailable'), 2: intOrString('maxSurge') });
const DeploymentStrategy = spec('DeploymentStrategy', { 1: str('type'), 2: msg('rollingUpdate', () => RollingUpdateDeployment) });
const DeploymentCondition = spec('DeploymentCondition', {
  1: str('type'),
  2: str('status'),
  4: str('reason'),
  5: str('message'),
  6: time('lastUpdateTime'),
  7: time('lastTransitionTime'),
});
const DeploymentSpec = spec('DeploymentSpec', {
  1: int32('replicas', { keepZero: true }),
  2: msg('selector', () => LabelSelector),
  3: msg('template', () => PodTemplateSpec),
  4: msg('strategy', () => DeploymentStrategy),
  5: int32('minReadySeconds'),
  6: int32('revisionHistoryLimit', { keepZero: true }),
  7: bool('paused'),
  9: int32('progressDeadlineSeconds', { keepZero: true }),
});
const DeploymentStatus = spec('DeploymentStatus', {
  1: int64('observedGeneration'),
  2: int32('replicas'),
  3: int32('updatedReplicas'),
  4: int32('availableReplicas'),
  5: int32('unavailableReplicas'),
  6: msgs('conditions', () => DeploymentCondition),
  7: int32('readyReplicas'),
  8: int32('collisionCount', { keepZero: true }),
  9: int32('terminatingReplicas', { keepZero: true }),
});
const Deployment = spec('Deployment', { 1: msg('metadata', () => ObjectMeta), 2: msg('spec', () => DeploymentSpec), 3: msg('status', () => DeploymentStatus) });

/** The kinds whose protobuf bodies are decoded, by `apiVersion/kind`. */
export const decodedKinds: ReadonlyMap<string, MessageSpec> = new Map([
  ['v1/Namespace', Namespace],
  ['v1/ConfigMap', ConfigMap],
  ['v1/Secret', Secret],
  ['v1/ServiceAccount', ServiceAccount],
  ['v1/Service', Service],
  ['apps/v1/Deployment', Deployment],
]);
