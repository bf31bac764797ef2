/**
 * A small protobuf wire-format writer for messages we build by hand (OTLP responses; later the
 * remote-write encoder). Writing the few fields we need directly keeps protobufjs and its
 * generated code out of the running agent (≈8 MiB of RSS in the compiled binary).
 *
 * Usage: fields are appended in order; a nested message is written from its finished bytes.
 */
const WIRE_VARINT = 0;
const WIRE_LEN = 2;

const encoder = new TextEncoder();

export class ProtobufWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(initialBytes);
  }

  /** uint64/int64 (non-negative, ≤ 2^53) or int32 field as a varint. Zero is skipped (proto3 default). */
  varintField(field: number, value: number): this {
    if (value === 0) return this;
    this.tag(field, WIRE_VARINT);
    return this.varint(value);
  }

  /** string field, UTF-8. Empty strings are skipped (proto3 default). */
  stringField(field: number, value: string): this {
    if (value === "") return this;
    return this.bytesField(field, encoder.encode(value));
  }

  /** bytes field or an embedded message's encoded bytes (written even when empty). */
  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(bytes.length);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private varint(value: number): this {
    if (value < 0 || !Number.isInteger(value) || value > Number.MAX_SAFE_INTEGER) {
      throw new Error(`BUG: varint out of range (${value})`);
    }
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + extra));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}
