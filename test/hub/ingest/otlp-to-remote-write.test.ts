import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ValueType } from "@opentelemetry/api";
import { OTLPMetricExporter as ProtoExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, AggregationType, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import * as snappyjs from "snappyjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encodeOtlpResponse } from "../../../agent/sources/otlp/otlp-response";
import { convertOtlpToRemoteWrite, type OtlpConversion } from "../../../hub/ingest/otlp-to-remote-write";
import { scanWriteRequest } from "../../../hub/ingest/remote-write-decode";
import { encodeJsonRequest, encodeRequest } from "../../agent/sources/otlp/otlp-test-helpers";
import { bucketsByIndex, decodeWriteRequest, labelText, type PlainTimeSeries } from "../../agent/sinks/remote-write/remote-write-test-helpers";
import { LIMITS, newPolicy } from "./ingest-test-helpers";

const NOW_MS = 1_764_000_123_456;
const START_NANOS = "1764000000000000000";
const TIME_NANOS = "1764000120000000000";

const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });

function requestOf(metrics: unknown[]): unknown {
  return {
    resourceMetrics: [{ resource: { attributes: [kv("service.name", "matchmaker")] }, scopeMetrics: [{ scope: { name: "test" }, metrics }] }],
  };
}

const counter = {
  name: "mm.matches.started",
  sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ attributes: [kv("region", "eu-west-1"), kv("queue", "ranked")], startTimeUnixNano: START_NANOS, timeUnixNano: TIME_NANOS, asDouble: 1234.5 }] },
};
const gauge = { name: "mm.queue.depth", gauge: { dataPoints: [{ attributes: [kv("queue", "ranked")], timeUnixNano: TIME_NANOS, asInt: "17" }] } };
const upDown = {
  name: "mm.lobbies.open",
  sum: { aggregationTemporality: 2, isMonotonic: false, dataPoints: [{ attributes: [], startTimeUnixNano: START_NANOS, timeUnixNano: TIME_NANOS, asInt: "-3" }] },
};
const histogram = {
  name: "mm.wait.seconds",
  histogram: {
    aggregationTemporality: 2,
    dataPoints: [{ attributes: [kv("queue", "ranked")], startTimeUnixNano: START_NANOS, timeUnixNano: TIME_NANOS, count: "10", sum: 55.5, explicitBounds: [0.1, 1, 10], bucketCounts: ["1", "2", "3", "4"] }],
  },
};
/** PROTOCOLS.md §2.1 worked example: OTel offset 3, counts 10,0,0,20,5,2 → spans {4,1},{2,3}, deltas 10,10,-15,-3. */
const expoHistogram = {
  name: "mm.rtt.ms",
  exponentialHistogram: {
    aggregationTemporality: 2,
    dataPoints: [
      {
        attributes: [kv("queue", "ranked")],
        startTimeUnixNano: START_NANOS,
        timeUnixNano: TIME_NANOS,
        count: "38",
        sum: 812.25,
        scale: 3,
        zeroCount: "1",
        positive: { offset: 3, bucketCounts: ["10", "0", "0", "20", "5", "2"] },
        negative: { offset: 0, bucketCounts: [] },
      },
    ],
  },
};

