import { describe, expect, it } from "vitest";
import type { SeriesSnapshot } from "../../../../agent/aggregate/aggregator";
import { encodeOtlpExport, OTLP_EXPORT_HEADERS } from "../../../../agent/sinks/otlp/otlp-encoder";
import { decodeOtlpMetrics } from "../../../../agent/sources/otlp/otlp-decode";
import {
  dataPointsOf,
  ExportMetricsServiceRequest,
  expectGolden,
  FLUSH_MS,
  FLUSH_NANOS,
  hexLines,
  longString,
  RESOURCE,
  sampleFlush,
  START_MS,
  START_NANOS,
} from "./otlp-sink-test-helpers";

const CUMULATIVE = 2;

function encodeOne(series: SeriesSnapshot[], resource = RESOURCE) {
  const requests = encodeOtlpExport(series, resource, FLUSH_MS, START_MS);
  expect(requests).toHaveLength(1);
  return requests[0];
}

describe("encodeOtlpExport through our OTLP decoder", () => {
  it("gives back every series with its exact values, kind, temporality and start time", () => {
    const { body, points } = encodeOne(sampleFlush());
    expect(points).toBe(7);
    const decoded = decodeOtlpMetrics(body, "protobuf", { includeResourceAttributes: new Set(["host"]) });
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.rejected.count).toBe(0);
    // Grouped by metric in order of first appearance: both counters, both gauges, then histograms.
    expect(decoded.value.points).toEqual([
      { name: "game_kills_total", labels: { map: "dust2", mode: "ranked", host: "edge-eu-07" }, startTimeMs: START_MS, value: { type: "counter", temporality: "cumulative", value: 42 } },
      { name: "game_kills_total", labels: { map: "inferno", mode: "casual", host: "edge-eu-07" }, startTimeMs: START_MS, value: { type: "counter", temporality: "cumulative", value: 7.5 } },
      { name: "players_online", labels: { map: "dust2", host: "edge-eu-07" }, startTimeMs: START_MS, value: { type: "gauge", value: 0 } },
      { name: "players_online", labels: { map: "naïve ✓", host: "edge-eu-07" }, startTimeMs: START_MS, value: { type: "gauge", value: -3.25 } },
      {
        name: "tick_duration_seconds",
        labels: { route: "/play", host: "edge-eu-07" },
        startTimeMs: START_MS,
        value: { type: "expo", temporality: "cumulative", data: sampleFlush()[4].expo },
      },
      {
        name: "tick_duration_seconds",
        labels: { route: "/idle", host: "edge-eu-07" },
        startTimeMs: START_MS,
        value: { type: "expo", temporality: "cumulative", data: sampleFlush()[5].expo },
      },
      {
        name: "request_size_bytes",
        labels: { host: "edge-eu-07" },
        startTimeMs: START_MS,
        value: { type: "explicit", temporality: "cumulative", data: sampleFlush()[6].explicit },
      },
    ]);
  });

  it("rounds fractional histogram counts (sample rates) and recomputes count so the point stays valid", () => {
    const expo: SeriesSnapshot = {
      name: "sampled_seconds",
      labels: [],
      kind: "expo",
      value: 0,
      expo: { scale: 0, zeroThreshold: 0, zeroCount: 0.4, count: 7.3, sum: 9, min: 0.5, max: 6, positive: { offset: -1, counts: [3.3, 0, 3.6] }, negative: { offset: 0, counts: [] } },
    };
    const explicit: SeriesSnapshot = { name: "sampled_ms", labels: [], kind: "explicit", value: 0, explicit: { bounds: [1], counts: [2.5, 0.2], count: 2.7, sum: 3 } };
    const decoded = decodeOtlpMetrics(encodeOne([expo, explicit]).body, "protobuf");
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.rejected.count).toBe(0);
    expect(decoded.value.points.map((p) => p.value)).toMatchObject([
      { type: "expo", data: { zeroCount: 0, count: 7, positive: { offset: -1, counts: [3, 0, 4] } } },
      { type: "explicit", data: { counts: [3, 0], count: 3 } },
    ]);
  });
});

