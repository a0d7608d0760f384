// The protobuf wire format: a bounds-checked reader of varints, tags and length-delimited ranges, used by
// the Kubernetes protobuf body decoder (protobuf.ts). Every malformed input is a 400 naming where it is.
import { badRequest, type ApiError } from './errors.ts';

// Wire types: the low three bits of a field's tag.
export const wireVarint = 0;
const wireFixed64 = 1;
export const wireLengthDelimited = 2;
const wireFixed32 = 5;
const wireNames: Record<number, string> = { 0: 'varint', 1: 'fixed64', 2: 'length-delimited', 3: 'start-group', 4: 'end-group', 5: 'fixed32' };

/** A 400 for a body that is not valid protobuf; `where` is the JSON path of the message being read. */
export function malformed(where: string, what: string): ApiError {
  return badRequest(`the protobuf body is malformed: ${where === '' ? '' : `${where}: `}${what}`);
}

/** Reads protobuf wire-format primitives from one byte range; every read checks the range. */
export class WireReader {
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

/** A length-delimited UTF-8 string. */
export function readString(r: WireReader, where: string): string {
  const [start, end] = r.lengthDelimited(where);
  try {
    return utf8.decode(r.bytes.subarray(start, end));
  } catch {
    throw malformed(r.path, `${where} is not valid UTF-8`);
  }
}

/** Throws a 400 unless `wireType` is the one `where` needs. */
export function expectWireType(r: WireReader, wireType: number, expected: number, where: string): void {
  if (wireType !== expected) {
    throw malformed(r.path, `${where} has wire type ${wireType} (${wireNames[wireType] ?? 'invalid'}), expected ${expected} (${wireNames[expected]})`);
  }
}
