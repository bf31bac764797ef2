import { afterEach, describe, expect, test } from "vitest";
import * as snappyjs from "snappyjs";
import { SnappyCompressor } from "../../../agent/codec/snappy-compress";
import { decompressRemoteWrite } from "../../../hub/ingest/remote-write-decode";
import { readSnappyHeader } from "../../../hub/ingest/snappy-decompress";
import { prng } from "./ingest-test-helpers";

const MiB = 1 << 20;
const LIMIT = 32 * MiB;

function randomBytes(random: () => number, n: number, alphabet = 256): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * alphabet);
  return out;
}

/** Repeats and noise, so the compressed form has every element kind. */
function mixedInput(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let i = 0;
  while (i < n) {
    const run = 1 + Math.floor(random() * 300);
    if (random() < 0.5 && i > 0) {
      const offset = 1 + Math.floor(random() * Math.min(i, 70_000));
      for (let k = 0; k < run && i < n; k++, i++) out[i] = out[i - offset];
    } else {
      for (let k = 0; k < run && i < n; k++, i++) out[i] = Math.floor(random() * 256);
    }
  }
  return out;
}

function expectDecompressesTo(body: Uint8Array, expected: Uint8Array): void {
  const result = decompressRemoteWrite(body, LIMIT);
  if (!result.ok) throw new Error(result.error.message);
  expect(Buffer.from(result.value).equals(Buffer.from(expected))).toBe(true);
}

/** Records the size of every Uint8Array constructed and every Buffer allocated while `fn` runs. */
function allocationsDuring(fn: () => void): number[] {
  const Original = globalThis.Uint8Array;
  const { alloc, allocUnsafe, allocUnsafeSlow } = Buffer;
  const lengths: number[] = [];
  globalThis.Uint8Array = new Proxy(Original, {
    construct(target, args, newTarget) {
      if (typeof args[0] === "number") lengths.push(args[0]);
      return Reflect.construct(target, args, newTarget);
    },
  });
  const record = <F extends (size: number, ...rest: never[]) => Buffer>(f: F): F =>
    ((size: number, ...rest: never[]) => {
      lengths.push(size);
      return f.call(Buffer, size, ...rest);
    }) as F;
  Buffer.alloc = record(alloc);
  Buffer.allocUnsafe = record(allocUnsafe);
  Buffer.allocUnsafeSlow = record(allocUnsafeSlow);
  try {
    fn();
  } finally {
    globalThis.Uint8Array = Original;
    Object.assign(Buffer, { alloc, allocUnsafe, allocUnsafeSlow });
  }
  return lengths;
}

describe("decompressRemoteWrite decodes the Snappy block format", () => {
  test.each([0, 1, 17, 100, 4096, 65_536, 65_537, 300_000])("%i bytes compressed by snappyjs and by our compressor", (n) => {
    const input = mixedInput(prng(n + 1), n);
    expectDecompressesTo(snappyjs.compress(input), input);
    expectDecompressesTo(new SnappyCompressor().compress(input), input);
  });

  test("literals of every length encoding (1–60 in the tag, 1, 2, 3 and 4 extra length bytes)", () => {
    for (const n of [1, 60, 61, 256, 257, 65_536, 65_537, 70_000]) {
      const payload = randomBytes(prng(n), n);
      for (const extra of [0, 1, 2, 3, 4]) {
        if (extra === 0 && n > 60) continue;
        if (extra === 1 && n > 256) continue;
        if (extra === 2 && n > 65_536) continue;
        const header = [n & 0x7f | (n > 0x7f ? 0x80 : 0)];
        let v = n >>> 7;
        while (v > 0) {
          header.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
          v >>>= 7;
        }
        const lengthBytes = extra === 0 ? [] : Array.from({ length: extra }, (_, k) => ((n - 1) >>> (8 * k)) & 0xff);
        const tag = extra === 0 ? (n - 1) << 2 : (59 + extra) << 2;
        expectDecompressesTo(Uint8Array.from([...header, tag, ...lengthBytes, ...payload]), payload);
      }
    }
  });

  test("copy-1, copy-2 and copy-4 elements, overlapping (offset < length) ones repeat the pattern", () => {
    // "ab" then copy-1 (length 10, offset 2) → "ab" × 6.
    expectDecompressesTo(Uint8Array.from([12, 1 << 2, 0x61, 0x62, ((10 - 4) << 2) | 1, 2]), new TextEncoder().encode("abababababab"));
    // "xyz" then copy-2 (length 20, offset 3).
    expectDecompressesTo(Uint8Array.from([23, 2 << 2, 0x78, 0x79, 0x7a, (19 << 2) | 2, 3, 0]), new TextEncoder().encode("xyz".repeat(8).slice(0, 23)));
    // 20 bytes then copy-4 (length 20, offset 20): a non-overlapping long copy.
    const twenty = randomBytes(prng(3), 20);
    expectDecompressesTo(Uint8Array.from([40, 19 << 2, ...twenty, (19 << 2) | 3, 20, 0, 0, 0]), Uint8Array.from([...twenty, ...twenty]));
  });
});