function convert(body: Uint8Array, format: "protobuf" | "json" = "protobuf"): OtlpConversion {
  const result = convertOtlpToRemoteWrite(body, format, { timestampMs: NOW_MS });
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

function seriesOf(c: OtlpConversion): PlainTimeSeries[] {
  return decodeWriteRequest(c.writeRequest);
}

function byLabels(series: PlainTimeSeries[]): Map<string, PlainTimeSeries> {
  return new Map(series.map((s) => [labelText(s.labels), s]));
}

describe("convertOtlpToRemoteWrite converts cumulative and gauge points exactly", () => {
  test.each(["protobuf", "json"] as const)("a counter, a gauge, an up-down counter, an explicit and an exponential histogram (%s)", (format) => {
    const request = requestOf([counter, gauge, upDown, histogram, expoHistogram]);
    const c = convert(format === "protobuf" ? encodeRequest(request) : encodeJsonRequest(request), format);
    expect(c.rejected).toEqual([]);
    expect([c.series, c.samples, c.histograms]).toEqual([3 + 6 + 1, 3 + 6, 1]);

    const series = byLabels(seriesOf(c));
    const float = (labels: string) => series.get(labels)?.samples;
    expect(float('{__name__="mm_matches_started_total", queue="ranked", region="eu-west-1"}')).toEqual([{ value: 1234.5, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_queue_depth", queue="ranked"}')).toEqual([{ value: 17, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_lobbies_open"}')).toEqual([{ value: -3, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="0.1", queue="ranked"}')).toEqual([{ value: 1, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="1", queue="ranked"}')).toEqual([{ value: 3, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="10", queue="ranked"}')).toEqual([{ value: 6, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="+Inf", queue="ranked"}')).toEqual([{ value: 10, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_wait_seconds_count", queue="ranked"}')).toEqual([{ value: 10, timestamp: NOW_MS }]);
    expect(float('{__name__="mm_wait_seconds_sum", queue="ranked"}')).toEqual([{ value: 55.5, timestamp: NOW_MS }]);

    const native = series.get('{__name__="mm_rtt_ms", queue="ranked"}')!.histograms;
    expect(native).toHaveLength(1);
    const h = native[0];
    expect([h.schema, h.countInt, h.zeroCountInt, h.sum, h.zeroThreshold, h.resetHint, h.timestamp]).toEqual([3, 38, 1, 812.25, 0, 0, NOW_MS]);
    expect(h.positiveSpans).toEqual([{ offset: 4, length: 1 }, { offset: 2, length: 3 }]);
    expect(h.positiveDeltas).toEqual([10, 10, -15, -3]);
    expect(h.negativeSpans).toEqual([]);
  });

  test("an exponential histogram above scale 8 is downscaled, shifting in OTel space first", () => {
    // Scale 10 → schema 8 (d = 2): OTel indexes 5, 6, 7, 8 → (i >> 2) + 1 = 2, 2, 2, 3.
    const expo = structuredClone(expoHistogram);
    Object.assign(expo.exponentialHistogram.dataPoints[0], { scale: 10, count: "10", zeroCount: "0", positive: { offset: 5, bucketCounts: ["1", "2", "3", "4"] } });
    const h = seriesOf(convert(encodeRequest(requestOf([expo]))))[0].histograms[0];
    expect(h.schema).toBe(8);
    expect(bucketsByIndex(h.positiveSpans, h.positiveDeltas, h.positiveCounts)).toEqual(new Map([[2, 6], [3, 4]]));
  });

  test("the output is a valid remote-write body the hub's scan admits, and snappyBody is it compressed", () => {
    const c = convert(encodeRequest(requestOf([counter, gauge, upDown, histogram, expoHistogram])));
    const scan = scanWriteRequest(c.writeRequest, LIMITS, newPolicy());
    expect(scan.ok && [scan.value.series.length, scan.value.rejectedSeries, scan.value.samples, scan.value.histograms]).toEqual([10, 0, 9, 1]);
    expect(Buffer.from(snappyjs.uncompress(c.snappyBody)).equals(Buffer.from(c.writeRequest))).toBe(true);
  });

  test("resource attributes are copied only when asked for", () => {
    const body = encodeRequest(requestOf([gauge]));
    const withService = convertOtlpToRemoteWrite(body, "protobuf", { timestampMs: NOW_MS, includeResourceAttributes: new Set(["service_name"]) });
    expect(withService.ok && labelText(decodeWriteRequest(withService.value.writeRequest)[0].labels)).toBe('{__name__="mm_queue_depth", queue="ranked", service_name="matchmaker"}');
  });
});

describe("convertOtlpToRemoteWrite refuses what it cannot convert, point by point", () => {
  test("delta sums and histograms are rejected with advice; the rest of the request converts", () => {
    const deltaSum = structuredClone(counter);
    deltaSum.name = "mm.players.joined";
    deltaSum.sum.aggregationTemporality = 1;
    const deltaHistogram = structuredClone(histogram);
    deltaHistogram.histogram.aggregationTemporality = 1;
    const c = convert(encodeRequest(requestOf([deltaSum, deltaHistogram, gauge])));
    expect(c.rejected).toEqual([{ reason: "delta_temporality", count: 2 }]);
    expect(c.messages[0]).toBe(
      'metric "mm_players_joined": delta temporality is not accepted (Prometheus stores cumulative series); ' +
        "export cumulative temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative) or send through an edge agent, which accumulates deltas",
    );
    expect(seriesOf(c).map((s) => labelText(s.labels))).toEqual(['{__name__="mm_queue_depth", queue="ranked"}']);
  });

  test("the decoder's own reasons come through (summary: unsupported_type)", () => {
    const summary = { name: "mm.summary", summary: { dataPoints: [{ attributes: [], timeUnixNano: TIME_NANOS, count: "1", sum: 1 }] } };
    const c = convert(encodeRequest(requestOf([summary, gauge])));
    expect(c.rejected).toEqual([{ reason: "unsupported_type", count: 1 }]);
    expect(c.series).toBe(1);
  });

  test("two points of one series in one request: the last is kept, the earlier counted", () => {
    const twice = structuredClone(gauge);
    twice.gauge.dataPoints.push({ ...twice.gauge.dataPoints[0], asInt: "18" });
    const c = convert(encodeRequest(requestOf([twice])));
    expect(c.rejected).toEqual([{ reason: "duplicate_series", count: 1 }]);
    expect(seriesOf(c)[0].samples).toEqual([{ value: 18, timestamp: NOW_MS }]);
  });

  test("a histogram carrying its own le label cannot become classic buckets: invalid_series", () => {
    const withLe = structuredClone(histogram);
    withLe.histogram.dataPoints[0].attributes.push(kv("le", "x"));
    const c = convert(encodeRequest(requestOf([withLe])));
    expect(c.rejected).toEqual([{ reason: "invalid_series", count: 1 }]);
    expect(c.writeRequest.length).toBe(0);
  });

  test.each([
    ["protobuf", Uint8Array.of(0x0a, 0x05, 0x01), 400, "malformed_protobuf"],
    ["json", new TextEncoder().encode("{not json"), 400, "malformed_json"],
    ["json", Uint8Array.of(0x7b, 0xff, 0x7d), 400, "invalid_utf8"],
  ] as const)("a broken %s body is a whole-request error", (format, body, status, reason) => {
    const result = convertOtlpToRemoteWrite(body, format, { timestampMs: NOW_MS });
    expect(result.ok ? undefined : [result.error.status, result.error.reason]).toEqual([status, reason]);
  });

  test("an empty request converts to an empty body", () => {
    const c = convert(encodeRequest({ resourceMetrics: [] }));
    expect([c.writeRequest.length, c.snappyBody.length, c.series]).toEqual([0, 0, 0]);
  });
});

describe("a body from the real OpenTelemetry JS SDK (exporter-metrics-otlp-proto)", () => {
  let server: Server;
  let url: string;
  const captured: Uint8Array[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        captured.push(new Uint8Array(Buffer.concat(chunks)));
        const reply = encodeOtlpResponse("protobuf");
        res.writeHead(200, { "content-type": reply.contentType }).end(reply.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function exportWithSdk(temporality: AggregationTemporality): Promise<Uint8Array> {
    captured.length = 0;
    const exporter = new ProtoExporter({ url });
    exporter.selectAggregationTemporality = () => temporality;
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ "service.name": "game-server" }),
      readers: [reader],
      views: [{ instrumentName: "latency.expo", aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    });
    const meter = provider.getMeter("hub-test");
    const requests = meter.createCounter("http.requests", { valueType: ValueType.INT });
    requests.add(5, { route: "/a" });
    requests.add(7, { route: "/a" });
    meter.createObservableGauge("cpu.temperature").addCallback((r) => r.observe(61.5, { core: "3" }));
    const duration = meter.createHistogram("request.duration", { advice: { explicitBucketBoundaries: [10, 100, 1000] } });
    for (const v of [5, 50, 50, 500, 5000]) duration.record(v, { route: "/a" });
    const latency = meter.createHistogram("latency.expo");
    for (const v of [1, 2, 4, 8]) latency.record(v, { route: "/a" });
    await reader.forceFlush();
    await provider.shutdown();
    expect(captured.length).toBeGreaterThanOrEqual(1);
    return captured[0];
  }

  test("cumulative export: exact values for counter, gauge, explicit and exponential histogram", async () => {
    const c = convert(await exportWithSdk(AggregationTemporality.CUMULATIVE));
    expect(c.rejected).toEqual([]);
    const series = byLabels(seriesOf(c));
    const value = (labels: string) => series.get(labels)?.samples[0]?.value;
    expect(value('{__name__="http_requests_total", route="/a"}')).toBe(12);
    expect(value('{__name__="cpu_temperature", core="3"}')).toBe(61.5);
    expect(["10", "100", "1000", "+Inf"].map((le) => value(`{__name__="request_duration_bucket", le="${le}", route="/a"}`))).toEqual([1, 3, 4, 5]);
    expect(value('{__name__="request_duration_count", route="/a"}')).toBe(5);
    expect(value('{__name__="request_duration_sum", route="/a"}')).toBe(5605);
    // 1, 2, 4, 8: the SDK settles at scale 5, where 2^k is OTel index (k << 5) - 1, i.e. Prometheus index k << 5.
    const h = series.get('{__name__="latency_expo", route="/a"}')!.histograms[0];
    expect([h.schema, h.countInt, h.sum, h.zeroCountInt]).toEqual([5, 4, 15, 0]);
    expect(bucketsByIndex(h.positiveSpans, h.positiveDeltas, h.positiveCounts)).toEqual(new Map([[0, 1], [32, 1], [64, 1], [96, 1]]));
    const scan = scanWriteRequest(c.writeRequest, LIMITS, newPolicy());
    expect(scan.ok && scan.value.rejectedSeries).toBe(0);
  });

  test("delta export: sums and histograms rejected as delta_temporality, the gauge kept", async () => {
    const c = convert(await exportWithSdk(AggregationTemporality.DELTA));
    expect(c.rejected).toEqual([{ reason: "delta_temporality", count: 3 }]);
    expect(seriesOf(c).map((s) => labelText(s.labels))).toEqual(['{__name__="cpu_temperature", core="3"}']);
  });
});
