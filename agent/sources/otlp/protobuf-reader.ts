/**
 * Protobuf wire-format primitives over one request body, with strict bounds and strict UTF-8.
 *
 * Wire format: a message is a sequence of (tag varint = field << 3 | wireType, payload).
 * Wire types: 0 varint (≤ 10 bytes), 1 fixed 8 bytes, 2 length-delimited (varint length +
 * bytes), 5 fixed 4 bytes; 3/4 are proto2 groups (skipped when unknown), 6/7 do not exist.
 *
 * Every read is checked against `limit`, the end of the message being decoded, never just the
 * end of the buffer: a nested length that overruns its parent is malformed input. A malformed
 * body throws `MalformedProtobufError`; the decoder that owns the reader catches it at its
 * boundary and returns an error value (STYLE §5), so it never reaches callers. Throwing keeps the
 * hot loops free of an error check after every primitive read, as protobufjs does.
 *
 * 64-bit reads leave the two halves in `lo` / `hi` (unsigned 32-bit each) instead of allocating.
 * Strings are validated without throwing: `string()` returns null for broken UTF-8 so the caller
 * can reject just the affected data point. (protobufjs' Reader.string() silently substitutes
 * U+FFFD; its 8.x generated decoders use stringVerify(), which throws and loses the request.)
 */
import { Buffer } from "node:buffer";

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_SGROUP = 3;
export const WIRE_EGROUP = 4;
export const WIRE_I32 = 5;

const TWO_POW_32 = 4294967296;
const MAX_GROUP_DEPTH = 64;
/** Strings up to this many bytes are interned per body (label keys and values repeat a lot). */
const MAX_INTERNED_BYTES = 64;
const MIN_INTERN_SLOTS = 64;
const MAX_INTERN_SLOTS = 4096;

export class MalformedProtobufError extends Error {
  override readonly name = "MalformedProtobufError";
}

export class ProtobufReader {
  readonly buf: Uint8Array;
  pos = 0;
  /** End of the message currently being decoded (exclusive). */
  limit: number;
  /** Halves of the last 64-bit read (varint64 / fixed64), both unsigned. */
  lo = 0;
  hi = 0;

  private readonly view: DataView;
  private readonly bytes: Buffer;
  private readonly utf8: TextDecoder;
  /**
   * Direct-mapped intern table, sized to the body (about one slot per 32 bytes): slot i holds
   * the offset of its bytes in buf at [2i], their length at [2i+1] (0 = empty slot), and the
   * decoded string in internValue[i].
   */
  private internBytes: Int32Array | undefined;
  private internValue: Array<string | null> = [];
  private internMask = 0;