describe("decompressRemoteWrite refuses bombs before allocating", () => {
  afterEach(() => {
    expect(globalThis.Uint8Array.name).toBe("Uint8Array");
    expect(Buffer.allocUnsafe.name).toBe("allocUnsafe");
  });

  test("the allocation spy sees the output buffer of an honest body (so the checks below mean something)", () => {
    const input = new Uint8Array(200_000).fill(7);
    const allocations = allocationsDuring(() => {
      expect(decompressRemoteWrite(snappyjs.compress(input), LIMIT).ok).toBe(true);
    });
    expect(allocations).toContain(200_000);
  });

  test("a header claiming 1 GiB is a 413 naming the limit, and nothing big is allocated", () => {
    // varint(2^30) = 80 80 80 80 04, then a few bytes of "data".
    const bomb = Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x61, 0xfe, 0xff, 0xff]);
    const before = process.memoryUsage().arrayBuffers;
    let result: ReturnType<typeof decompressRemoteWrite> | undefined;
    const allocations = allocationsDuring(() => {
      result = decompressRemoteWrite(bomb, LIMIT);
    });
    expect(result).toEqual({
      ok: false,
      error: {
        status: 413,
        reason: "decompressed_too_large",
        message: `body declares 1073741824 uncompressed bytes, more than the limit of ${LIMIT} bytes (maxDecompressedBytes)`,
      },
    });
    expect(Math.max(0, ...allocations)).toBeLessThan(1024);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(MiB);
  });

  test("a claim within the limit that the body is too small to expand to is a 400, also before allocating", () => {
    // 8 MiB declared (80 80 80 04), 10 body bytes: at most 64/3 output bytes per input byte.
    const body = Uint8Array.from([0x80, 0x80, 0x80, 0x04, (63 << 2) | 2, 1, 0, (63 << 2) | 2, 1, 0]);
    let result: ReturnType<typeof decompressRemoteWrite> | undefined;
    const allocations = allocationsDuring(() => {
      result = decompressRemoteWrite(body, LIMIT);
    });
    expect(result?.ok).toBe(false);
    if (result?.ok === false) {
      expect(result.error.status).toBe(400);
      expect(result.error.reason).toBe("malformed_snappy");
      expect(result.error.message).toContain("declares 8388608 uncompressed bytes");
    }
    expect(Math.max(0, ...allocations)).toBeLessThan(1024);
  });

  test("consecutive copies with one offset (a long match split in 64-byte copies) decode as snappyjs decodes them", () => {
    // literal of 40 bytes, then copies at offset 40 (copy-2 ×2, copy-1, copy-4), offset 20
    // (overlapping once joined: 64 + 64 > 20), offset 3 (a short pattern), and offset 40 again.
    const literal = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
    const copy2 = (len: number, off: number) => [((len - 1) << 2) | 2, off & 0xff, off >> 8];
    const copy1 = (len: number, off: number) => [((off >> 8) << 5) | ((len - 4) << 2) | 1, off & 0xff];
    const copy4 = (len: number, off: number) => [((len - 1) << 2) | 3, off & 0xff, (off >> 8) & 0xff, 0, 0];
    const elements = [
      [(40 - 1) << 2, ...literal],
      copy2(64, 40), copy2(64, 40), copy1(11, 40), copy4(30, 40),
      copy2(64, 20), copy2(64, 20), copy1(5, 20),
      copy2(33, 3), copy2(64, 3),
      copy2(17, 40), copy2(2, 40),
    ].flat();
    const total = 40 + 64 + 64 + 11 + 30 + 64 + 64 + 5 + 33 + 64 + 17 + 2;
    const varint = total < 128 ? [total] : [(total & 0x7f) | 0x80, total >> 7];
    const body = new Uint8Array([...varint, ...elements]);
    const expected = snappyjs.uncompress(body);
    expect(expected.length).toBe(total);
    expectDecompressesTo(body, expected);
    // Declared one byte short: the joined copy overruns and is refused like the separate ones.
    const short = new Uint8Array([...(total - 1 < 128 ? [total - 1] : [((total - 1) & 0x7f) | 0x80, (total - 1) >> 7]), ...elements]);
    const r = decompressRemoteWrite(short, LIMIT);
    expect(r.ok).toBe(false);
  });

  test("the densest honest body (runs of copy-2 × 64) is still accepted", () => {
    const input = new Uint8Array(1 << 20).fill(0x41);
    expectDecompressesTo(snappyjs.compress(input), input);
    expectDecompressesTo(new SnappyCompressor().compress(input), input);
  });

  test("exactly at the limit is fine, one byte over is 413", () => {
    const input = randomBytes(prng(11), 1000);
    const body = snappyjs.compress(input);
    expect(decompressRemoteWrite(body, 1000).ok).toBe(true);
    const over = decompressRemoteWrite(body, 999);
    expect(over.ok ? 0 : over.error.status).toBe(413);
  });
});

