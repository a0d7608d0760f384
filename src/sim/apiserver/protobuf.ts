// Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`, which kubectl's
// `create <generator>` commands send) into the JSON object the same request would carry as JSON, so that
// the normal create and update paths handle them. A generic wire-format reader plus one field table per message.
import { ApiError, badRequest } from './errors.ts';
import type { Json, JsonObject, KubeObject } from './json.ts';

/** The media type of Kubernetes protobuf bodies. */
export const protobufMediaType = 'application/vnd.kubernetes.protobuf';

/** The four bytes every Kubernetes protobuf body starts with: `k8s` and a zero byte. */
const magic = [0x6b, 0x38, 0x73, 0x00] as const;

const wireVarint = 0;
const wireFixed64 = 1;
const wireLengthDelimited = 2;
const wireFixed32 = 5;
const wireNames: Record<number, string> = { 0: 'varint', 1: 'fixed64', 2: 'length-delimited', 3: 'start-group', 4: 'end-group', 5: 'fixed32' };

/** A message's Go type name and its fields by field number. */
interface MessageSpec {
  name: string;
  fields: ReadonlyMap<number, FieldSpec>;
}

/** How one field's value is read and written into JSON. */
type ValueKind =
  | { type: 'string' | 'bytes' | 'bool' | 'int32' | 'int64' | 'time' | 'intOrString' | 'quantity' | 'fieldsV1' }
  | { type: 'message'; message: () => MessageSpec };

type FieldSpec = ValueKind & {
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

const TypeMeta = spec('TypeMeta', { 1: str('apiVersion'), 2: str('kind') });

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
const decodedKinds: ReadonlyMap<string, MessageSpec> = new Map([
  ['v1/Namespace', Namespace],
  ['v1/ConfigMap', ConfigMap],
  ['v1/Secret', Secret],
  ['v1/ServiceAccount', ServiceAccount],
  ['v1/Service', Service],
  ['apps/v1/Deployment', Deployment],
]);

/** `apiVersion, Kind` of every kind a protobuf body may carry (for docs and error messages). */
export function protobufKinds(): string[] {
  return [...decodedKinds.keys()].map((k) => {
    const slash = k.lastIndexOf('/');
    return `${k.slice(slash + 1)} (${k.slice(0, slash)})`;
  });
}

// ---------------------------------------------------------------- wire format

function malformed(where: string, what: string): ApiError {
  return badRequest(`the protobuf body is malformed: ${where === '' ? '' : `${where}: `}${what}`);
}

function unsupported(what: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `${what}; accepted media types include: application/json, application/yaml, ${protobufMediaType} (kinds ${protobufKinds().join(', ')})`, {});
}

/** Reads protobuf wire-format primitives from one byte range; every read checks the range. */
class WireReader {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    /** JSON path of the message being read, for error messages. */
    readonly path: string,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint of up to 10 bytes (64 bits). */
  varint(): bigint {
    const start = this.pos;
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw malformed(this.path, `truncated varint at byte ${start}`);
      const byte = this.bytes[this.pos++] ?? 0;
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    throw malformed(this.path, `varint at byte ${start} is longer than 10 bytes`);
  }

  /** The [start, end) range of a length-delimited value. */
  lengthDelimited(field: string): [number, number] {
    const length = this.varint();
    const remaining = this.end - this.pos;
    if (length > BigInt(remaining)) throw malformed(this.path, `${field} declares ${length} bytes but only ${remaining} remain`);
    const start = this.pos;
    this.pos += Number(length);
    return [start, this.pos];
  }

