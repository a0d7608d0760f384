// Decodes Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`, which kubectl's
// `create <generator>` commands send) into the JSON object the same request would carry as JSON, so that
// the normal create and update paths handle them. The wire-format reader is in protobuf-wire.ts, the field
// table per message in protobuf-messages.ts.
import { ApiError } from './errors.ts';
import type { Json, JsonObject, KubeObject } from './json.ts';
import { decodedKinds, TypeMeta, type MessageSpec, type ValueKind } from './protobuf-messages.ts';
import { expectWireType, malformed, readString, wireLengthDelimited, WireReader, wireVarint } from './protobuf-wire.ts';

/** The media type of Kubernetes protobuf bodies. */
export const protobufMediaType = 'application/vnd.kubernetes.protobuf';

/** The four bytes every Kubernetes protobuf body starts with: `k8s` and a zero byte. */
const magic = [0x6b, 0x38, 0x73, 0x00] as const;

/** `apiVersion, Kind` of every kind a protobuf body may carry (for docs and error messages). */
export function protobufKinds(): string[] {
  return [...decodedKinds.keys()].map((k) => {
    const slash = k.lastIndexOf('/');
    return `${k.slice(slash + 1)} (${k.slice(0, slash)})`;
  });
}

function unsupported(what: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `${what}; accepted media types include: application/json, application/yaml, ${protobufMediaType} (kinds ${protobufKinds().join(', ')})`, {});
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
