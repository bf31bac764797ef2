import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { Aggregator } from "../../../agent/aggregate/aggregator";
import { silentLogger } from "../../../agent/core/deps";
import type { Point } from "../../../agent/core/points";
import { createIngestStats, ingestPoints } from "../../../agent/pipeline/ingest";
import { startHttpServer, type HttpServerHandle } from "../../../agent/platform/http-server";
import { createOtlpHandler, createOtlpSource, type OtlpIngestResult } from "../../../agent/sources/otlp/otlp-source";
import { google, opentelemetry } from "../../../agent/sources/otlp/proto/otlp.js";
import { createSeriesBudget } from "../../../policy/budget/series-budget";
import { DEFAULT_LABEL_POLICY } from "../../../policy/labels/config";
import { createLabelPolicy } from "../../../policy/labels/label-policy";
import { send, sendHeadOnly } from "./http-test-client";

const ExportMetricsServiceRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
const ExportMetricsServiceResponse = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
});

interface Harness {
  port: number;
  points: Point[];
  malformed: Record<string, number>;
}

async function startOtlp(opts: { maxBodyBytes?: number; ingest?: (points: Point[]) => OtlpIngestResult } = {}): Promise<Harness> {
  const h: Harness = { port: 0, points: [], malformed: {} };
  const handler = createOtlpHandler(
    { listen: "127.0.0.1:0", maxBodyBytes: opts.maxBodyBytes ?? 64 * 1024, resourceLabels: new Set(["region"]) },
    {
      log: silentLogger,
      ingest: async (points) => ({ ok: true, value: opts.ingest ? opts.ingest(points) : (h.points.push(...points), { rejected: 0, messages: [] }) }),
      countMalformed: (reason, n = 1) => {
        h.malformed[reason] = (h.malformed[reason] ?? 0) + n;
      },
    },
  );
  const r = await startHttpServer("127.0.0.1:0", handler, silentLogger);
  if (!r.ok) throw new Error(r.error);
  servers.push(r.value);
  h.port = r.value.address().port;
  return h;
}

const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** OTLP/JSON request: one delta counter point per entry of `values`, plus optional extra metrics. */
function request(values: number[], extraMetrics: unknown[] = []) {
  return {
    resourceMetrics: [
      {
        resource: { attributes: [kv("region", "eu"), kv("service.name", "game")] },
        scopeMetrics: [
          {
            scope: { name: "test" },
            metrics: [
              {
                name: "game.kills",
                sum: {
                  aggregationTemporality: 1,
                  isMonotonic: true,
                  dataPoints: values.map((v) => ({ attributes: [kv("az", "a")], timeUnixNano: "1700000000000000000", asDouble: v })),
                },
              },
              ...extraMetrics,
            ],
          },
        ],
      },
    ],
  };
}

const SUMMARY_METRIC = {
  name: "legacy.summary",
  summary: { dataPoints: [{ timeUnixNano: "1700000000000000000", count: "1", sum: 1 }] },
};

const protobufBody = (req: unknown) => new Uint8Array(ExportMetricsServiceRequest.encode(req as never).finish());
const jsonBody = (req: unknown) => Buffer.from(JSON.stringify(req));

function post(port: number, body: Uint8Array | string, headers: Record<string, string | number>) {
  return send(port, { method: "POST", path: "/v1/metrics", headers, body });
}