  /** `utf8` must be a fatal decoder with ignoreBOM: it is shared across requests. */
  constructor(buf: Uint8Array, utf8: TextDecoder) {
    this.buf = buf;
    this.limit = buf.length;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength); // a view, not a copy
    this.utf8 = utf8;
  }

  /** The intern table is built on the first stringAt(): readers that only scan bytes never pay for it. */
  private internTable(): Int32Array {
    let slots = MIN_INTERN_SLOTS;
    while (slots < MAX_INTERN_SLOTS && slots * 32 < this.buf.length) slots *= 2;
    this.internBytes = new Int32Array(slots * 2);
    this.internValue = new Array<string | null>(slots).fill(null);
    this.internMask = slots - 1;
    return this.internBytes;
  }

  hasMore(): boolean {
    return this.pos < this.limit;
  }

  /** Reads a tag; rejects field number 0 and wire types 6/7. */
  tag(): number {
    const tag = this.uint32();
    const wireType = tag & 7;
    if (tag >>> 3 === 0 || this.hi !== 0) this.fail("invalid field number");
    if (wireType > WIRE_I32) this.fail(`invalid wire type ${wireType}`);
    return tag;
  }

  /** Varint truncated to its low 32 bits (uint32, int32 after `| 0`, enum, bool); sets hi too. */
  uint32(): number {
    const pos = this.pos;
    if (pos < this.limit) {
      const b = this.buf[pos];
      if (b < 0x80) {
        this.pos = pos + 1;
        this.hi = 0;
        return b;
      }
    }
    this.varint64();
    return this.lo;
  }

  /** zigzag-decoded sint32. */
  sint32(): number {
    const n = this.uint32();
    return (n >>> 1) ^ -(n & 1);
  }

  /** Reads a varint of up to 10 bytes into lo / hi. */
  varint64(): void {
    const buf = this.buf;
    const limit = this.limit;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= limit) this.fail("truncated varint");
      b = buf[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) return this.setVarint(pos, lo, 0);
    }
    if (pos >= limit) this.fail("truncated varint");
    b = buf[pos++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b < 0x80) return this.setVarint(pos, lo, hi);
    for (let shift = 3; shift < 32; shift += 7) {
      if (pos >= limit) this.fail("truncated varint");
      b = buf[pos++];
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) return this.setVarint(pos, lo, hi);
    }
    this.fail("varint longer than 10 bytes");
  }

  fixed64(): void {
    const pos = this.need(8);
    this.lo = this.view.getUint32(pos, true);
    this.hi = this.view.getUint32(pos + 4, true);
  }

  double(): number {
    return this.view.getFloat64(this.need(8), true);
  }

  /** lo / hi of the last 64-bit read as an unsigned number (exact below 2^53). */
  uint64Number(): number {
    return this.hi * TWO_POW_32 + this.lo;
  }

  /** lo / hi of the last 64-bit read as a signed number (exact for |n| < 2^53). */
  int64Number(): number {
    return (this.hi | 0) * TWO_POW_32 + this.lo;
  }

  /**
   * Reads a length prefix and returns the end of the payload; pos is left at its start. The
   * payload must fit inside the current limit.
   */
  lengthDelimitedEnd(): number {
    const length = this.uint32();
    if (this.hi !== 0) this.fail("length does not fit 32 bits");
    if (length > this.limit - this.pos) this.fail(`length ${length} overruns its message`);
    return this.pos + length;
  }

  /**
   * Decodes buf[start, end) as strict UTF-8; null when it is not valid UTF-8. Short strings are
   * interned: the same bytes later in the body return the same string without decoding again
   * (a cache hit costs one hash and one compare pass over the bytes, ~3× cheaper than a decode).
   */
  stringAt(start: number, end: number): string | null {
    const length = end - start;
    if (length === 0) return "";
    if (length > MAX_INTERNED_BYTES) return this.decodeString(start, end);
    const buf = this.buf;
    const table = this.internBytes ?? this.internTable();
    let hash = 0x811c9dc5; // FNV-1a
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ buf[i], 0x01000193);
    const slot = (hash ^ (hash >>> 15)) & this.internMask;
    if (table[2 * slot + 1] === length && this.isSameBytes(table[2 * slot], start, length)) {
      return this.internValue[slot];
    }
    const value = this.decodeString(start, end);
    table[2 * slot] = start;
    table[2 * slot + 1] = length;
    this.internValue[slot] = value;
    return value;
  }

  /** Reads a length-delimited string; null when it is not valid UTF-8. */
  string(): string | null {
    const end = this.lengthDelimitedEnd();
    const start = this.pos;
    this.pos = end;
    return this.stringAt(start, end);
  }

  /** Skips the payload of a field whose tag was just read. */
  skip(tag: number): void {
    switch (tag & 7) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        this.need(8);
        return;
      case WIRE_LEN:
        this.pos = this.lengthDelimitedEnd();
        return;
      case WIRE_I32:
        this.need(4);
        return;
      case WIRE_SGROUP:
        this.skipGroup(tag >>> 3);
        return;
      default:
        this.fail("unexpected end-group tag");
    }
  }

  /** Fails unless the tag just read has the wire type the schema gives its field. */
  expect(tag: number, wireType: number): void {
    if ((tag & 7) !== wireType) {
      this.fail(`field ${tag >>> 3} has wire type ${tag & 7}, expected ${wireType}`);
    }
  }

  fail(reason: string): never {
    throw new MalformedProtobufError(`${reason} at byte ${this.pos}`);
  }

  private setVarint(pos: number, lo: number, hi: number): void {
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** Advances past n bytes and returns where they start. */
  private need(n: number): number {
    const pos = this.pos;
    if (n > this.limit - pos) this.fail("truncated fixed-width field");
    this.pos = pos + n;
    return pos;
  }

  private isSameBytes(a: number, b: number, length: number): boolean {
    const buf = this.buf;
    for (let i = 0; i < length; i++) if (buf[a + i] !== buf[b + i]) return false;
    return true;
  }

  private decodeString(start: number, end: number): string | null {
    const buf = this.buf;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) return this.decodeNonAscii(start, end);
    }
    // Pure ASCII: latin1 maps each byte to the same code point, and skips the UTF-8 state machine.
    return this.bytes.toString("latin1", start, end);
  }

  private decodeNonAscii(start: number, end: number): string | null {
    try {
      return this.utf8.decode(this.buf.subarray(start, end));
    } catch {
      return null;
    }
  }

  /** proto2 groups: skip nested fields until the matching end-group tag. */
  private skipGroup(fieldNumber: number): void {
    const open = [fieldNumber];
    while (open.length > 0) {
      if (open.length > MAX_GROUP_DEPTH) this.fail("groups nested too deeply");
      const tag = this.tag();
      const wireType = tag & 7;
      if (wireType === WIRE_SGROUP) open.push(tag >>> 3);
      else if (wireType !== WIRE_EGROUP) this.skip(tag);
      else if (open.pop() !== tag >>> 3) this.fail("mismatched end-group tag");
    }
  }
}
