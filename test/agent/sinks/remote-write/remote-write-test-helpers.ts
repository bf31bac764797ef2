/**
 * Shared by the remote-write tests: decoding request bodies with the reference codecs (snappyjs
 * + the generated prompb module) into plain objects with numbers, golden files, hex dumps.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import * as snappy from "snappyjs";
import { prometheus } from "../../../../agent/sinks/remote-write/prompb/prompb.js";
import type { EncodedWriteRequest } from "../../../../agent/sinks/remote-write/write-request-encoder";
import { goldenChecker } from "../../../support/golden";
export { hexLines } from "../../../support/golden";

const GOLDEN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "golden");

export interface PlainLabel {
  name: string;
  value: string;
}
export interface PlainSample {
  value: number;
  timestamp: number;
}
export interface PlainSpan {
  offset: number;
  length: number;
}
export interface PlainHistogram {
  countInt?: number;
  countFloat?: number;
  sum: number;
  schema: number;
  zeroThreshold: number;
  zeroCountInt?: number;
  zeroCountFloat?: number;
  negativeSpans: PlainSpan[];
  negativeDeltas: number[];
  negativeCounts: number[];
  positiveSpans: PlainSpan[];
  positiveDeltas: number[];
  positiveCounts: number[];
  resetHint: number;
  timestamp: number;
}
export interface PlainTimeSeries {
  labels: PlainLabel[];
  samples: PlainSample[];
  histograms: PlainHistogram[];
}

/** Snappy-uncompresses a body with snappyjs (the reference decoder). */
export function uncompressBody(body: Uint8Array): Uint8Array {
  return snappy.uncompress(body);
}

/** Decodes a protobuf WriteRequest with the generated reference decoder into plain objects. */
export function decodeWriteRequest(protobuf: Uint8Array): PlainTimeSeries[] {
  const request = prometheus.WriteRequest.decode(protobuf);
  expect(request.metadata ?? []).toEqual([]);
  return (request.timeseries ?? []).map((t) => {
    expect(t.exemplars ?? []).toEqual([]);
    return {
      labels: (t.labels ?? []).map((l) => ({ name: l.name ?? "", value: l.value ?? "" })),
      samples: (t.samples ?? []).map((s) => ({ value: s.value ?? 0, timestamp: Number(s.timestamp ?? 0) })),
      // decode() builds message instances, which carry the oneof case names.
      histograms: (t.histograms ?? []).map((h) => plainHistogram(h as prometheus.Histogram)),
    };
  });
}

function plainHistogram(h: prometheus.Histogram): PlainHistogram {
  const out: PlainHistogram = {
    sum: h.sum,
    schema: h.schema,
    zeroThreshold: h.zeroThreshold,
    negativeSpans: h.negativeSpans.map((s) => ({ offset: s.offset ?? 0, length: s.length ?? 0 })),
    negativeDeltas: h.negativeDeltas.map((d) => Number(d)),
    negativeCounts: h.negativeCounts.slice(),
    positiveSpans: h.positiveSpans.map((s) => ({ offset: s.offset ?? 0, length: s.length ?? 0 })),
    positiveDeltas: h.positiveDeltas.map((d) => Number(d)),
    positiveCounts: h.positiveCounts.slice(),
    resetHint: h.resetHint,
    timestamp: Number(h.timestamp),
  };
  if (h.count === "countInt") out.countInt = Number(h.countInt);
  if (h.count === "countFloat") out.countFloat = h.countFloat ?? undefined;
  if (h.zeroCount === "zeroCountInt") out.zeroCountInt = Number(h.zeroCountInt);
  if (h.zeroCount === "zeroCountFloat") out.zeroCountFloat = h.zeroCountFloat ?? undefined;
  return out;
}

/** All series of all requests, decoded. */
export function decodeRequests(requests: readonly EncodedWriteRequest[]): PlainTimeSeries[] {
  return requests.flatMap((r) => decodeWriteRequest(uncompressBody(r.body)));
}

/** `{__name__="x", a="b"}`-style text of a series' labels, for compact assertions. */
export function labelText(labels: readonly PlainLabel[]): string {
  return `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(", ")}}`;
}

/** The value of one label, or undefined. */
export function labelValue(t: PlainTimeSeries, name: string): string | undefined {
  return t.labels.find((l) => l.name === name)?.value;
}

/** Bucket populations by Prometheus index from spans + deltas (integer) or counts (float). */
export function bucketsByIndex(spans: readonly PlainSpan[], deltas: readonly number[], counts: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  const values = counts.length > 0 ? counts : undefined;
  let index = 0;
  let k = 0;
  let running = 0;
  spans.forEach((span) => {
    index += span.offset; // first span: the start index; later: empty buckets skipped
    for (let j = 0; j < span.length; j++) {
      const value = values ? values[k] : (running += deltas[k]);
      out.set(index, value);
      index++;
      k++;
    }
  });
  expect(k, "Σ span lengths equals the number of buckets").toBe(values ? values.length : deltas.length);
  return out;
}

export const expectGolden = goldenChecker(GOLDEN_DIR);


/** Whether `needle` occurs in `haystack`. */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Count of occurrences of `needle` in `haystack`. */
export function countBytes(haystack: Uint8Array, needle: Uint8Array): number {
  let n = 0;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    n++;
  }
  return n;
}
