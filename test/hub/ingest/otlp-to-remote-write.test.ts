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
/** TIME_NANOS in ms: the points' own time, 3.456 s before the receive time. */
const TIME_MS = 1_764_000_120_000;

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
    expect(c.restamped).toEqual([]);
    expect([c.series, c.samples, c.histograms]).toEqual([3 + 6 + 1, 3 + 6, 1]);

    const series = byLabels(seriesOf(c));
    const float = (labels: string) => series.get(labels)?.samples;
    expect(float('{__name__="mm_matches_started_total", queue="ranked", region="eu-west-1"}')).toEqual([{ value: 1234.5, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_queue_depth", queue="ranked"}')).toEqual([{ value: 17, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_lobbies_open"}')).toEqual([{ value: -3, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="0.1", queue="ranked"}')).toEqual([{ value: 1, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="1", queue="ranked"}')).toEqual([{ value: 3, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="10", queue="ranked"}')).toEqual([{ value: 6, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_wait_seconds_bucket", le="+Inf", queue="ranked"}')).toEqual([{ value: 10, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_wait_seconds_count", queue="ranked"}')).toEqual([{ value: 10, timestamp: TIME_MS }]);
    expect(float('{__name__="mm_wait_seconds_sum", queue="ranked"}')).toEqual([{ value: 55.5, timestamp: TIME_MS }]);

    const native = series.get('{__name__="mm_rtt_ms", queue="ranked"}')!.histograms;
    expect(native).toHaveLength(1);
    const h = native[0];
    expect([h.schema, h.countInt, h.zeroCountInt, h.sum, h.zeroThreshold, h.resetHint, h.timestamp]).toEqual([3, 38, 1, 812.25, 0, 0, TIME_MS]);
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

  test("two points of one series at one timestamp in one request: the last is kept, the earlier counted", () => {
    const twice = structuredClone(gauge);
    twice.gauge.dataPoints.push({ ...twice.gauge.dataPoints[0], asInt: "18" });
    const c = convert(encodeRequest(requestOf([twice])));
    expect(c.rejected).toEqual([{ reason: "duplicate_series", count: 1 }]);
    expect(c.messages).toEqual(['metric "mm_queue_depth": a series has more than one point at one timestamp in one request; only its last point is kept']);
    expect(seriesOf(c).map((s) => s.samples)).toEqual([[{ value: 18, timestamp: TIME_MS }]]);
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

/** Unix nanoseconds of `ms` plus `extraNanos`, as OTLP/JSON spells them (exact: BigInt). */
const nanosOf = (ms: number, extraNanos = 0): string => (BigInt(ms) * 1_000_000n + BigInt(extraNanos)).toString();

function bodyOf(request: unknown, format: "protobuf" | "json"): Uint8Array {
  return format === "protobuf" ? encodeRequest(request) : encodeJsonRequest(request);
}

/** Every TimeSeries in body order as [labels, timestamps of its samples and histograms]. */
function timestampsOf(c: OtlpConversion): Array<[string, number[]]> {
  return seriesOf(c).map((s) => [labelText(s.labels), [...s.samples.map((x) => x.timestamp), ...s.histograms.map((h) => h.timestamp)]]);
}

function withPoints<T extends { gauge: { dataPoints: object[] } }>(metric: T, points: object[]): T {
  const copy = structuredClone(metric);
  copy.gauge.dataPoints = points;
  return copy;
}

describe("convertOtlpToRemoteWrite keeps the sender's timestamps", () => {
  test.each(["protobuf", "json"] as const)("each sample carries its point's time_unix_nano, floored to whole ms (%s)", (format) => {
    const timed = <T>(metric: T, path: (m: T) => { timeUnixNano: string }, nanos: string): T => {
      const copy = structuredClone(metric);
      path(copy).timeUnixNano = nanos;
      return copy;
    };
    const request = requestOf([
      timed(counter, (m) => m.sum.dataPoints[0], "1764000100123456789"),
      timed(gauge, (m) => m.gauge.dataPoints[0], "1764000110000999999"),
      timed(upDown, (m) => m.sum.dataPoints[0], "1764000000000000001"),
      timed(histogram, (m) => m.histogram.dataPoints[0], "1764000119999999999"),
      timed(expoHistogram, (m) => m.exponentialHistogram.dataPoints[0], "1764000123000000500"),
    ]);
    const c = convert(bodyOf(request, format), format);
    expect([c.rejected, c.restamped]).toEqual([[], []]);
    expect(timestampsOf(c)).toEqual([
      ['{__name__="mm_matches_started_total", queue="ranked", region="eu-west-1"}', [1_764_000_100_123]],
      ['{__name__="mm_queue_depth", queue="ranked"}', [1_764_000_110_000]],
      ['{__name__="mm_lobbies_open"}', [1_764_000_000_000]],
      ['{__name__="mm_wait_seconds_bucket", le="0.1", queue="ranked"}', [1_764_000_119_999]],
      ['{__name__="mm_wait_seconds_bucket", le="1", queue="ranked"}', [1_764_000_119_999]],
      ['{__name__="mm_wait_seconds_bucket", le="10", queue="ranked"}', [1_764_000_119_999]],
      ['{__name__="mm_wait_seconds_bucket", le="+Inf", queue="ranked"}', [1_764_000_119_999]],
      ['{__name__="mm_wait_seconds_count", queue="ranked"}', [1_764_000_119_999]],
      ['{__name__="mm_wait_seconds_sum", queue="ranked"}', [1_764_000_119_999]],
      ['{__name__="mm_rtt_ms", queue="ranked"}', [1_764_000_123_000]],
    ]);
  });

  test.each(["protobuf", "json"] as const)("a point without time_unix_nano, or with 0, gets the receive time (%s)", (format) => {
    const g = withPoints(gauge, [
      { attributes: [kv("queue", "absent")], asInt: "1" },
      { attributes: [kv("queue", "zero")], timeUnixNano: "0", asInt: "2" },
      { attributes: [kv("queue", "own")], timeUnixNano: TIME_NANOS, asInt: "3" },
    ]);
    const c = convert(bodyOf(requestOf([g]), format), format);
    expect([c.rejected, c.restamped]).toEqual([[], []]);
    expect(seriesOf(c).map((s) => [labelText(s.labels), s.samples])).toEqual([
      ['{__name__="mm_queue_depth", queue="absent"}', [{ value: 1, timestamp: NOW_MS }]],
      ['{__name__="mm_queue_depth", queue="zero"}', [{ value: 2, timestamp: NOW_MS }]],
      ['{__name__="mm_queue_depth", queue="own"}', [{ value: 3, timestamp: TIME_MS }]],
    ]);
  });

  test.each(["protobuf", "json"] as const)("a point more than 10 minutes ahead gets the receive time and is counted as future_timestamp, not rejected (%s)", (format) => {
    const g = withPoints(gauge, [
      { attributes: [kv("queue", "at-limit")], timeUnixNano: nanosOf(NOW_MS + 600_000, 999_999), asInt: "1" },
      { attributes: [kv("queue", "past-limit")], timeUnixNano: nanosOf(NOW_MS + 600_001), asInt: "2" },
      { attributes: [kv("queue", "year-2100")], timeUnixNano: "4102444800000000000", asInt: "3" },
      { attributes: [kv("queue", "max-uint64")], timeUnixNano: "18446744073709551615", asInt: "4" },
    ]);
    const c = convert(bodyOf(requestOf([g]), format), format);
    expect(c.rejected).toEqual([]);
    expect(c.restamped).toEqual([{ reason: "future_timestamp", count: 3 }]);
    expect(c.messages).toEqual([
      'metric "mm_queue_depth": time_unix_nano is more than 10 minutes ahead of the receive time; stored at the receive time instead (check the sender\'s clock)',
    ]);
    expect(seriesOf(c).map((s) => [labelText(s.labels), s.samples])).toEqual([
      ['{__name__="mm_queue_depth", queue="at-limit"}', [{ value: 1, timestamp: NOW_MS + 600_000 }]],
      ['{__name__="mm_queue_depth", queue="past-limit"}', [{ value: 2, timestamp: NOW_MS }]],
      ['{__name__="mm_queue_depth", queue="year-2100"}', [{ value: 3, timestamp: NOW_MS }]],
      ['{__name__="mm_queue_depth", queue="max-uint64"}', [{ value: 4, timestamp: NOW_MS }]],
    ]);
    expect([c.series, c.samples]).toEqual([4, 4]);
  });

  test.each(["protobuf", "json"] as const)("two points of one series at different times: two samples, oldest first (%s)", (format) => {
    const earlierMs = TIME_MS - 15_000;
    const g = withPoints(gauge, [
      { attributes: [kv("queue", "ranked")], timeUnixNano: TIME_NANOS, asInt: "18" },
      { attributes: [kv("queue", "casual")], timeUnixNano: TIME_NANOS, asInt: "5" },
      { attributes: [kv("queue", "ranked")], timeUnixNano: nanosOf(earlierMs), asInt: "17" },
    ]);
    const c = convert(bodyOf(requestOf([g]), format), format);
    expect(c.rejected).toEqual([]);
    expect(seriesOf(c).map((s) => [labelText(s.labels), s.samples])).toEqual([
      ['{__name__="mm_queue_depth", queue="ranked"}', [{ value: 17, timestamp: earlierMs }]],
      ['{__name__="mm_queue_depth", queue="ranked"}', [{ value: 18, timestamp: TIME_MS }]],
      ['{__name__="mm_queue_depth", queue="casual"}', [{ value: 5, timestamp: TIME_MS }]],
    ]);
    expect([c.series, c.samples]).toEqual([3, 3]);
    const scan = scanWriteRequest(c.writeRequest, LIMITS, newPolicy());
    expect(scan.ok && [scan.value.series.length, scan.value.rejectedSeries, scan.value.samples]).toEqual([3, 0, 3]);
  });

  test("only same-timestamp points of a series follow last-wins; the others stay, in time order", () => {
    const t1 = TIME_MS - 20_000;
    const t2 = TIME_MS - 10_000;
    const point = (nanos: string, asInt: string) => ({ attributes: [kv("queue", "ranked")], timeUnixNano: nanos, asInt });
    const g = withPoints(gauge, [point(TIME_NANOS, "30"), point(nanosOf(t2), "20"), point(nanosOf(t1), "10"), point(nanosOf(t2), "21"), point(TIME_NANOS, "31")]);
    const c = convert(encodeRequest(requestOf([g])));
    expect(c.rejected).toEqual([{ reason: "duplicate_series", count: 2 }]);
    expect(seriesOf(c).map((s) => s.samples)).toEqual([[{ value: 10, timestamp: t1 }], [{ value: 21, timestamp: t2 }], [{ value: 31, timestamp: TIME_MS }]]);
  });

  test("a restamped future point and a point without a time meet at the receive time: the last wins", () => {
    const g = withPoints(gauge, [
      { attributes: [kv("queue", "ranked")], timeUnixNano: nanosOf(NOW_MS + 3_600_000), asInt: "1" },
      { attributes: [kv("queue", "ranked")], asInt: "2" },
    ]);
    const c = convert(encodeRequest(requestOf([g])));
    expect(c.rejected).toEqual([{ reason: "duplicate_series", count: 1 }]);
    expect(c.restamped).toEqual([{ reason: "future_timestamp", count: 1 }]);
    expect(seriesOf(c).map((s) => s.samples)).toEqual([[{ value: 2, timestamp: NOW_MS }]]);
  });

  test("histograms at two times: each classic group and each native histogram in time order", () => {
    const t1 = TIME_MS - 30_000;
    const explicit = structuredClone(histogram);
    const first = explicit.histogram.dataPoints[0];
    explicit.histogram.dataPoints = [first, { ...first, timeUnixNano: nanosOf(t1), count: "4", sum: 5, bucketCounts: ["1", "1", "1", "1"] }];
    const expo = structuredClone(expoHistogram);
    const expoFirst = expo.exponentialHistogram.dataPoints[0];
    expo.exponentialHistogram.dataPoints = [expoFirst, { ...expoFirst, timeUnixNano: nanosOf(t1), count: "1", sum: 1, zeroCount: "1", positive: { offset: 0, bucketCounts: [] } }];
    const c = convert(encodeRequest(requestOf([explicit, expo])));
    expect(c.rejected).toEqual([]);
    const group = (t: number, counts: number[], sum: number): Array<[string, number, number]> => [
      ['{__name__="mm_wait_seconds_bucket", le="0.1", queue="ranked"}', counts[0], t],
      ['{__name__="mm_wait_seconds_bucket", le="1", queue="ranked"}', counts[1], t],
      ['{__name__="mm_wait_seconds_bucket", le="10", queue="ranked"}', counts[2], t],
      ['{__name__="mm_wait_seconds_bucket", le="+Inf", queue="ranked"}', counts[3], t],
      ['{__name__="mm_wait_seconds_count", queue="ranked"}', counts[3], t],
      ['{__name__="mm_wait_seconds_sum", queue="ranked"}', sum, t],
    ];
    const series = seriesOf(c);
    expect(series.slice(0, 12).map((s) => [labelText(s.labels), s.samples[0].value, s.samples[0].timestamp])).toEqual([
      ...group(t1, [1, 2, 3, 4], 5),
      ...group(TIME_MS, [1, 3, 6, 10], 55.5),
    ]);
    expect(series.slice(12).map((s) => [labelText(s.labels), s.histograms.map((h) => [h.countInt, h.timestamp])])).toEqual([
      ['{__name__="mm_rtt_ms", queue="ranked"}', [[1, t1]]],
      ['{__name__="mm_rtt_ms", queue="ranked"}', [[38, TIME_MS]]],
    ]);
    expect([c.series, c.samples, c.histograms]).toEqual([14, 12, 2]);
  });

  test("OTLP/JSON: timeUnixNano as a number converts exactly; a malformed one makes the request malformed", () => {
    // 1764000120999999744 is a double exactly; nanoseconds → ms floors to …120999, not …121000.
    const asNumber = new TextEncoder().encode(
      JSON.stringify(requestOf([withPoints(gauge, [{ attributes: [], timeUnixNano: 0, asInt: "1" }])])).replace('"timeUnixNano":0', '"timeUnixNano":1764000120999999744'),
    );
    expect(seriesOf(convert(asNumber, "json"))[0].samples).toEqual([{ value: 1, timestamp: 1_764_000_120_999 }]);
    for (const bad of ['"soon"', "-1", "1.5", '"1e18"']) {
      const body = new TextEncoder().encode(JSON.stringify(requestOf([withPoints(gauge, [{ attributes: [], timeUnixNano: 0, asInt: "1" }])])).replace('"timeUnixNano":0', `"timeUnixNano":${bad}`));
      const result = convertOtlpToRemoteWrite(body, "json", { timestampMs: NOW_MS });
      expect(result.ok ? undefined : [result.error.status, result.error.reason]).toEqual([400, "malformed_json"]);
    }
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
