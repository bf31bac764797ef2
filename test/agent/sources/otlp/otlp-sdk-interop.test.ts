/**
 * The real OpenTelemetry JS SDK exports to a loopback node:http server (proto and JSON
 * exporters); the captured bodies must decode to the exact values the test recorded.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ValueType } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPMetricExporter as JsonExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPMetricExporter as ProtoExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  AggregationType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from "@opentelemetry/sdk-metrics";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Point, PointValue } from "../../../../agent/core/points";
import { decodeOtlpMetrics, type OtlpFormat } from "../../../../agent/sources/otlp/otlp-decode";
import { encodeOtlpResponse } from "../../../../agent/sources/otlp/otlp-response";
import { opentelemetry } from "../../../../agent/sources/otlp/proto/otlp.js";

interface CapturedRequest {
  contentType: string;
  body: Uint8Array;
}

let server: Server;
let url: string;
const captured: CapturedRequest[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const contentType = String(req.headers["content-type"]);
      captured.push({ contentType, body: new Uint8Array(Buffer.concat(chunks)) });
      const reply = encodeOtlpResponse(contentType.startsWith("application/json") ? "json" : "protobuf");
      res.writeHead(200, { "content-type": reply.contentType }).end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/** Records one fixed set of measurements and returns the first export request the SDK sent. */
async function exportWithSdk(format: OtlpFormat, temporality: AggregationTemporality): Promise<CapturedRequest> {
  captured.length = 0;
  const exporter: PushMetricExporter = format === "protobuf" ? new ProtoExporter({ url }) : new JsonExporter({ url });
  // Every instrument (UpDownCounter too) in the temporality under test.
  exporter.selectAggregationTemporality = () => temporality;
  const exportResults: ExportResult[] = [];
  const exportOnce = exporter.export.bind(exporter);
  exporter.export = (metrics, done) =>
    exportOnce(metrics, (result) => {
      exportResults.push(result);
      done(result);
    });

  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ "service.name": "game-server", "host.name": "edge-1", "cloud.region": "eu-west-1" }),
    readers: [reader],
    views: [{ instrumentName: "latency.expo", aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  recordMeasurements(provider);
  await reader.forceFlush();
  await provider.shutdown();

  expect(exportResults[0]?.code).toBe(ExportResultCode.SUCCESS); // the SDK accepted our response
  expect(captured.length).toBeGreaterThanOrEqual(1);
  return captured[0];
}

function recordMeasurements(provider: MeterProvider): void {
  const meter = provider.getMeter("interop-test", "1.0.0");

  const requests = meter.createCounter("http.requests", { valueType: ValueType.INT });
  requests.add(5, { route: "/a", "http.method": "GET" });
  requests.add(7, { route: "/a", "http.method": "GET" });
  requests.add(1, { route: "/b", "http.method": "POST" });

  const bytes = meter.createCounter("net.bytes");
  bytes.add(0.25, { "service.name": "from-point" }); // data point attribute beats the resource

  const depth = meter.createUpDownCounter("queue.depth", { valueType: ValueType.INT });
  depth.add(10, { queue: "q1" });
  depth.add(-3, { queue: "q1" });

  const temperature = meter.createObservableGauge("cpu.temperature");
  temperature.addCallback((result) => result.observe(61.5, { core: 3, throttled: false, ratio: 0.5 }));

  const duration = meter.createHistogram("request.duration", { advice: { explicitBucketBoundaries: [10, 100, 1000] } });
  for (const v of [5, 50, 50, 500, 5000]) duration.record(v, { route: "/a" });

  const latency = meter.createHistogram("latency.expo");
  for (const v of [1, 2, 4, 8]) latency.record(v, { route: "/a" });
}

function expoCounts(length: number, ones: number[]): number[] {
  const counts = new Array<number>(length).fill(0);
  for (const i of ones) counts[i] = 1;
  return counts;
}

function expectedPoints(temporality: "delta" | "cumulative"): Array<Omit<Point, "startTimeMs">> {
  const withService = (labels: Record<string, string>) => ({ ...labels, service_name: "game-server" });
  const point = (name: string, labels: Record<string, string>, value: PointValue) => ({ name, labels: withService(labels), value });
  return [
    point("http_requests", { route: "/a", http_method: "GET" }, { type: "counter", temporality, value: 12 }),
    point("http_requests", { route: "/b", http_method: "POST" }, { type: "counter", temporality, value: 1 }),
    { name: "net_bytes", labels: { service_name: "from-point" }, value: { type: "counter", temporality, value: 0.25 } },
    point("queue_depth", { queue: "q1" }, { type: "updown", temporality, value: 7 }),
    point("cpu_temperature", { core: "3", throttled: "false", ratio: "0.5" }, { type: "gauge", value: 61.5 }),
    point("request_duration", { route: "/a" }, {
      type: "explicit",
      temporality,
      data: { bounds: [10, 100, 1000], counts: [1, 2, 1, 1], count: 5, sum: 5605 },
    }),
    // 1, 2, 4, 8 at MaxSize 160: the SDK downscales from 20 to 5, where 2^k maps to (k << 5) - 1.
    point("latency_expo", { route: "/a" }, {
      type: "expo",
      temporality,
      data: {
        scale: 5,
        zeroThreshold: 0,
        zeroCount: 0,
        count: 4,
        sum: 15,
        min: 1,
        max: 8,
        positive: { offset: -1, counts: expoCounts(97, [0, 32, 64, 96]) },
        negative: { offset: 0, counts: [] },
      },
    }),
  ];
}

function sortPoints<T extends { name: string; labels: Record<string, string> }>(points: T[]): T[] {
  const key = (p: T) => `${p.name}${JSON.stringify(Object.entries(p.labels).sort())}`;
  return [...points].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

describe.each([
  ["protobuf", "application/x-protobuf"],
  ["json", "application/json"],
] as const)("OTLP %s exporter of the JS SDK", (format, contentType) => {
  test.each([
    ["delta", AggregationTemporality.DELTA],
    ["cumulative", AggregationTemporality.CUMULATIVE],
  ] as const)("decodes a %s export to the exact recorded values", async (temporalityName, temporality) => {
    const testStartMs = Date.now();
    const request = await exportWithSdk(format, temporality);
    expect(request.contentType).toContain(contentType);

    const decoded = decodeOtlpMetrics(request.body, format, { includeResourceAttributes: new Set(["service_name"]) });
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value.rejected).toEqual({ count: 0, reasons: {}, messages: [] });

    const { points } = decoded.value;
    for (const p of points) {
      expect(p.startTimeMs).toBeGreaterThanOrEqual(testStartMs - 1);
      expect(p.startTimeMs).toBeLessThanOrEqual(Date.now());
    }
    const withoutStart = points.map(({ startTimeMs: _, ...rest }) => rest);
    expect(sortPoints(withoutStart)).toEqual(sortPoints(expectedPoints(temporalityName)));
  });
});

test("decodes as many data points as protobufjs' generated decoder finds", async () => {
  const request = await exportWithSdk("protobuf", AggregationTemporality.CUMULATIVE);
  const reference = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest.decode(request.body);
  let referenceCount = 0;
  for (const rm of reference.resourceMetrics) {
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const data = m.gauge ?? m.sum ?? m.histogram ?? m.exponentialHistogram ?? m.summary;
        referenceCount += data?.dataPoints?.length ?? 0;
      }
    }
  }
  const decoded = decodeOtlpMetrics(request.body, "protobuf");
  expect(decoded.ok && decoded.value.points.length).toBe(referenceCount);
});
