/**
 * The encoder's bodies against a real OTLP/HTTP receiver on loopback: our own OTLP source
 * handler (createOtlpHandler) behind the agent's HTTP server, as an OpenTelemetry-compatible
 * endpoint would receive them.
 */
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../../agent/core/deps";
import type { Point } from "../../../../agent/core/points";
import { startHttpServer, type HttpServerHandle } from "../../../../agent/platform/http-server";
import { encodeOtlpExport, OTLP_EXPORT_HEADERS } from "../../../../agent/sinks/otlp/otlp-encoder";
import { createOtlpHandler } from "../../../../agent/sources/otlp/otlp-source";
import { send } from "../../platform/http-test-client";
import { ExportMetricsServiceResponse, FLUSH_MS, RESOURCE, sampleFlush, START_MS } from "./otlp-sink-test-helpers";

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  while (servers.length > 0) await servers.pop()!.close();
});

async function startReceiver(): Promise<{ port: number; points: Point[]; malformed: Record<string, number> }> {
  const received = { port: 0, points: [] as Point[], malformed: {} as Record<string, number> };
  const handler = createOtlpHandler(
    { listen: "127.0.0.1:0", maxBodyBytes: 1 << 20, resourceLabels: new Set(["host"]) },
    {
      log: silentLogger,
      ingest: async (points) => {
        received.points.push(...points);
        return { ok: true, value: { rejected: 0, messages: [] } };
      },
      countMalformed: (reason, n = 1) => {
        received.malformed[reason] = (received.malformed[reason] ?? 0) + n;
      },
    },
  );
  const r = await startHttpServer("127.0.0.1:0", handler, silentLogger);
  if (!r.ok) throw new Error(r.error);
  servers.push(r.value);
  received.port = r.value.address().port;
  return received;
}

describe("OTLP export bodies over HTTP", () => {
  it("are accepted in full by an OTLP/HTTP receiver, every point intact", async () => {
    const receiver = await startReceiver();
    const requests = encodeOtlpExport(sampleFlush(), RESOURCE, FLUSH_MS, START_MS, { maxRequestBytes: 400 });
    expect(requests.length).toBeGreaterThan(1);
    for (const { body } of requests) {
      const reply = await send(receiver.port, { method: "POST", path: "/v1/metrics", headers: { ...OTLP_EXPORT_HEADERS }, body });
      expect(reply.status).toBe(200);
      expect(reply.headers["content-type"]).toBe("application/x-protobuf");
      expect(ExportMetricsServiceResponse.decode(reply.body).partialSuccess ?? null).toBeNull();
    }
    expect(receiver.malformed).toEqual({});
    const flush = sampleFlush();
    expect(receiver.points.map((p) => [p.name, p.labels.host, p.startTimeMs])).toEqual([
      ["game_kills_total", "edge-eu-07", START_MS],
      ["game_kills_total", "edge-eu-07", START_MS],
      ["players_online", "edge-eu-07", START_MS],
      ["players_online", "edge-eu-07", START_MS],
      ["tick_duration_seconds", "edge-eu-07", START_MS],
      ["tick_duration_seconds", "edge-eu-07", START_MS],
      ["request_size_bytes", "edge-eu-07", START_MS],
    ]);
    expect(receiver.points.map((p) => p.value)).toEqual([
      { type: "counter", temporality: "cumulative", value: 42 },
      { type: "counter", temporality: "cumulative", value: 7.5 },
      { type: "gauge", value: 0 },
      { type: "gauge", value: -3.25 },
      { type: "expo", temporality: "cumulative", data: flush[4].expo },
      { type: "expo", temporality: "cumulative", data: flush[5].expo },
      { type: "explicit", temporality: "cumulative", data: flush[6].explicit },
    ]);
    expect(receiver.points[3].labels).toEqual({ map: "naïve ✓", host: "edge-eu-07" });
  });

  it("are accepted gzipped, as the sink will send them", async () => {
    const receiver = await startReceiver();
    const [{ body, points }] = encodeOtlpExport(sampleFlush(), RESOURCE, FLUSH_MS, START_MS);
    const reply = await send(receiver.port, {
      method: "POST",
      path: "/v1/metrics",
      headers: { ...OTLP_EXPORT_HEADERS, "Content-Encoding": "gzip" },
      body: gzipSync(body),
    });
    expect(reply.status).toBe(200);
    expect(receiver.points).toHaveLength(points);
  });
});
