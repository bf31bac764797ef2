import { describe, expect, test } from "vitest";
import $protobuf from "protobufjs/minimal.js";
import { ProtobufWriter, tagSize, utf8Length, varintSize, zigzag } from "../../../agent/codec/protobuf-writer";
import { seededRandom } from "../aggregate/expo-helpers";

/** protobufjs' writer, the reference: build with it, compare bytes. */
function reference(build: (w: $protobuf.Writer) => void): Uint8Array {
  const w = $protobuf.Writer.create();
  build(w);
  return w.finish();
}

const bytes = (u: Uint8Array): number[] => Array.from(u);

const VARINTS = [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 - 1, 2 ** 35, 2 ** 42, 2 ** 49, Number.MAX_SAFE_INTEGER];
const SIGNED = [0, 1, -1, 63, -64, 64, -65, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 40, -(2 ** 40), 2 ** 52, -(2 ** 52), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];

describe("ProtobufWriter scalar fields match protobufjs", () => {
  test.each(VARINTS)("uint64 %d", (v) => {
    const ours = new ProtobufWriter().varintField(3, v, true).finish();
    expect(bytes(ours)).toEqual(bytes(reference((w) => w.uint32(24).uint64(v))));
    expect(ours.length).toBe(tagSize(3) + varintSize(v));
  });

  test.each(SIGNED)("int64 %d", (v) => {
    const ours = new ProtobufWriter().int64Field(15, v).finish();
    expect(bytes(ours)).toEqual(v === 0 ? [] : bytes(reference((w) => w.uint32(120).int64(v))));
  });

  test.each(SIGNED)("sint64 %d (zigzag)", (v) => {
    const ours = new ProtobufWriter().sint64Field(12, v).finish();
    expect(bytes(ours)).toEqual(v === 0 ? [] : bytes(reference((w) => w.uint32(96).sint64(v))));
    expect(varintSize(zigzag(v)) + 1).toBe(v === 0 ? 2 : ours.length);
  });

  test.each([0, 1, -1, 8, -4, 2 ** 31 - 1, -(2 ** 31)])("sint32 %d", (v) => {
    const ours = new ProtobufWriter().sint32Field(4, v).finish();
    expect(bytes(ours)).toEqual(v === 0 ? [] : bytes(reference((w) => w.uint32(32).sint32(v))));
  });

  test("sint32 outside int32 is a bug", () => {
    expect(() => new ProtobufWriter().sint32Field(4, 2 ** 31)).toThrow(/^BUG: /);
  });

  test.each([1, -0, 0.1, -2.5, 1e300, Number.MIN_VALUE, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN])("double %d", (v) => {
    const ours = new ProtobufWriter().doubleField(1, v).finish();
    expect(bytes(ours)).toEqual(bytes(reference((w) => w.uint32(9).double(v))));
  });

  test("+0 doubles and zero varints are skipped unless written as present", () => {
    expect(new ProtobufWriter().doubleField(1, 0).varintField(2, 0).sint64Field(3, 0).int64Field(4, 0).finish()).toHaveLength(0);
    expect(bytes(new ProtobufWriter().doubleField(2, 0, true).varintField(6, 0, true).finish())).toEqual([0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0]);
  });

  test("fixed64 from raw bytes keeps a bit pattern a number cannot carry", () => {
    const stale = Uint8Array.of(0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f);
    expect(bytes(new ProtobufWriter().fixed64BytesField(3, stale).finish())).toEqual([0x19, ...stale]);
    expect(() => new ProtobufWriter().fixed64BytesField(3, new Uint8Array(4))).toThrow(/^BUG: /);
  });

  test.each(["", "a", "héllo", "日本語", "🎮 game", "x".repeat(300)])("string %j", (s) => {
    const ours = new ProtobufWriter().stringField(2, s).finish();
    expect(bytes(ours)).toEqual(s === "" ? [] : bytes(reference((w) => w.uint32(18).string(s))));
    expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
  });

  test("a lone surrogate becomes U+FFFD (valid UTF-8, as TextEncoder writes it; protobufjs would not)", () => {
    const s = "a\ud800b\udc00";
    const utf8 = new TextEncoder().encode(s);
    expect(bytes(new ProtobufWriter().stringField(2, s).finish())).toEqual([18, utf8.length, ...utf8]);
    expect(utf8Length(s)).toBe(utf8.length);
  });

  test.each([-1, 1.5, Number.NaN, 2 ** 53])("a varint of %d is a bug", (v) => {
    expect(() => new ProtobufWriter().varintField(1, v)).toThrow(/^BUG: varint out of range/);
  });
});

