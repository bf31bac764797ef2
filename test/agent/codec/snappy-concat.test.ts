import snappy from "snappyjs";
import { describe, expect, it } from "vitest";
import { concatSnappyBlocks, snappyCompress } from "../../../agent/codec/snappy-compress";

describe("concatSnappyBlocks", () => {
  it("joins blocks into one whose uncompressed form is their concatenation (copies stay inside their block)", () => {
    const rnd = (n: number, seed: number) => {
      const out = new Uint8Array(n);
      let x = seed;
      for (let i = 0; i < n; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        out[i] = i % 7 === 0 ? x >>> 24 : 65 + (i % 13);
      }
      return out;
    };
    const parts = [rnd(10, 1), rnd(70_000, 2), rnd(0, 3), rnd(123_456, 4), rnd(1, 5)];
    const joined = concatSnappyBlocks(parts.map((p) => snappyCompress(p)))!;
    const expected = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      expected.set(p, at);
      at += p.length;
    }
    expect(Buffer.from(snappy.uncompress(joined))).toEqual(Buffer.from(expected));
  });

  it("refuses a block without a valid length varint", () => {
    expect(concatSnappyBlocks([new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])).toBeUndefined();
    expect(concatSnappyBlocks([new Uint8Array(0)])).toBeUndefined();
  });
});