describe("createOtlpHandler over HTTP", () => {
  it("answers 404 outside /v1/metrics", async () => {
    const { port } = await startOtlp();
    const r = await send(port, { method: "POST", path: "/v1/traces" });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe("not found; OTLP metrics go to POST /v1/metrics\n");
  });

  it("answers 405 with Allow: POST for other methods", async () => {
    const { port } = await startOtlp();
    const r = await send(port, { method: "GET", path: "/v1/metrics" });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("POST");
  });

  it("answers 415 for an unsupported content type, as a JSON Status, and counts it", async () => {
    const h = await startOtlp();
    const r = await post(h.port, "x", { "content-type": "text/plain" });
    expect(r.status).toBe(415);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r.body.toString())).toEqual({
      code: 2,
      message: 'unsupported content-type "text/plain"; use application/x-protobuf or application/json',
    });
    expect(h.malformed).toEqual({ unsupported_content_type: 1 });
  });

  it("answers 415 for an unsupported content encoding in the request's format", async () => {
    const h = await startOtlp();
    const r = await post(h.port, protobufBody(request([1])), { "content-type": "application/x-protobuf", "content-encoding": "br" });
    expect(r.status).toBe(415);
    expect(google.rpc.Status.decode(r.body)).toMatchObject({ code: 2, message: "unsupported content-encoding br; use gzip or none" });
    expect(h.malformed).toEqual({ unsupported_encoding: 1 });
  });

  it("accepts protobuf and answers full success with an empty protobuf body", async () => {
    const h = await startOtlp();
    const r = await post(h.port, protobufBody(request([1, 2])), { "content-type": "application/x-protobuf" });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/x-protobuf");
    expect(r.body.length).toBe(0);
    expect(h.points.map((p) => [p.name, p.labels, p.value])).toEqual([
      ["game_kills", { az: "a", region: "eu" }, { type: "counter", temporality: "delta", value: 1 }],
      ["game_kills", { az: "a", region: "eu" }, { type: "counter", temporality: "delta", value: 2 }],
    ]);
  });

  it("accepts JSON with a charset parameter and answers {}", async () => {
    const h = await startOtlp();
    const r = await post(h.port, jsonBody(request([3])), { "content-type": "Application/JSON; charset=utf-8" });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("{}");
    expect(h.points).toHaveLength(1);
  });

  it("decompresses a gzip body (Content-Encoding is case-insensitive)", async () => {
    const h = await startOtlp();
    const r = await post(h.port, gzipSync(protobufBody(request([1, 2, 3]))), { "content-type": "application/x-protobuf", "content-encoding": "GZIP" });
    expect(r.status).toBe(200);
    expect(h.points).toHaveLength(3);
  });

  it("answers 400 for a body that is not gzip", async () => {
    const h = await startOtlp();
    const r = await post(h.port, jsonBody(request([1])), { "content-type": "application/json", "content-encoding": "gzip" });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString())).toEqual({ code: 3, message: "body is not valid gzip" });
    expect(h.malformed).toEqual({ bad_gzip: 1 });
  });

  it("answers 413 for a gzip bomb, stopping at the limit", async () => {
    const h = await startOtlp({ maxBodyBytes: 64 * 1024 });
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024)); // 50 MiB of zeros, ~50 KiB compressed
    expect(bomb.length).toBeLessThan(64 * 1024);
    const r = await post(h.port, bomb, { "content-type": "application/x-protobuf", "content-encoding": "gzip" });
    expect(r.status).toBe(413);
    expect(google.rpc.Status.decode(r.body)).toMatchObject({ code: 2, message: "decompressed body exceeds 65536 bytes" });
    expect(h.malformed).toEqual({ body_too_large: 1 });
    expect(h.points).toEqual([]);
  });

  it("answers 413 for a compressed body over the limit before decompressing", async () => {
    const h = await startOtlp({ maxBodyBytes: 1024 });
    const r = await post(h.port, new Uint8Array(2048), { "content-type": "application/json" });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString())).toEqual({ code: 2, message: "body of 2048 bytes exceeds 1024 bytes" });
    expect(h.malformed).toEqual({ body_too_large: 1 });
  });

  it("answers 413 from Content-Length without waiting for the body", async () => {
    const { port } = await startOtlp({ maxBodyBytes: 1024 });
    const raw = await sendHeadOnly(port, "POST /v1/metrics HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n");
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw).toContain('{"code":2,"message":"body of 99999999 bytes exceeds 1024 bytes"}');
  });

  it("answers 400 with a google.rpc.Status for a malformed protobuf body", async () => {
    const h = await startOtlp();
    const r = await post(h.port, new Uint8Array([0x0a, 0x05, 0x01]), { "content-type": "application/x-protobuf" });
    expect(r.status).toBe(400);
    const status = google.rpc.Status.decode(r.body);
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/^malformed protobuf: /);
    expect(h.malformed).toEqual({ bad_protobuf: 1 });
  });

  it("answers 400 for malformed JSON", async () => {
    const h = await startOtlp();
    const r = await post(h.port, "{not json", { "content-type": "application/json" });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body.toString()).message).toMatch(/^malformed JSON: /);
    expect(h.malformed).toEqual({ bad_json: 1 });
  });

  it("joins decoder and pipeline rejections into one JSON partial_success", async () => {
    const h = await startOtlp({ ingest: () => ({ rejected: 2, messages: ["budget: full"] }) });
    const r = await post(h.port, jsonBody(request([1, 2], [SUMMARY_METRIC])), { "content-type": "application/json" });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({
      partialSuccess: { rejectedDataPoints: "3", errorMessage: 'metric "legacy_summary": summary metrics are not supported; budget: full' },
    });
    expect(h.malformed).toEqual({ unsupported_type: 1 });
  });

  it("reports label-policy rejections from a real aggregator in partial_success (protobuf)", async () => {
    const agg = new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget({ maxSeries: 10, idleExpiryMs: 1_000 }) });
    const stats = createIngestStats();
    const h = await startOtlp({ ingest: (points) => ingestPoints(agg, stats, points, 0) });
    const req = request([1]);
    req.resourceMetrics[0].scopeMetrics[0].metrics.push({
      name: "game.deaths",
      sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [{ attributes: [kv("player_id", "p-42")], timeUnixNano: "1", asDouble: 1 }] },
    });
    const r = await post(h.port, protobufBody(req), { "content-type": "application/x-protobuf" });
    expect(r.status).toBe(200);
    const decoded = ExportMetricsServiceResponse.decode(r.body);
    expect(Number(decoded.partialSuccess?.rejectedDataPoints)).toBe(1);
    expect(decoded.partialSuccess?.errorMessage).toBe('forbidden_label: label "player_id" is forbidden (player identity never leaves the host)');
    expect(agg.snapshot().map((s) => s.name)).toEqual(["game_kills_total"]);
    expect(stats.pointsAccepted.otlp).toBe(1);
  });
});

