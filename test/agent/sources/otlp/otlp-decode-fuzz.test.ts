/**
 * 2,000 random buffers, truncations, bit flips and splices of valid requests: the decoder never
 * throws, answers only with its own error codes, and whatever it accepts obeys the Point rules.
 * The random source is seeded, so a failure reproduces; the failing case index is in the message.
 */
import { describe, expect, test } from "vitest";
import { decodeOtlpMetrics, type OtlpFormat } from "../../../../agent/sources/otlp/otlp-decode";
import { buildSumRequest, encodeJsonRequest, encodeRequest, patchBytes, readTestdataJson } from "./otlp-test-helpers";

/** mulberry32: small, fast, good enough to pick bytes. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = (base: Uint8Array, random: () => number) => Uint8Array;

const int = (random: () => number, n: number) => Math.floor(random() * n);
// Bytes that mean something on the wire: tags of common fields, varint continuation, lengths.
const INTERESTING = [0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x0f, 0x12, 0x1a, 0x21, 0x3a, 0x7f, 0x80, 0xff];

const mutations: Record<string, Mutation> = {
  randomBytes: (_base, random) => {
    const out = new Uint8Array(int(random, 256));
    for (let i = 0; i < out.length; i++) out[i] = random() < 0.5 ? INTERESTING[int(random, INTERESTING.length)] : int(random, 256);
    return out;
  },
  truncation: (base, random) => base.slice(0, int(random, base.length)),
  bitFlips: (base, random) => {
    const out = base.slice();
    for (let n = 1 + int(random, 4); n > 0; n--) out[int(random, out.length)] ^= 1 << int(random, 8);
    return out;
  },
  splice: (base, random) => {
    const at = int(random, base.length);
    const cut = int(random, 16);
    const insert = Array.from({ length: int(random, 16) }, () => INTERESTING[int(random, INTERESTING.length)]);
    return Uint8Array.from([...base.subarray(0, at), ...insert, ...base.subarray(Math.min(base.length, at + cut))]);
  },
};

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function checkDecodes(body: Uint8Array, format: OtlpFormat, caseName: string): void {
  let result: ReturnType<typeof decodeOtlpMetrics>;
  try {
    result = decodeOtlpMetrics(body, format, { includeResourceAttributes: new Set(["service_name"]) });
  } catch (e) {
    throw new Error(`${caseName} threw: ${(e as Error).stack}`);
  }
  if (!result.ok) {
    const allowed = format === "protobuf" ? ["OTLP_BAD_PROTOBUF"] : ["OTLP_BAD_JSON", "OTLP_BAD_UTF8"];
    expect(allowed, caseName).toContain(result.error.code);
    return;
  }
  const { points, rejected } = result.value;
  expect(Object.values(rejected.reasons).reduce((a, b) => a + b, 0), caseName).toBe(rejected.count);
  for (const point of points) {
    expect(point.name, caseName).toMatch(METRIC_NAME);
    for (const [name, value] of Object.entries(point.labels)) {
      expect(name, caseName).toMatch(LABEL_NAME);
      expect(typeof value === "string" && !LONE_SURROGATE.test(value), caseName).toBe(true);
    }
  }
}

describe("decodeOtlpMetrics on mutated input", () => {
  const request = readTestdataJson("request-all-types.json");
  const protobufBases = [encodeRequest(request), encodeRequest(buildSumRequest(2, 3))];

  test("never throws on 2,000 mutated protobuf bodies", () => {
    const random = seededRandom(20261122);
    const names = Object.keys(mutations);
    for (let i = 0; i < 2000; i++) {
      const name = names[i % names.length];
      const base = protobufBases[int(random, protobufBases.length)];
      checkDecodes(mutations[name](base, random), "protobuf", `protobuf case ${i} (${name})`);
    }
  });

  test("never throws on 500 mutated JSON bodies", () => {
    const random = seededRandom(42);
    const base = encodeJsonRequest(request);
    const names = Object.keys(mutations);
    for (let i = 0; i < 500; i++) {
      const name = names[i % names.length];
      checkDecodes(mutations[name](base, random), "json", `json case ${i} (${name})`);
    }
  });

  test("one broken-UTF-8 attribute among 50 points rejects exactly that point, wherever it is", () => {
    const random = seededRandom(7);
    for (let round = 0; round < 25; round++) {
      const broken = int(random, 50);
      const dataPoints = Array.from({ length: 50 }, (_, i) => ({
        attributes: [{ key: "id", value: { stringValue: i === broken ? "MARKER" : `p${String(i).padStart(4, "0")}` } }],
        asDouble: i,
      }));
      const body = encodeRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: "m", gauge: { dataPoints } }] }] }] });
      const badBytes = [0x41, 0x41, 0x41, 0xe2, 0x82, 0x41]; // a 3-byte sequence cut short
      const result = decodeOtlpMetrics(patchBytes(body, "MARKER", badBytes), "protobuf");
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.value.rejected).toEqual({ count: 1, reasons: { invalid_utf8: 1 }, messages: ['metric "m": a string field is not valid UTF-8'] });
      expect(result.value.points.map((p) => p.value.type === "gauge" && p.value.value)).toEqual(
        Array.from({ length: 50 }, (_, i) => i).filter((i) => i !== broken),
      );
    }
  });
});