describe("encodeOtlpExport through the protobufjs reference", () => {
  const decodeSample = () => ExportMetricsServiceRequest.decode(encodeOne(sampleFlush()).body);

  it("writes one resource with the identity labels and one scope named edge-agent", () => {
    const request = decodeSample();
    expect(request.resourceMetrics).toHaveLength(1);
    const rm = request.resourceMetrics[0];
    expect(rm.resource?.attributes).toEqual([
      { key: "host", value: { stringValue: "edge-eu-07" } },
      { key: "region", value: { stringValue: "eu" } },
    ]);
    expect(rm.scopeMetrics).toHaveLength(1);
    expect(rm.scopeMetrics?.[0].scope?.name).toBe("edge-agent");
    expect(rm.scopeMetrics?.[0].metrics?.map((m) => m.name)).toEqual(["game_kills_total", "players_online", "tick_duration_seconds", "request_size_bytes"]);
  });

  it("marks counters monotonic and every sum and histogram cumulative", () => {
    const metrics = decodeSample().resourceMetrics[0].scopeMetrics![0].metrics!;
    expect(metrics[0].sum).toMatchObject({ isMonotonic: true, aggregationTemporality: CUMULATIVE });
    expect(metrics[0].sum?.dataPoints?.map((p) => p.asDouble)).toEqual([42, 7.5]);
    expect(metrics[1].gauge?.dataPoints?.map((p) => p.asDouble)).toEqual([0, -3.25]);
    expect(metrics[1].gauge?.dataPoints?.[0].value).toBe("asDouble"); // 0 is on the wire, not absent
    expect(metrics[2].exponentialHistogram?.aggregationTemporality).toBe(CUMULATIVE);
    expect(metrics[3].histogram?.aggregationTemporality).toBe(CUMULATIVE);
  });

  it("writes time and start time as exact nanoseconds", () => {
    const points = dataPointsOf(decodeSample());
    expect(points).toHaveLength(7);
    for (const { point } of points) {
      expect(longString(point.timeUnixNano)).toBe(FLUSH_NANOS);
      expect(longString(point.startTimeUnixNano)).toBe(START_NANOS);
    }
    // The float product is off by ~100 ns here: proof the test would catch float rounding.
    expect(BigInt(FLUSH_MS * 1e6)).not.toBe(BigInt(FLUSH_NANOS));
  });

  it("writes exponential histogram fields exactly, min and max only when finite", () => {
    const expo = decodeSample().resourceMetrics[0].scopeMetrics![0].metrics![2].exponentialHistogram!.dataPoints!;
    const full = expo[0];
    expect(full.attributes).toEqual([{ key: "route", value: { stringValue: "/play" } }]);
    expect(longString(full.count)).toBe("12");
    expect(full.sum).toBe(4.25);
    expect(full.scale).toBe(3);
    expect(longString(full.zeroCount)).toBe("1");
    expect(full.zeroThreshold).toBe(1e-9);
    expect(full.positive?.offset).toBe(-2);
    expect(full.positive?.bucketCounts?.map(longString)).toEqual(["1", "0", "2", "5"]);
    expect(full.negative?.offset).toBe(4);
    expect(full.negative?.bucketCounts?.map(longString)).toEqual(["3"]);
    expect([full.min, full.max]).toEqual([-9.5, 30]);
    const empty = expo[1];
    expect(empty.scale).toBe(20);
    expect(empty.sum).toBe(0); // optional field: present even when 0
    expect(Object.hasOwn(empty, "min") || Object.hasOwn(empty, "max")).toBe(false);
    expect(empty.positive ?? null).toBeNull();
  });

  it("writes explicit histogram bounds, bucket counts, count and sum", () => {
    const [p] = decodeSample().resourceMetrics[0].scopeMetrics![0].metrics![3].histogram!.dataPoints!;
    expect(p.explicitBounds).toEqual([100, 1000, 10000]);
    expect(p.bucketCounts?.map(longString)).toEqual(["2", "3", "0", "1"]);
    expect(longString(p.count)).toBe("6");
    expect(p.sum).toBe(12345.5);
    expect(p.attributes).toEqual([]);
  });

  it("produces the bytes protobufjs produces for the same message", () => {
    const { body } = encodeOne(sampleFlush());
    const reencoded = ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.decode(body)).finish();
    expect(hexLines(new Uint8Array(reencoded))).toBe(hexLines(body));
  });

  it("keeps an empty attribute value on the wire as a string", () => {
    const { body } = encodeOne([{ name: "up", labels: [["job", "agent"]], kind: "gauge", value: 1 }], [["host", ""]]);
    const rm = ExportMetricsServiceRequest.decode(body).resourceMetrics[0];
    expect(rm.resource?.attributes).toEqual([{ key: "host", value: { stringValue: "" } }]);
    expect(rm.resource?.attributes?.[0].value?.value).toBe("stringValue");
  });
});

describe("encodeOtlpExport output", () => {
  it("matches testdata/golden/export-small.pb.hex (UPDATE_GOLDEN=1 rewrites it)", () => {
    expectGolden("export-small.pb.hex", hexLines(encodeOne(sampleFlush()).body));
  });

  it("is empty for an empty flush", () => {
    expect(encodeOtlpExport([], RESOURCE, FLUSH_MS, START_MS)).toEqual([]);
  });

  it("leaves the start time out when it is 0 (unset)", () => {
    const { body } = encodeOtlpExport([{ name: "up", labels: [], kind: "gauge", value: 1 }], [], FLUSH_MS, 0)[0];
    const [{ point }] = dataPointsOf(ExportMetricsServiceRequest.decode(body));
    expect([longString(point.startTimeUnixNano), longString(point.timeUnixNano)]).toEqual(["0", FLUSH_NANOS]);
  });

  it.each([
    ["a fractional timestamp", 1.5, START_MS],
    ["a negative start time", FLUSH_MS, -1],
    ["a timestamp past uint64 nanoseconds", 2 ** 52, START_MS],
  ])("throws a BUG error for %s", (_what, timestampMs, startTimeMs) => {
    expect(() => encodeOtlpExport(sampleFlush(), RESOURCE, timestampMs, startTimeMs)).toThrow(/^BUG: /);
  });

  it("declares the protobuf content type", () => {
    expect(OTLP_EXPORT_HEADERS).toEqual({ "Content-Type": "application/x-protobuf" });
  });
});
