import { describe, expect, it } from "vitest";
import type { SeriesSnapshot } from "../../../../agent/aggregate/aggregator";
import { encodeOtlpExport } from "../../../../agent/sinks/otlp/otlp-encoder";
import { decodeOtlpMetrics } from "../../../../agent/sources/otlp/otlp-decode";
import type { Point } from "../../../../agent/core/points";
import { dataPointsOf, ExportMetricsServiceRequest, FLUSH_MS, RESOURCE, sampleFlush, START_MS } from "./otlp-sink-test-helpers";

/** `n` series over three metrics (counter, gauge, expo), interleaved as an aggregator may list them. */
function manySeries(n: number): SeriesSnapshot[] {
  const out: SeriesSnapshot[] = [];
  for (let i = 0; i < n; i++) {
    const labels: [string, string][] = [["player", `p-${i}`], ["server", `srv-${i % 7}`]];
    if (i % 3 === 0) out.push({ name: "game_kills_total", labels, kind: "counter", value: i });
    else if (i % 3 === 1) out.push({ name: "player_ping_ms", labels, kind: "gauge", value: i / 4 });
    else out.push({ ...sampleFlush()[4], labels });
  }
  return out;
}

function decodedPoints(body: Uint8Array): Point[] {
  const r = decodeOtlpMetrics(body, "protobuf", { includeResourceAttributes: new Set(["host"]) });
  if (!r.ok) throw new Error(r.error.message);
  expect(r.value.rejected.count).toBe(0);
  return r.value.points;
}

describe("encodeOtlpExport splitting", () => {
  it("keeps every request within maxRequestBytes and loses, repeats or reorders no point", () => {
    const series = manySeries(300);
    const [whole] = encodeOtlpExport(series, RESOURCE, FLUSH_MS, START_MS);
    const parts = encodeOtlpExport(series, RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: 1500 });
    expect(parts.length).toBeGreaterThan(10);
    for (const part of parts) expect(part.body.length).toBeLessThanOrEqual(1500);
    expect(parts.reduce((n, p) => n + p.points, 0)).toBe(300);
    // Points of a metric stay in series order; metrics in order of first appearance.
    expect(parts.flatMap((p) => decodedPoints(p.body))).toEqual(decodedPoints(whole.body));
  });

  it("repeats the resource, scope and metric type in every request", () => {
    const parts = encodeOtlpExport(manySeries(60), RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: 700 });
    expect(parts.length).toBeGreaterThan(2);
    for (const part of parts) {
      const request = ExportMetricsServiceRequest.decode(part.body);
      expect(request.resourceMetrics).toHaveLength(1);
      const rm = request.resourceMetrics[0];
      expect(rm.resource?.attributes?.map((a) => a.key)).toEqual(["host", "region"]);
      expect(rm.scopeMetrics).toHaveLength(1);
      expect(rm.scopeMetrics?.[0].scope?.name).toBe("edge-agent");
      expect(dataPointsOf(request)).toHaveLength(part.points);
      for (const m of rm.scopeMetrics?.[0].metrics ?? []) {
        if (m.name === "game_kills_total") expect(m.sum).toMatchObject({ isMonotonic: true, aggregationTemporality: 2 });
        if (m.name === "tick_duration_seconds") expect(m.exponentialHistogram?.aggregationTemporality).toBe(2);
      }
    }
  });

  it("fills a request up to exactly maxRequestBytes and cuts one byte below", () => {
    const series = manySeries(2).slice(0, 1).concat({ name: "game_kills_total", labels: [["player", "x"]], kind: "counter", value: 1 });
    const [whole] = encodeOtlpExport(series, RESOURCE, FLUSH_MS, START_MS);
    expect(whole.points).toBe(2);
    const atBound = encodeOtlpExport(series, RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: whole.body.length });
    expect(atBound.map((r) => r.points)).toEqual([2]);
    expect(atBound[0].body).toEqual(whole.body);
    const below = encodeOtlpExport(series, RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: whole.body.length - 1 });
    expect(below.map((r) => r.points)).toEqual([1, 1]);
  });

  it("sends a data point larger than the bound alone rather than splitting it", () => {
    const big: SeriesSnapshot = {
      name: "wide_seconds",
      labels: [],
      kind: "expo",
      value: 0,
      expo: { ...sampleFlush()[4].expo!, zeroCount: 0, count: 500, negative: { offset: 0, counts: [] }, positive: { offset: 0, counts: new Array<number>(500).fill(1) } },
    };
    const small: SeriesSnapshot = { name: "up", labels: [], kind: "gauge", value: 1 };
    const parts = encodeOtlpExport([small, big, big, small], RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: 300 });
    expect(parts.map((p) => p.points)).toEqual([2, 1, 1]);
    expect(parts[1].body.length).toBeGreaterThan(300);
    expect(parts.flatMap((p) => decodedPoints(p.body)).map((p) => p.name)).toEqual(["up", "up", "wide_seconds", "wide_seconds"]);
  });

  it("puts a whole flush in one request under the default 1 MiB", () => {
    const parts = encodeOtlpExport(manySeries(2000), RESOURCE, FLUSH_MS, START_MS);
    expect(parts.map((p) => p.points)).toEqual([2000]);
  });

  it("splits at the default 1 MiB bound", () => {
    const parts = encodeOtlpExport(manySeries(20_000), RESOURCE, FLUSH_MS, START_MS);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(part.body.length).toBeLessThanOrEqual(1 << 20);
    expect(parts.reduce((n, p) => n + p.points, 0)).toBe(20_000);
  });

  it("throws a BUG error for a maxRequestBytes that is not a positive integer", () => {
    expect(() => encodeOtlpExport([], RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: 0 })).toThrow(/^BUG: maxRequestBytes/);
  });
});