  /** Skips a value of the given wire type (fields the envelope does not use). */
  skip(wireType: number, field: string): void {
    switch (wireType) {
      case wireVarint:
        this.varint();
        return;
      case wireFixed64:
      case wireFixed32: {
        const size = wireType === wireFixed64 ? 8 : 4;
        if (this.end - this.pos < size) throw malformed(this.path, `truncated ${wireNames[wireType]} value of ${field}`);
        this.pos += size;
        return;
      }
      case wireLengthDelimited:
        this.lengthDelimited(field);
        return;
      default:
        throw malformed(this.path, `${field} has unsupported wire type ${wireType} (${wireNames[wireType] ?? 'invalid'})`);
    }
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wireType: number } {
    const at = this.pos;
    const tag = this.varint();
    const field = Number(tag >> 3n);
    if (field === 0 || tag >> 3n > 0x1fffffffn) throw malformed(this.path, `invalid field number ${tag >> 3n} at byte ${at}`);
    return { field, wireType: Number(tag & 7n) };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readString(r: WireReader, where: string): string {
  const [start, end] = r.lengthDelimited(where);
  try {
    return utf8.decode(r.bytes.subarray(start, end));
  } catch {
    throw malformed(r.path, `${where} is not valid UTF-8`);
  }
}

function expectWireType(r: WireReader, wireType: number, expected: number, where: string): void {
  if (wireType !== expected) {
    throw malformed(r.path, `${where} has wire type ${wireType} (${wireNames[wireType] ?? 'invalid'}), expected ${expected} (${wireNames[expected]})`);
  }
}

function childPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

function isZero(value: Json): boolean {
  return value === '' || value === 0 || value === false || value === null;
}

/** Reads one value of `kind`; undefined means "absent" (an empty Time). */
function readValue(r: WireReader, wireType: number, kind: ValueKind, where: string, path: string): Json | undefined {
  switch (kind.type) {
    case 'string':
      expectWireType(r, wireType, wireLengthDelimited, where);
      return readString(r, where);
    case 'bytes': {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      return Buffer.from(r.bytes.buffer, r.bytes.byteOffset + start, end - start).toString('base64');
    }
    case 'bool': {
      expectWireType(r, wireType, wireVarint, where);
      return r.varint() !== 0n;
    }
    case 'int32': {
      expectWireType(r, wireType, wireVarint, where);
      // Negative int32 values are sign-extended to 64 bits on the wire.
      return Number(BigInt.asIntN(32, r.varint()));
    }
    case 'int64': {
      expectWireType(r, wireType, wireVarint, where);
      const value = BigInt.asIntN(64, r.varint());
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw malformed(r.path, `${where} value ${value} is outside the range JSON numbers hold exactly`);
      return Number(value);
    }
    case 'message': {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      return decodeMessage(new WireReader(r.bytes, start, end, path), kind.message());
    }
    case 'time': {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      return decodeTime(new WireReader(r.bytes, start, end, path));
    }
    case 'intOrString': {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      return decodeIntOrString(new WireReader(r.bytes, start, end, path));
    }
    case 'quantity': {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      const inner = new WireReader(r.bytes, start, end, path);
      let value = '';
      while (!inner.done()) {
        const { field, wireType: wt } = inner.tag();
        if (field !== 1) throw malformed(path, `unknown field ${field} in Quantity`);
        value = readValue(inner, wt, { type: 'string' }, 'field 1 (string) of Quantity', path) as string;
      }
      return value;
    }
    case 'fieldsV1': {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      const inner = new WireReader(r.bytes, start, end, path);
      let raw = '';
      while (!inner.done()) {
        const { field, wireType: wt } = inner.tag();
        if (field !== 1) throw malformed(path, `unknown field ${field} in FieldsV1`);
        raw = readValue(inner, wt, { type: 'string' }, 'field 1 (Raw) of FieldsV1', path) as string;
      }
      try {
        return JSON.parse(raw === '' ? '{}' : raw) as Json;
      } catch {
        throw malformed(path, 'FieldsV1 is not JSON');
      }
    }
  }
}

/** metav1.Time {seconds = 1, nanos = 2} as RFC 3339 with whole seconds; an empty message is the zero time. */
function decodeTime(r: WireReader): string | undefined {
  let seconds: bigint | undefined;
  while (!r.done()) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      expectWireType(r, wireType, wireVarint, 'field 1 (seconds) of Time');
      seconds = BigInt.asIntN(64, r.varint());
    } else if (field === 2) {
      expectWireType(r, wireType, wireVarint, 'field 2 (nanos) of Time');
      r.varint();
    } else throw malformed(r.path, `unknown field ${field} in Time`);
  }
  if (seconds === undefined) return undefined;
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw malformed(r.path, `Time seconds ${seconds} is out of range`);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** intstr.IntOrString {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}. */
function decodeIntOrString(r: WireReader): Json {
  let type = 0n;
  let intVal = 0;
  let strVal = '';
  while (!r.done()) {
    const { field, wireType } = r.tag();
    if (field === 1) {
      expectWireType(r, wireType, wireVarint, 'field 1 (type) of IntOrString');
      type = r.varint();
    } else if (field === 2) intVal = readValue(r, wireType, { type: 'int32' }, 'field 2 (intVal) of IntOrString', r.path) as number;
    else if (field === 3) strVal = readValue(r, wireType, { type: 'string' }, 'field 3 (strVal) of IntOrString', r.path) as string;
    else throw malformed(r.path, `unknown field ${field} in IntOrString`);
  }
  if (type === 0n) return intVal;
  if (type === 1n) return strVal;
  throw malformed(r.path, `IntOrString type ${type} is neither 0 (int) nor 1 (string)`);
}

/** A map entry {key = 1, value = 2}; both default to their zero value when absent. */
function decodeMapEntry(r: WireReader, value: ValueKind, mapName: string): [string, Json] {
  let key = '';
  let decoded: Json | undefined;
  while (!r.done()) {
    const { field, wireType } = r.tag();
    if (field === 1) key = readValue(r, wireType, { type: 'string' }, `key of ${mapName}`, r.path) as string;
    else if (field === 2) decoded = readValue(r, wireType, value, `value of ${mapName}`, r.path);
    else throw malformed(r.path, `unknown field ${field} in an entry of ${mapName}`);
  }
  if (decoded === undefined) decoded = value.type === 'message' ? {} : value.type === 'bool' ? false : value.type === 'int32' || value.type === 'int64' ? 0 : '';
  return [key, decoded];
}

function decodeMessage(r: WireReader, message: MessageSpec): JsonObject {
  const out: JsonObject = {};
  while (!r.done()) {
    const { field, wireType } = r.tag();
    const f = message.fields.get(field);
    if (f === undefined) {
      throw unsupported(`field ${field} of ${message.name}${r.path === '' ? '' : ` at ${r.path}`} is not decoded from protobuf by this server`);
    }
    const where = `field ${field} (${f.json}) of ${message.name}`;
    const path = childPath(r.path, f.json);
    if (f.mapValue !== undefined) {
      expectWireType(r, wireType, wireLengthDelimited, where);
      const [start, end] = r.lengthDelimited(where);
      const [key, value] = decodeMapEntry(new WireReader(r.bytes, start, end, path), f.mapValue, f.json);
      const target = out[f.json];
      if (target !== undefined && target !== null && typeof target === 'object' && !Array.isArray(target)) target[key] = value;
      else out[f.json] = { [key]: value };
      continue;
    }
    const value = readValue(r, wireType, f, where, f.repeated === true ? `${path}[${Array.isArray(out[f.json]) ? (out[f.json] as Json[]).length : 0}]` : path);
    if (value === undefined) continue;
    if (f.inline === true && typeof value === 'object' && value !== null && !Array.isArray(value)) Object.assign(out, value);
    else if (f.repeated === true) {
      const list = out[f.json];
      if (Array.isArray(list)) list.push(value);
      else out[f.json] = [value];
    } else if (f.keepZero === true || !isZero(value)) out[f.json] = value;
    else delete out[f.json];
  }
  return out;
}

/** Whether a Content-Type (parameters allowed) names Kubernetes protobuf. */
export function isProtobufContentType(contentType: string): boolean {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase() === protobufMediaType;
}

/**
 * Decodes a Kubernetes protobuf body: the magic `k8s\0`, then runtime.Unknown {typeMeta = 1
 * {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4}, whose `raw` is the
 * generated message of the kind. Returns the object as its JSON form would be.
 *
 * @throws ApiError 400 for a malformed body, 415 for a kind or field this server does not decode.
 * @example decodeKubeProtobuf(body) // { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' }, spec: {}, status: {} }
 */
export function decodeKubeProtobuf(body: Uint8Array): KubeObject {
  if (body.length < magic.length || magic.some((b, i) => body[i] !== b)) {
    throw malformed('', `it does not start with the Kubernetes protobuf magic bytes 6b 38 73 00 ("k8s\\0")`);
  }
  const r = new WireReader(body, magic.length, body.length, '');
  let apiVersion = '';
  let kind = '';
  let raw: [number, number] | undefined;
  let contentEncoding = '';
  while (!r.done()) {
    const { field, wireType } = r.tag();
    switch (field) {
      case 1: {
        expectWireType(r, wireType, wireLengthDelimited, 'field 1 (typeMeta) of Unknown');
        const [start, end] = r.lengthDelimited('field 1 (typeMeta) of Unknown');
        const typeMeta = decodeMessage(new WireReader(body, start, end, 'typeMeta'), TypeMeta);
        apiVersion = typeof typeMeta['apiVersion'] === 'string' ? typeMeta['apiVersion'] : '';
        kind = typeof typeMeta['kind'] === 'string' ? typeMeta['kind'] : '';
        break;
      }
      case 2:
        expectWireType(r, wireType, wireLengthDelimited, 'field 2 (raw) of Unknown');
        raw = r.lengthDelimited('field 2 (raw) of Unknown');
        break;
      case 3:
        contentEncoding = readValue(r, wireType, { type: 'string' }, 'field 3 (contentEncoding) of Unknown', '') as string;
        break;
      case 4:
        readValue(r, wireType, { type: 'string' }, 'field 4 (contentType) of Unknown', '');
        break;
      default:
        r.skip(wireType, `field ${field} of Unknown`);
    }
  }
  if (apiVersion === '' || kind === '') throw malformed('', `the envelope names no ${apiVersion === '' ? 'apiVersion' : 'kind'} (runtime.Unknown typeMeta)`);
  if (contentEncoding !== '') throw unsupported(`protobuf contentEncoding "${contentEncoding}" is not supported`);
  const message = decodedKinds.get(`${apiVersion}/${kind}`);
  if (message === undefined) throw unsupported(`protobuf bodies of kind ${kind} (${apiVersion}) are not decoded by this server`);
  if (raw === undefined) throw malformed('', `the envelope of ${kind} carries no object (runtime.Unknown raw)`);
  const decoded = decodeMessage(new WireReader(body, raw[0], raw[1], ''), message);
  return { apiVersion, kind, ...decoded } as KubeObject;
}
