/**
 * A small protobuf wire-format writer for messages we build by hand (OTLP responses, Prometheus
 * remote-write requests). Writing the few fields we need directly keeps protobufjs and its
 * generated code out of the running agent (≈8 MiB of RSS in the compiled binary).
 *
 * Fields are appended in the order they are written; write them in field-number order to get the
 * bytes protobufjs and Go produce. proto3 default values (0, "", empty repeated) are skipped,
 * except where `writeDefault` says the field has presence (a oneof member such as prompb
 * Histogram.count_int, which must be on the wire even when 0).
 *
 * Nested messages, three ways:
 * - from finished bytes: `bytesField(field, inner.finish())` (simple; copies the inner bytes);
 * - sizes first: `lengthPrefix(field, n)` then exactly n bytes of body (no copy; use the size
 *   helpers at the end of this file);
 * - reserve and backpatch: `beginMessage(field, reservedLengthBytes)` … `endMessage()`. The
 *   length is written into the reserved bytes; only when the final length needs a different
 *   number of varint bytes is the body moved once (copyWithin), so a good guess costs nothing.
 *
 * The buffer grows geometrically; `reset()` reuses it, and `view()` returns the bytes written so
 * far without copying (valid until the next write or reset).
 */
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

const TWO_POW_32 = 2 ** 32;

const encoder = new TextEncoder();