describe("ProtobufWriter packed and nested fields match protobufjs", () => {
  test("packed sint64, varint and double", () => {
    const deltas = [3, 2, -4, 2, -1, 2 ** 40, -(2 ** 40)];
    const ours = new ProtobufWriter()
      .packedSint64Field(12, deltas)
      .packedVarintField(9, deltas.map(zigzag))
      .packedDoubleField(13, [1.5, -2, 1e-300])
      .packedSint64Field(8, [])
      .finish();
    const want = reference((w) => {
      w.uint32(98).fork();
      for (const d of deltas) w.sint64(d);
      w.ldelim();
      w.uint32(74).fork();
      for (const d of deltas) w.sint64(d);
      w.ldelim();
      w.uint32(106).fork();
      for (const d of [1.5, -2, 1e-300]) w.double(d);
      w.ldelim();
    });
    expect(bytes(ours)).toEqual(bytes(want));
  });

  test("packed ranges write values[start, end) and check an announced length", () => {
    expect(bytes(new ProtobufWriter().packedVarintField(1, [9, 1, 2, 9], 1, 3).finish())).toEqual([0x0a, 2, 1, 2]);
    expect(() => new ProtobufWriter().packedVarintField(1, [300], 0, 1, 1)).toThrow(/^BUG: packed varints took 2 bytes, 1 announced/);
  });

  test("beginMessage/endMessage nest and move the body only when the reserved width is wrong", () => {
    for (const reserve of [1, 2, 3, 5]) {
      const w = new ProtobufWriter(8);
      w.beginMessage(1, reserve).stringField(1, "a".repeat(200)).beginMessage(2, reserve).varintField(1, 7).endMessage().endMessage();
      w.beginMessage(3, reserve).endMessage();
      const want = reference((r) => {
        r.uint32(10).fork().uint32(10).string("a".repeat(200)).uint32(18).fork().uint32(8).uint32(7).ldelim().ldelim();
        r.uint32(26).fork().ldelim();
      });
      expect(bytes(w.finish())).toEqual(bytes(want));
    }
    expect(() => new ProtobufWriter().endMessage()).toThrow(/^BUG: /);
    expect(() => new ProtobufWriter().beginMessage(1, 0)).toThrow(/^BUG: /);
  });

  test("lengthPrefix + raw bytes, the sizes-first way", () => {
    const inner = new ProtobufWriter().stringField(1, "x").finish();
    const ours = new ProtobufWriter().lengthPrefix(4, inner.length).writeRawBytes(inner).finish();
    expect(bytes(ours)).toEqual(bytes(new ProtobufWriter().bytesField(4, inner).finish()));
  });
});

describe("ProtobufWriter buffer handling", () => {
  test("grows from a tiny buffer, view() does not copy, finish() does", () => {
    const w = new ProtobufWriter(1);
    const random = seededRandom(3);
    const want = $protobuf.Writer.create();
    for (let i = 0; i < 2000; i++) {
      const v = Math.floor(random() * 2 ** 40);
      w.varintField(1 + (i % 20), v);
      if (v !== 0) want.uint32((1 + (i % 20)) * 8).uint64(v);
      w.doubleField(21, random());
    }
    const view = w.view();
    const copy = w.finish();
    expect(view.length).toBe(w.length);
    expect(bytes(copy)).toEqual(bytes(view));
    view[0] ^= 0xff;
    expect(copy[0]).not.toBe(view[0]);
  });

  test("reset() starts over on the same buffer; discardPrefix() keeps the tail", () => {
    const w = new ProtobufWriter();
    w.stringField(1, "first").stringField(2, "second");
    const first = new ProtobufWriter().stringField(1, "first").finish().length;
    w.discardPrefix(first);
    expect(bytes(w.finish())).toEqual(bytes(new ProtobufWriter().stringField(2, "second").finish()));
    w.reset();
    expect(w.length).toBe(0);
    w.varintField(1, 1);
    expect(bytes(w.finish())).toEqual([8, 1]);
    expect(() => w.discardPrefix(5)).toThrow(/^BUG: /);
  });

  test("the OTLP response encoder's use (nested message from finished bytes) is unchanged", () => {
    const inner = new ProtobufWriter().varintField(1, 3).stringField(2, "why").finish();
    const outer = new ProtobufWriter().bytesField(1, inner).finish();
    expect(bytes(outer)).toEqual([0x0a, 7, 0x08, 3, 0x12, 3, 0x77, 0x68, 0x79]);
  });
});