describe("decompressRemoteWrite refuses malformed bodies with 400 or 415", () => {
  test("the framed stream format is a 415", () => {
    const framed = Uint8Array.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59, 0x01, 0x05, 0x00, 0x00]);
    const result = decompressRemoteWrite(framed, LIMIT);
    expect(result.ok ? undefined : [result.error.status, result.error.reason]).toEqual([415, "snappy_framed_format"]);
  });

  test.each([
    ["an empty body", []],
    ["a length varint longer than 5 bytes", [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
    ["a length of 2^32 or more", [0x80, 0x80, 0x80, 0x80, 0x10]],
    ["a copy with offset 0", [4, 0 << 2, 0x61, (3 << 2) | 2, 0, 0]],
    ["a copy reaching before the output", [5, 0 << 2, 0x61, ((4 - 4) << 2) | 1, 2]],
    ["a literal past the end of the input", [3, 2 << 2, 0x61]],
    ["a literal past the declared length", [1, 1 << 2, 0x61, 0x62]],
    ["a copy past the declared length", [3, 0 << 2, 0x61, ((4 - 4) << 2) | 1, 1]],
    ["output shorter than declared", [3, 0 << 2, 0x61]],
    ["a truncated copy-2", [3, 0 << 2, 0x61, (1 << 2) | 2, 1]],
    ["a truncated copy-4", [3, 0 << 2, 0x61, (1 << 2) | 3, 1, 0, 0]],
    ["a truncated literal length", [100, 61 << 2, 0x10]],
  ])("%s", (_what, bytes) => {
    const result = decompressRemoteWrite(Uint8Array.from(bytes), LIMIT);
    expect(result.ok).toBe(false);
    if (!result.ok) expect([result.error.status, result.error.reason]).toEqual([400, "malformed_snappy"]);
  });

  test("every truncation of a valid body is refused, never thrown", () => {
    const input = mixedInput(prng(99), 5000);
    const body = snappyjs.compress(input);
    for (let cut = 0; cut < body.length; cut++) {
      const result = decompressRemoteWrite(body.subarray(0, cut), LIMIT);
      expect(result.ok, `cut at ${cut}`).toBe(false);
    }
  });

  test("random bytes and mutated bodies never throw and agree with snappyjs when accepted", () => {
    const random = prng(2024);
    const valid = snappyjs.compress(mixedInput(random, 3000));
    for (let i = 0; i < 3000; i++) {
      let body: Uint8Array;
      if (i % 2 === 0) {
        body = randomBytes(random, Math.floor(random() * 64));
      } else {
        body = valid.slice();
        for (let k = 0; k < 1 + Math.floor(random() * 4); k++) body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
      }
      const result = decompressRemoteWrite(body, 1 << 16);
      if (!result.ok) {
        expect([400, 413, 415]).toContain(result.error.status);
        continue;
      }
      expect(Buffer.from(result.value).equals(Buffer.from(snappyjs.uncompress(body)))).toBe(true);
    }
  });
});

describe("readSnappyHeader", () => {
  test("reads the declared length without decoding", () => {
    expect(readSnappyHeader(Uint8Array.from([0xe8, 0x07, 0xff]))).toEqual({ ok: true, value: { uncompressedBytes: 1000, headerBytes: 2 } });
    expect(readSnappyHeader(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]))).toEqual({ ok: true, value: { uncompressedBytes: 0xffffffff, headerBytes: 5 } });
  });
});