describe("createOtlpSource", () => {
  it("is listening only between start and stop, and reports a busy port as LISTEN_FAILED", async () => {
    const deps = { log: silentLogger, ingest: async () => ({ ok: true as const, value: { rejected: 0, messages: [] } }), countMalformed: () => {} };
    const source = createOtlpSource({ listen: "127.0.0.1:0", maxBodyBytes: 1024, resourceLabels: new Set() }, deps);
    expect(source.isListening()).toBe(false);
    expect(await source.start()).toEqual({ ok: true, value: undefined });
    expect(source.isListening()).toBe(true);
    const { port } = source.address()!;
    const clash = createOtlpSource({ listen: `127.0.0.1:${port}`, maxBodyBytes: 1024, resourceLabels: new Set() }, deps);
    const r = await clash.start();
    expect(!r.ok && r.error.code).toBe("LISTEN_FAILED");
    expect(!r.ok && r.error.message).toMatch(new RegExp(`^OTLP listen on 127\\.0\\.0\\.1:${port} failed: `));
    await source.stop();
    expect(source.isListening()).toBe(false);
    expect(source.address()).toBeUndefined();
  });
});

describe("createOtlpHandler when the request cannot be made durable", () => {
  it("answers 503 with Retry-After so the sender retries, and counts it", async () => {
    const malformed: Record<string, number> = {};
    const handler = createOtlpHandler(
      { listen: "127.0.0.1:0", maxBodyBytes: 1 << 20, resourceLabels: new Set() },
      {
        log: silentLogger,
        ingest: async () => ({ ok: false as const, error: "QUEUE_DISK_FULL" }),
        countMalformed: (reason, n = 1) => {
          malformed[reason] = (malformed[reason] ?? 0) + n;
        },
      },
    );
    const body = JSON.stringify({
      resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: "g", gauge: { dataPoints: [{ asDouble: 1, timeUnixNano: "1" }] } }] }] }],
    });
    const reply = await handler({
      method: "POST",
      path: "/v1/metrics",
      query: "",
      remoteAddress: () => "",
      tlsSubject: () => undefined,
      header: (n) => (n === "content-type" ? "application/json" : undefined),
      readBody: async () => ({ ok: true, value: new TextEncoder().encode(body) }),
    });
    expect(reply.status).toBe(503);
    expect(reply.headers?.["retry-after"]).toBe("5");
    expect(new TextDecoder().decode(reply.body as Uint8Array)).toContain("QUEUE_DISK_FULL");
    expect(malformed.not_durable).toBe(1);
  });
});
