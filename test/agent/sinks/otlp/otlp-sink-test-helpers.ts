/**
 * Shared by the OTLP sink tests: a small fixed flush, decoding bodies with the protobufjs
 * reference module, golden files and hex dumps.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import type { SeriesSnapshot } from "../../../../agent/aggregate/aggregator";
import { opentelemetry } from "../../../../agent/sources/otlp/proto/otlp.js";
import { goldenChecker } from "../../../support/golden";
export { hexLines } from "../../../support/golden";

export const TESTDATA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata");
const GOLDEN_DIR = path.join(TESTDATA_DIR, "golden");

export const ExportMetricsServiceRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
export const ExportMetricsServiceResponse = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
export type DecodedRequest = ReturnType<typeof ExportMetricsServiceRequest.decode>;

/** A realistic flush time (2024-05-31T16:08:37.171Z) and agent start: ms·1e6 is far past 2^53. */
export const FLUSH_MS = 1_717_171_717_171;
export const START_MS = 1_717_170_000_003;
export const FLUSH_NANOS = "1717171717171000000";
export const START_NANOS = "1717170000003000000";

export const RESOURCE: [string, string][] = [
  ["host", "edge-eu-07"],
  ["region", "eu"],
];

/** One flush with every kind: two counter series of one metric, gauges (one at 0), histograms. */
export function sampleFlush(): SeriesSnapshot[] {
  return [
    { name: "game_kills_total", labels: [["map", "dust2"], ["mode", "ranked"]], kind: "counter", value: 42 },
    { name: "players_online", labels: [["map", "dust2"]], kind: "gauge", value: 0 },
    { name: "game_kills_total", labels: [["map", "inferno"], ["mode", "casual"]], kind: "counter", value: 7.5 },
    { name: "players_online", labels: [["map", "naïve ✓"]], kind: "gauge", value: -3.25 },
    {
      name: "tick_duration_seconds",
      labels: [["route", "/play"]],
      kind: "expo",
      value: 0,
      expo: {
        scale: 3,
        zeroThreshold: 1e-9,
        zeroCount: 1,
        count: 12,
        sum: 4.25,
        min: -9.5,
        max: 30,
        positive: { offset: -2, counts: [1, 0, 2, 5] },
        negative: { offset: 4, counts: [3] },
      },
    },
    {
      name: "tick_duration_seconds",
      labels: [["route", "/idle"]],
      kind: "expo",
      value: 0,
      expo: {
        scale: 20,
        zeroThreshold: 0,
        zeroCount: 0,
        count: 0,
        sum: 0,
        min: Number.POSITIVE_INFINITY,
        max: Number.NEGATIVE_INFINITY,
        positive: { offset: 0, counts: [] },
        negative: { offset: 0, counts: [] },
      },
    },
    {
      name: "request_size_bytes",
      labels: [],
      kind: "explicit",
      value: 0,
      explicit: { bounds: [100, 1000, 10000], counts: [2, 3, 0, 1], count: 6, sum: 12345.5 },
    },
  ];
}

export const expectGolden = goldenChecker(GOLDEN_DIR);

export function readTestdataJson(name: string): unknown {
  return JSON.parse(readFileSync(path.join(TESTDATA_DIR, name), "utf8"));
}


/** A 64-bit protobufjs value (Long, or number when small) as an exact decimal string. */
export function longString(value: unknown): string {
  return value === undefined || value === null ? "0" : String(value);
}

/** Every data point of a decoded request, flattened with its metric's name. */
export function dataPointsOf(request: DecodedRequest): { metric: string; type: string; point: Record<string, unknown> }[] {
  const out: { metric: string; type: string; point: Record<string, unknown> }[] = [];
  for (const rm of request.resourceMetrics ?? []) {
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        for (const type of ["sum", "gauge", "histogram", "exponentialHistogram"] as const) {
          const data = m[type] as { dataPoints?: Record<string, unknown>[] } | null | undefined;
          for (const point of data?.dataPoints ?? []) out.push({ metric: m.name ?? "", type, point });
        }
      }
    }
  }
  return out;
}