export class ProtobufWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private pos = 0;
  /** beginMessage marks: [bodyStart, reservedLengthBytes] pairs, innermost last. */
  private readonly openMessages: number[] = [];

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(Math.max(16, initialBytes));
    this.dv = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Forgets everything written; keeps the buffer. */
  reset(): this {
    this.pos = 0;
    this.openMessages.length = 0;
    return this;
  }

  /** The bytes written so far, not copied: valid until the next write or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /**
   * Drops the first `byteCount` bytes, moving the rest to the front (one copyWithin), e.g. to
   * start the next message with the tail that did not fit the previous one.
   */
  discardPrefix(byteCount: number): this {
    if (!(byteCount >= 0 && byteCount <= this.pos) || this.openMessages.length > 0) {
      throw new Error(`BUG: cannot discard ${byteCount} of ${this.pos} bytes (${this.openMessages.length / 2} open messages)`);
    }
    this.buf.copyWithin(0, byteCount, this.pos);
    this.pos -= byteCount;
    return this;
  }

  // ---------------------------------------------------------------------------------------------
  // Fields

  /**
   * uint64/int64 (non-negative, ≤ 2^53) or int32/uint32 field as a varint. Zero is skipped
   * (proto3 default) unless `writeDefault`.
   */
  varintField(field: number, value: number, writeDefault = false): this {
    if (value === 0 && !writeDefault) return this;
    this.writeTag(field, WIRE_VARINT);
    return this.writeVarint(value);
  }

  /** int64 field from a safe integer; negatives take 10 bytes (two's complement). Zero skipped. */
  int64Field(field: number, value: number): this {
    if (value === 0) return this;
    this.writeTag(field, WIRE_VARINT);
    return this.writeInt64(value);
  }

  /** sint32 / sint64 field (zigzag varint) from a safe integer. Zero is skipped. */
  sint64Field(field: number, value: number): this {
    if (value === 0) return this;
    this.writeTag(field, WIRE_VARINT);
    return this.writeSint64(value);
  }

  /** sint32 field; throws for values outside int32 (a caller bug). Zero is skipped. */
  sint32Field(field: number, value: number): this {
    if ((value | 0) !== value) throw new Error(`BUG: sint32 out of range (${value})`);
    return this.sint64Field(field, value);
  }

  /**
   * double field, 8 bytes little-endian. +0 is skipped (proto3 default; -0 is written, as
   * protobufjs and C++ protobuf do) unless `writeDefault`.
   */
  doubleField(field: number, value: number, writeDefault = false): this {
    if (Object.is(value, 0) && !writeDefault) return this;
    this.writeTag(field, WIRE_FIXED64);
    return this.writeDouble(value);
  }

  /**
   * A fixed64/double field from 8 raw bytes (little-endian wire order), for bit patterns a JS
   * number cannot carry, e.g. the Prometheus stale NaN (JSC canonicalises NaN payloads).
   */
  fixed64BytesField(field: number, bytes: Uint8Array): this {
    if (bytes.length !== 8) throw new Error(`BUG: fixed64 needs 8 bytes (got ${bytes.length})`);
    this.writeTag(field, WIRE_FIXED64);
    return this.writeRawBytes(bytes);
  }

  /** string field, UTF-8. Empty strings are skipped (proto3 default). */
  stringField(field: number, value: string): this {
    if (value === "") return this;
    this.writeTag(field, WIRE_LEN);
    const byteLength = utf8Length(value);
    this.writeVarint(byteLength);
    this.ensure(byteLength);
    if (byteLength === value.length) {
      const buf = this.buf;
      let pos = this.pos;
      for (let i = 0; i < value.length; i++) buf[pos++] = value.charCodeAt(i);
      this.pos = pos;
    } else {
      this.pos += encoder.encodeInto(value, this.buf.subarray(this.pos, this.pos + byteLength)).written;
    }
    return this;
  }

  /** bytes field or an embedded message's encoded bytes (written even when empty). */
  bytesField(field: number, bytes: Uint8Array): this {
    this.writeTag(field, WIRE_LEN);
    this.writeVarint(bytes.length);
    return this.writeRawBytes(bytes);
  }

  /** packed repeated sint32/sint64 (zigzag) of values[start, end). Empty ranges are skipped. */
  packedSint64Field(field: number, values: ArrayLike<number>, start = 0, end = values.length): this {
    if (end <= start) return this;
    let byteLength = 0;
    for (let i = start; i < end; i++) byteLength += varintSize(zigzag(values[i]));
    this.lengthPrefix(field, byteLength);
    for (let i = start; i < end; i++) this.writeSint64(values[i]);
    return this;
  }

  /**
   * packed repeated uint32/uint64 of values[start, end) (non-negative safe integers, e.g.
   * zigzag-encoded sint64 deltas). `byteLength`, when the caller already knows it, saves a pass.
   * Empty ranges are skipped.
   */
  packedVarintField(field: number, values: ArrayLike<number>, start = 0, end = values.length, byteLength = -1): this {
    if (end <= start) return this;
    if (byteLength < 0) {
      byteLength = 0;
      for (let i = start; i < end; i++) byteLength += varintSize(values[i]);
    }
    this.lengthPrefix(field, byteLength);
    this.ensure(byteLength);
    const bodyStart = this.pos;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (v < 0x80 && v >= 0 && v === (v | 0)) this.buf[this.pos++] = v; // one-byte fast path
      else this.writeVarint(v);
    }
    if (this.pos - bodyStart !== byteLength) throw new Error(`BUG: packed varints took ${this.pos - bodyStart} bytes, ${byteLength} announced`);
    return this;
  }

  /** packed repeated double of values[start, end). Empty ranges are skipped. */
  packedDoubleField(field: number, values: ArrayLike<number>, start = 0, end = values.length): this {
    if (end <= start) return this;
    this.lengthPrefix(field, (end - start) * 8);
    for (let i = start; i < end; i++) this.writeDouble(values[i]);
    return this;
  }

  // ---------------------------------------------------------------------------------------------
  // Nested messages

  /** Tag and length of a length-delimited field whose `byteLength` body bytes come next. */
  lengthPrefix(field: number, byteLength: number): this {
    this.writeTag(field, WIRE_LEN);
    return this.writeVarint(byteLength);
  }

  /**
   * Opens an embedded message (field `field`), reserving `reservedLengthBytes` (1–5) for its
   * length; close it with endMessage(). Messages nest.
   */
  beginMessage(field: number, reservedLengthBytes = 1): this {
    if (!(reservedLengthBytes >= 1 && reservedLengthBytes <= 5)) {
      throw new Error(`BUG: reservedLengthBytes must be 1..5 (got ${reservedLengthBytes})`);
    }
    this.writeTag(field, WIRE_LEN);
    this.ensure(reservedLengthBytes);
    this.pos += reservedLengthBytes;
    this.openMessages.push(this.pos, reservedLengthBytes);
    return this;
  }

  /** Closes the innermost beginMessage: writes its length, moving the body if the width differs. */
  endMessage(): this {
    const reserved = this.openMessages.pop();
    const bodyStart = this.openMessages.pop();
    if (reserved === undefined || bodyStart === undefined) throw new Error("BUG: endMessage without beginMessage");
    const bodyLength = this.pos - bodyStart;
    const width = varintSize(bodyLength);
    const lengthStart = bodyStart - reserved;
    if (width !== reserved) {
      this.ensure(width - reserved);
      this.buf.copyWithin(lengthStart + width, bodyStart, this.pos);
      this.pos += width - reserved;
    }
    const end = this.pos;
    this.pos = lengthStart;
    this.writeVarint(bodyLength);
    this.pos = end;
    return this;
  }

  // ---------------------------------------------------------------------------------------------
  // Raw writes, for hand-written hot loops. The caller keeps the message well-formed.

  writeTag(field: number, wire: number): this {
    return this.writeVarint(field * 8 + wire);
  }

  /** A varint of a non-negative safe integer. */
  writeVarint(value: number): this {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(value)) {
      throw new Error(`BUG: varint out of range (${value})`);
    }
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    if (value < TWO_POW_32) {
      let v = value >>> 0;
      while (v > 0x7f) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      buf[pos++] = v;
    } else {
      pos = writeVarint64(buf, pos, value >>> 0, Math.floor(value / TWO_POW_32) >>> 0);
    }
    this.pos = pos;
    return this;
  }

  /** An int64 varint of a safe integer (negatives as 64-bit two's complement, 10 bytes). */
  writeInt64(value: number): this {
    if (value >= 0) return this.writeVarint(value);
    if (!(value >= Number.MIN_SAFE_INTEGER) || !Number.isInteger(value)) throw new Error(`BUG: int64 out of range (${value})`);
    this.ensure(10);
    this.pos = writeVarint64(this.buf, this.pos, value >>> 0, Math.floor(value / TWO_POW_32) >>> 0);
    return this;
  }

  /** A zigzag varint of a safe integer (sint32/sint64), exact over the whole safe range. */
  writeSint64(value: number): this {
    if (!Number.isSafeInteger(value)) throw new Error(`BUG: sint64 out of range (${value})`);
    if (value >= 0 && value <= 0x3fffffff) return this.writeVarint(value * 2);
    // 2|v| or 2|v| - 1 in two 32-bit words: (m << 1) | sign with m = v or -v - 1.
    const m = value >= 0 ? value : -value - 1;
    const lo = m >>> 0;
    const hi = Math.floor(m / TWO_POW_32) >>> 0;
    this.ensure(10);
    this.pos = writeVarint64(this.buf, this.pos, ((lo << 1) | (value < 0 ? 1 : 0)) >>> 0, ((hi << 1) | (lo >>> 31)) >>> 0);
    return this;
  }

  /** 8 bytes, IEEE-754 little-endian. */
  writeDouble(value: number): this {
    this.ensure(8);
    this.dv.setFloat64(this.pos, value, true);
    this.pos += 8;
    return this;
  }

  /** Pre-encoded bytes (e.g. cached label fields), appended as they are. */
  writeRawBytes(bytes: Uint8Array): this {
    const n = bytes.length;
    this.ensure(n);
    if (n <= 16) {
      const buf = this.buf;
      const pos = this.pos;
      for (let i = 0; i < n; i++) buf[pos + i] = bytes[i];
    } else {
      this.buf.set(bytes, this.pos);
    }
    this.pos += n;
    return this;
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + extra));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
}

/** Writes the 64-bit varint lo + hi·2^32 at pos; returns the new position. */
function writeVarint64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

// -----------------------------------------------------------------------------------------------
// Sizes, for writing a message's length before its body.

/** Bytes of the varint of a non-negative safe integer. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 5;
  for (let v = Math.floor(value / 0x800000000); v > 0; v = Math.floor(v / 0x80)) size++;
  return size;
}

/**
 * Zigzag mapping of a safe integer (sint32/sint64): 0, -1, 1, -2 … → 0, 1, 2, 3 … Exact for
 * |value| < 2^52; beyond that the result is rounded but still has the right varint size.
 */
export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/** Bytes of a field's tag. */
export function tagSize(field: number): number {
  return varintSize(field * 8);
}

/** UTF-8 byte length of a string (lone surrogates count as U+FFFD, 3 bytes, as TextEncoder writes them). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // surrogate pair: 2 UTF-16 units → 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}
