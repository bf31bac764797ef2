import { describe, expect, test } from "vitest";
import * as snappyjs from "snappyjs";
import { snappyCompress, SnappyCompressor, snappyMaxCompressedLength } from "../../../agent/codec/snappy-compress";
import { seededRandom } from "../aggregate/expo-helpers";

/** Compresses with ours, checks the bound, decompresses with snappyjs (the reference). */
function roundTrip(input: Uint8Array, compressor = new SnappyCompressor()): Uint8Array {
  const compressed = compressor.compress(input);
  expect(compressed.length).toBeLessThanOrEqual(snappyMaxCompressedLength(input.length));
  const back = snappyjs.uncompress(compressed);
  expect(back.length).toBe(input.length);
  expect(Buffer.from(back).equals(Buffer.from(input))).toBe(true);
  return compressed;
}

function randomBytes(random: () => number, n: number, alphabet = 256): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * alphabet);
  return out;
}

const text = (s: string) => new TextEncoder().encode(s);

describe("SnappyCompressor output decodes with snappyjs", () => {
  test.each([0, 1, 15, 16, 17, 18, 100])("%i bytes of random data", (n) => {
    roundTrip(randomBytes(seededRandom(n), n));
  });

  test("the empty input is just its length varint", () => {
    expect(Array.from(snappyCompress(new Uint8Array(0)))).toEqual([0]);
  });

  test("short inputs (< 17 bytes) are one literal", () => {
    expect(Array.from(snappyCompress(text("abc")))).toEqual([3, (3 - 1) << 2, 0x61, 0x62, 0x63]);
  });

  test("a long run compresses to a few copies (lengths ≥ 68 split into 64s)", () => {
    const input = new Uint8Array(10_000).fill(0x41);
    const compressed = roundTrip(input);
    expect(compressed.length).toBeLessThan(600);
  });

  test("literals of every length class (< 60, < 256, < 65536) and inputs over one 64 KiB block", () => {
    const random = seededRandom(5);
    for (const n of [59, 60, 61, 255, 256, 257, 65_535, 65_536, 65_537, 200_000]) roundTrip(randomBytes(random, n));
  });

  test("copies near and far (offsets < 2048 and ≥ 2048, lengths 4–11 and longer)", () => {
    const random = seededRandom(9);
    const chunk = randomBytes(random, 5000);
    const input = new Uint8Array(40_000);
    for (let i = 0; i < input.length; i++) input[i] = chunk[(i * 7) % 5000] ^ (i % 3000 === 0 ? 1 : 0);
    roundTrip(input);
    const words = text(Array.from({ length: 3000 }, (_, i) => `series_${i % 37}{host="h${i % 11}"} ${i}`).join("\n"));
    const compressed = roundTrip(words);
    expect(compressed.length).toBeLessThan(words.length / 3);
  });

  test("random mixes of repeats and noise, with one reused compressor", () => {
    const random = seededRandom(21);
    const compressor = new SnappyCompressor();
    for (let round = 0; round < 200; round++) {
      const n = Math.floor(random() ** 2 * 150_000);
      const input = new Uint8Array(n);
      let i = 0;
      while (i < n) {
        if (i > 8 && random() < 0.5) {
          const offset = 1 + Math.floor(random() * Math.min(i, random() < 0.5 ? 64 : 70_000));
          const length = Math.min(n - i, 1 + Math.floor(random() * 300));
          for (let k = 0; k < length; k++, i++) input[i] = input[i - offset];
        } else {
          const length = Math.min(n - i, 1 + Math.floor(random() * 40));
          for (let k = 0; k < length; k++) input[i++] = Math.floor(random() * (random() < 0.5 ? 4 : 256));
        }
      }
      roundTrip(input, compressor);
    }
  });

  test("compresses about as well as snappyjs", () => {
    const random = seededRandom(4);
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(`game_metric_${i % 15}{host="gs-${i % 40}",shard="${i % 20}"} ${Math.floor(random() * 1e6)}`);
    const input = text(lines.join("\n"));
    const ours = roundTrip(input).length;
    const theirs = snappyjs.compress(input).length;
    expect(Math.abs(ours - theirs) / theirs).toBeLessThan(0.02);
  });

  test("compressToView reuses one buffer; compress returns an owned copy", () => {
    const c = new SnappyCompressor();
    const a = c.compress(text("x".repeat(1000)));
    const view1 = c.compressToView(text("y".repeat(1000)));
    const saved = view1.slice();
    c.compressToView(text("z".repeat(1000)));
    expect(Buffer.from(snappyjs.uncompress(a)).toString()).toBe("x".repeat(1000));
    expect(Buffer.from(snappyjs.uncompress(saved)).toString()).toBe("y".repeat(1000));
    expect(view1.buffer).toBe(c.compressToView(text("w")).buffer);
  });
});
