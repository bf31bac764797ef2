/**
 * Shared by the hub ingest tests: request bodies built with the reference codecs (the generated
 * prompb module + snappyjs), a default policy and limits, byte patching, golden files.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as snappy from "snappyjs";
import { expect } from "vitest";
import { prometheus } from "../../../agent/sinks/remote-write/prompb/prompb.js";
import { createHubSeriesPolicy, type HubPolicyConfig, type HubSeriesPolicy } from "../../../hub/ingest/hub-policy";
import type { ScanLimits } from "../../../hub/ingest/remote-write-decode";
import { goldenChecker } from "../../support/golden";
export { hexLines } from "../../support/golden";

export { prometheus };
export type WriteRequestShape = prometheus.IWriteRequest;
export type TimeSeriesShape = prometheus.ITimeSeries;

const GOLDEN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "golden");

export const LIMITS: ScanLimits = { maxSeries: 10_000, maxLabelsPerSeries: 40, maxLabelNameBytes: 256, maxLabelValueBytes: 2048 };

export function newPolicy(config: HubPolicyConfig = {}): HubSeriesPolicy {
  const policy = createHubSeriesPolicy(config);
  if (!policy.ok) throw new Error(policy.error);
  return policy.value;
}

/** Protobuf bytes of a WriteRequest, as a plain Uint8Array (Node's writer returns a Buffer). */
export function encodeWriteRequest(request: WriteRequestShape): Uint8Array {
  return new Uint8Array(prometheus.WriteRequest.encode(request).finish());
}

export function snappyCompress(bytes: Uint8Array): Uint8Array {
  return snappy.compress(bytes);
}

export function snappyUncompress(bytes: Uint8Array): Uint8Array {
  return snappy.uncompress(bytes);
}

/** A float series: `labels` in the given order (not sorted here), __name__ first unless given. */
export function floatSeries(name: string, labels: Record<string, string>, samples: [number, number][] = [[1, 1_764_000_000_000]]): TimeSeriesShape {
  const pairs = Object.entries(labels).map(([n, value]) => ({ name: n, value }));
  const all = "__name__" in labels ? pairs : [{ name: "__name__", value: name }, ...pairs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { labels: all, samples: samples.map(([value, timestamp]) => ({ value, timestamp })) };
}

/** Realistic labels of a game-server series. */
export function gameLabels(i: number): Record<string, string> {
  return {
    az: `eu-west-1${"abc"[i % 3]}`,
    build_id: "2026.11.3-4f9c2e1",
    cluster: "prod-eu-1",
    host: `gs-${String(i % 40).padStart(4, "0")}.eu-west-1.internal`,
    instance_type: i % 2 === 0 ? "c7g.2xlarge" : "c6i.2xlarge",
    region: "eu-west-1",
    shard_id: String(i % 20),
  };
}

/** Index of the first occurrence of `needle` in `haystack` (from `from`), or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** A copy of `bytes` with the single occurrence of `from` replaced by `to` (same length). */
export function patchBytes(bytes: Uint8Array, from: Uint8Array, to: Uint8Array): Uint8Array {
  expect(to.length).toBe(from.length);
  const at = indexOfBytes(bytes, from);
  expect(at, "pattern to patch is present").toBeGreaterThanOrEqual(0);
  expect(indexOfBytes(bytes, from, at + 1), "pattern to patch is unique").toBe(-1);
  const out = bytes.slice();
  out.set(to, at);
  return out;
}

export function doubleBytes(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, value, true);
  return out;
}

export function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export const expectGolden = goldenChecker(GOLDEN_DIR);


/** mulberry32: small, fast, fixed-seed PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
