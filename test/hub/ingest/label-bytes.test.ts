import { describe, expect, test } from "vitest";
import { compareBytes, isMetricNameLabel, isValidLabelNameBytes, isValidUtf8 } from "../../../hub/ingest/label-bytes";
import { hashLabelBytes, labelBytesOf, VerdictCache, type CacheEntry } from "../../../hub/ingest/verdict-cache";
import { ascii, prng } from "./ingest-test-helpers";

const FATAL_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodesStrictly(bytes: Uint8Array): boolean {
  try {
    FATAL_UTF8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

describe("isValidUtf8", () => {
  test.each([
    ["ASCII", [0x61, 0x62], true],
    ["2-byte é", [0xc3, 0xa9], true],
    ["3-byte €", [0xe2, 0x82, 0xac], true],
    ["4-byte 😀", [0xf0, 0x9f, 0x98, 0x80], true],
    ["U+10FFFF", [0xf4, 0x8f, 0xbf, 0xbf], true],
    ["a lone continuation byte", [0x80], false],
    ["overlong 2-byte (c0 80)", [0xc0, 0x80], false],
    ["overlong 3-byte (e0 80 80)", [0xe0, 0x80, 0x80], false],
    ["overlong 4-byte (f0 80 80 80)", [0xf0, 0x80, 0x80, 0x80], false],
    ["a surrogate (ed a0 80)", [0xed, 0xa0, 0x80], false],
    ["above U+10FFFF (f4 90 80 80)", [0xf4, 0x90, 0x80, 0x80], false],
    ["f5 and up", [0xf5, 0x80, 0x80, 0x80], false],
    ["truncated 3-byte at the end", [0x61, 0xe2, 0x82], false],
    ["a lead byte followed by ASCII", [0xc3, 0x28], false],
  ])("%s", (_what, bytes, valid) => {
    const buf = Uint8Array.from(bytes);
    expect(isValidUtf8(buf, 0, buf.length)).toBe(valid);
    expect(decodesStrictly(buf)).toBe(valid);
  });

  test("agrees with a fatal TextDecoder on 20,000 random short byte strings", () => {
    const random = prng(5);
    for (let i = 0; i < 20_000; i++) {
      // Bias toward high bytes so multi-byte sequences are common.
      const buf = Uint8Array.from({ length: 1 + Math.floor(random() * 6) }, () => (random() < 0.7 ? 0x80 + Math.floor(random() * 128) : Math.floor(random() * 128)));
      expect(isValidUtf8(buf, 0, buf.length), Array.from(buf).join(",")).toBe(decodesStrictly(buf));
    }
  });

  test("checks only the given range", () => {
    const buf = Uint8Array.of(0xff, 0x61, 0x62, 0xff);
    expect(isValidUtf8(buf, 1, 3)).toBe(true);
  });
});

describe("label name bytes", () => {
  test.each([
    ["job", true],
    ["_x9", true],
    ["__name__", true],
    ["9x", false],
    ["a-b", false],
    ["é", false],
    ["", false],
  ])("%j valid: %s", (name, valid) => {
    const buf = ascii(name);
    expect(isValidLabelNameBytes(buf, 0, buf.length)).toBe(valid);
  });

  test("__name__ is recognised by its bytes", () => {
    const buf = ascii("x__name__");
    expect(isMetricNameLabel(buf, 1, 9)).toBe(true);
    expect(isMetricNameLabel(buf, 0, 8)).toBe(false);
  });

  test("compareBytes is byte order, shorter prefix first", () => {
    const buf = ascii("abcabZab");
    expect(Math.sign(compareBytes(buf, 0, 3, 3, 6))).toBe(1); // "abc" > "abZ"
    expect(Math.sign(compareBytes(buf, 6, 8, 0, 3))).toBe(-1); // "ab" < "abc"
    expect(compareBytes(buf, 0, 2, 6, 8)).toBe(0);
  });
});

describe("VerdictCache", () => {
  function add<V>(cache: VerdictCache<V>, key: string, value: V, after?: CacheEntry<V>): CacheEntry<V> {
    return cache.add(labelBytesOf(ascii(key)), 0, key.length, value, after);
  }
  function lookup<V>(cache: VerdictCache<V>, key: string, after?: CacheEntry<V>): CacheEntry<V> | undefined {
    const bytes = ascii(`..${key}`); // not at offset 0, to check offsets are honoured
    return cache.get(labelBytesOf(bytes), 2, bytes.length, after);
  }
  const get = <V,>(cache: VerdictCache<V>, key: string): V | undefined => lookup(cache, key)?.value;

  test("holds at most maxEntries and keeps recently used entries", () => {
    const cache = new VerdictCache<number>(10);
    for (let i = 0; i < 5; i++) add(cache, `k${i}`, i);
    for (let i = 5; i < 10; i++) add(cache, `k${i}`, i); // k0..k4 move to the older generation
    expect(get(cache, "k0")).toBe(0); // found in the older generation, moved to the newer one
    for (let i = 10; i < 15; i++) add(cache, `k${i}`, i);
    expect(cache.size).toBeLessThanOrEqual(10);
    expect(get(cache, "k1")).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
  });

  test("a hit hands back the entry (and hash) made when the entry was added", () => {
    const cache = new VerdictCache<number>(10);
    const added = add(cache, "__name__ up", 1);
    const found = lookup(cache, "__name__ up");
    expect(found).toBe(added);
    expect(found?.hash).toEqual(hashLabelBytes(viewOf(ascii("__name__ up")), 0, 11, cache.seed));
  });

  test("entries are told apart by their bytes, whatever their length, also with a shared hash", () => {
    // A fixed seed and many short keys: some share a 30-bit hash only by chance, so force it:
    // every lookup is confirmed byte for byte.
    const cache = new VerdictCache<string>(1000, 42);
    const keys = ["", "a", "ab", "abc", "abcd", "abcde", "abcdf", "bbcde", "abcdefgh", "abcdefgi"];
    for (const key of keys) add(cache, key, key.toUpperCase());
    expect([...keys, "abcdg", "abcdefg", "zzzz"].map((k) => get(cache, k))).toEqual([...keys.map((k) => k.toUpperCase()), undefined, undefined, undefined]);
  });

  test("the entry after the previous one is found without hashing (successor prediction)", () => {
    const cache = new VerdictCache<number>(100);
    let after: CacheEntry<number> | undefined;
    for (let i = 0; i < 10; i++) after = add(cache, `series-${i}`, i, after);
    // Second pass in the same order: all but the first are predicted.
    after = undefined;
    for (let i = 0; i < 10; i++) {
      after = lookup(cache, `series-${i}`, after);
      expect(after?.value).toBe(i);
    }
    expect([cache.hits, cache.predictedHits, cache.misses]).toEqual([10, 9, 0]);
    // Another order: 3 → 1 is mispredicted (hashing still finds it), 1 → 2 is still right;
    // the links then follow the new order.
    after = undefined;
    for (const i of [3, 1, 2]) after = lookup(cache, `series-${i}`, after);
    expect([cache.hits, cache.predictedHits]).toEqual([13, 10]);
    after = undefined;
    for (const i of [3, 1, 2]) after = lookup(cache, `series-${i}`, after);
    expect([cache.hits, cache.predictedHits]).toEqual([16, 12]);
  });

  test("rotation cuts successor links into the dropped generation (nothing dropped stays reachable)", () => {
    const cache = new VerdictCache<number>(4); // generations of 2
    const a = add(cache, "a", 1);
    const b = add(cache, "b", 2, a); // a → b
    add(cache, "c", 3); // rotates: previous a, b
    lookup(cache, "a"); // promotes a into current (c, a): a still links to b, in previous
    expect((a as unknown as { successor?: unknown }).successor).toBe(b);
    add(cache, "d", 4); // rotates: previous c, a; b dropped — a's link to it is cut
    expect((a as unknown as { successor?: unknown }).successor).toBeUndefined();
  });

  test("a predicted entry from a dropped generation is not used; one from the previous is promoted", () => {
    const cache = new VerdictCache<number>(4); // generations of 2
    const a = add(cache, "a", 1);
    add(cache, "b", 2, a); // current: a, b
    add(cache, "c", 3); // rotates: previous a, b; current c
    expect(lookup(cache, "b", a)?.value).toBe(2); // predicted from the previous generation: promoted
    add(cache, "d", 4); // rotates: previous c, b; a dropped
    add(cache, "e", 5);
    expect(cache.size).toBeLessThanOrEqual(4);
    expect(get(cache, "a")).toBeUndefined();
    expect(lookup(cache, "a", undefined)).toBeUndefined();
  });
});

describe("hashLabelBytes", () => {
  test("depends on the bytes, not on where they sit, and on the seed", () => {
    const bytes = ascii("..__name__ up job node region eu-west-1");
    const copy = bytes.slice(2);
    const hash = (b: Uint8Array, from: number, to: number, seed: number) => hashLabelBytes(viewOf(b), from, to, seed);
    expect(hash(bytes, 2, bytes.length, 1)).toBe(hash(copy, 0, copy.length, 1));
    expect(hash(bytes, 2, bytes.length, 1)).not.toBe(hash(bytes, 2, bytes.length, 2));
    expect(hash(bytes, 2, bytes.length - 1, 1)).not.toBe(hash(bytes, 2, bytes.length, 1));
  });

  test.each([
    // xxHash32 reference values (github.com/Cyan4973/xxHash), cut to 30 bits.
    ["", 0, 0x02cc5d05],
    ["a", 0, 0x550d7456],
    ["abc", 0, 0x32d153ff],
    ["Nobody inspects the spammish repetition", 0, 0xe2293b2f],
  ])("xxHash32(%j, seed %i) = %i (30 bits)", (text, seed, expected) => {
    const bytes = ascii(text);
    expect(hashLabelBytes(viewOf(bytes), 0, bytes.length, seed)).toBe(expected & 0x3fffffff);
  });
});

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
