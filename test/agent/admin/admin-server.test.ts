import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createAdminHandler, createAdminServer, parseCadenceRequest } from "../../../agent/admin/admin-server";
import { defaultAgentConfig, type AgentConfig } from "../../../agent/config/config";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import type { HttpHandler } from "../../../agent/platform/http-server";
import { AgentRuntime } from "../../../agent/run/agent-runtime";
import { VERSION } from "../../../agent/version";
import { promtoolCheckMetrics } from "./promtool";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function testConfig(): AgentConfig {
  const config = defaultAgentConfig();
  const dataDir = mkdtempSync(path.join(tmpdir(), "edge-agent-admin-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  config.otlp.listen = "127.0.0.1:0";
  config.statsd.listen = "127.0.0.1:0";
  config.admin.listen = "127.0.0.1:0";
  config.dataDir = dataDir;
  config.identity.labels = { host: "gs-test-1" };
  config.policy.budget.maxSeries = 3;
  return config;
}

/** A real runtime (not started unless asked) on a fake clock, with the admin server on an ephemeral port. */
async function harness(opts: { start?: boolean } = {}) {
  const clock = fakeClock(1_700_000_000_000);
  const config = testConfig();
  const runtime = new AgentRuntime(config, { clock, log: silentLogger });
  if (opts.start ?? true) {
    expect(await runtime.start()).toEqual({ ok: true, value: undefined });
    cleanups.push(() => runtime.stop());
  }
  const admin = createAdminServer(config.admin.listen, runtime, silentLogger);
  expect(await admin.start()).toEqual({ ok: true, value: undefined });
  cleanups.push(() => admin.stop());
  const base = `http://127.0.0.1:${admin.address()!.port}`;
  const get = (p: string) => fetch(base + p);
  const post = (p: string, body: string) => fetch(base + p, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { clock, config, runtime, base, get, post };
}

const counter = (name: string, value: number, labels: Record<string, string> = {}) => ({
  name,
  labels,
  value: { type: "counter" as const, temporality: "delta" as const, value },
});

describe("admin /-/ready and /-/healthy", () => {
  it("answers 503 with a reason before the runtime starts", async () => {
    const { get } = await harness({ start: false });
    const r = await get("/-/ready");
    expect(r.status).toBe(503);
    expect(await r.text()).toBe("agent is not running\n");
  });

  it("answers 200 ok once sources listen", async () => {
    const { get } = await harness();
    const r = await get("/-/ready");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await r.text()).toBe("ok\n");
  });

  it("answers 503 when the flush is overdue and 200 again after a flush", async () => {
    const { get, clock, runtime } = await harness();
    clock.advance(2 * 10_000 + 5_000); // exactly at the allowance: still ready
    expect((await get("/-/ready")).status).toBe(200);
    clock.advance(2_000);
    const r = await get("/-/ready");
    expect(r.status).toBe(503);
    expect(await r.text()).toBe("flush is overdue by 2 s\n");
    runtime.flush();
    expect((await get("/-/ready")).status).toBe(200);
  });

  it("answers 503 again after the runtime stops", async () => {
    const { get, runtime } = await harness();
    await runtime.stop();
    expect((await get("/-/ready")).status).toBe(503);
  });

  it("answers /-/healthy with 200 even before start", async () => {
    const { get } = await harness({ start: false });
    const r = await get("/-/healthy");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("ok\n");
  });
});

describe("admin /metrics", () => {
  it("shows only self-metrics before the first flush and passes promtool", async () => {
    const { get } = await harness();
    const r = await get("/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await r.text();
    expect(text).toContain("\nagent_series_budget 3\n");
    expect(text).toContain("\nagent_flushes_total 0\n");
    expect(text).not.toContain("gs-test-1");
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
  });

  it("shows the last flush with identity labels, not points recorded after it", async () => {
    const { get, runtime, clock } = await harness();
    runtime.aggregator.record(counter("kills_total", 2, { region: "eu" }), clock.nowMs());
    runtime.aggregator.record(counter("kills_total", 1, { player_id: "p-1" }), clock.nowMs());
    runtime.flush();
    runtime.aggregator.record(counter("kills_total", 5, { region: "eu" }), clock.nowMs());
    const text = await (await get("/metrics")).text();
    expect(text).toContain('\nkills_total{host="gs-test-1",region="eu"} 2\n');
    expect(text).toContain('\nagent_series_rejected_total{reason="forbidden_label"} 1\n');
    expect(text).toContain("\nactive_series_total 1\n");
    expect(text).toContain("\nagent_flushes_total 1\n");
    expect(text).toContain("\nagent_last_flush_timestamp_seconds 1700000000\n");
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
    runtime.flush();
    expect(await (await get("/metrics")).text()).toContain('\nkills_total{host="gs-test-1",region="eu"} 7\n');
  });
});

describe("admin /api/v1/status", () => {
  it("reports version, cadence, series, rejections and listeners", async () => {
    const { get, runtime, clock } = await harness();
    runtime.aggregator.record(counter("a_total", 1), clock.nowMs());
    for (const n of ["b_total", "c_total", "d_total"]) runtime.aggregator.record(counter(n, 1), clock.nowMs());
    clock.advance(1_500);
    runtime.flush();
    clock.advance(2_000);
    const r = await get("/api/v1/status");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(await r.json()).toEqual({
      version: VERSION,
      uptimeSec: 4,
      cadence: { mode: "steady", intervalSec: 10, incidentRemainingSec: 0 },
      series: { active: 3, budget: 3, idleExpirySec: 300 },
      rejections: { budget: 1 },
      malformed: {},
      points: { accepted: { otlp: 0, statsd: 0 }, rejected: { otlp: 0, statsd: 0 } },
      lastFlush: { atMs: 1_700_000_001_500, ageSec: 2, series: 3, durationMs: 0 },
      flushes: 1,
      queue: { depth: 0, note: "no remote-write sink configured" },
      listeners: { otlp: "127.0.0.1:0", statsd: "127.0.0.1:0", admin: "127.0.0.1:0" },
      ready: { ok: true, reason: "ok" },
      state: { lastSaveError: null },
    });
  });

  it("reports lastFlush null and not ready before start", async () => {
    const { get } = await harness({ start: false });
    const body = await (await get("/api/v1/status")).json();
    expect(body.lastFlush).toBeNull();
    expect(body.flushes).toBe(0);
    expect(body.ready).toEqual({ ok: false, reason: "agent is not running" });
  });
});

describe("admin /api/v1/cadence", () => {
  it.each([
    ["not JSON", "mode=incident", 'body must be a JSON object like {"mode":"incident","ttlSeconds":1800}'],
    ["JSON null", "null", 'body must be a JSON object like {"mode":"incident","ttlSeconds":1800}'],
    ["a JSON string", '"incident"', 'body must be a JSON object like {"mode":"incident","ttlSeconds":1800}'],
    ["an unknown mode", '{"mode":"panic"}', 'mode must be "steady" or "incident" (got "panic")'],
    ["a missing mode", '{"ttlSeconds":60}', 'mode must be "steady" or "incident" (got undefined)'],
    ["a zero TTL", '{"mode":"incident","ttlSeconds":0}', "ttlSeconds must be a number of seconds in (0, 604800] (got 0)"],
    ["a negative TTL", '{"mode":"incident","ttlSeconds":-5}', "ttlSeconds must be a number of seconds in (0, 604800] (got -5)"],
    ["a TTL as a string", '{"mode":"incident","ttlSeconds":"30m"}', 'ttlSeconds must be a number of seconds in (0, 604800] (got "30m")'],
    ["a TTL over seven days", '{"mode":"incident","ttlSeconds":604801}', "ttlSeconds must be a number of seconds in (0, 604800] (got 604801)"],
    ["a null TTL", '{"mode":"incident","ttlSeconds":null}', "ttlSeconds must be a number of seconds in (0, 604800] (got null)"],
  ])("answers 400 with the message for %s", async (_what, body, error) => {
    const { post, runtime } = await harness();
    const r = await post("/api/v1/cadence", body);
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error });
    expect(runtime.cadence.mode()).toBe("steady");
  });

  it("switches to incident with a TTL, persists it, and reverts when the TTL passes", async () => {
    const { post, get, clock, config } = await harness();
    const r = await post("/api/v1/cadence", '{"mode":"incident","ttlSeconds":60}');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ mode: "incident", intervalSec: 5, incidentRemainingSec: 60 });
    const saved = JSON.parse(readFileSync(path.join(config.dataDir, "state.json"), "utf8"));
    expect(saved.cadence).toEqual({ mode: "incident", incidentUntilMs: 1_700_000_060_000 });
    clock.advance(59_000);
    expect(await (await get("/api/v1/cadence")).json()).toEqual({ mode: "incident", intervalSec: 5, incidentRemainingSec: 1 });
    clock.advance(1_000);
    expect(await (await get("/api/v1/cadence")).json()).toEqual({ mode: "steady", intervalSec: 10, incidentRemainingSec: 0 });
  });

  it("uses the default TTL of 1800 s when none is given, and switches back to steady", async () => {
    const { post } = await harness();
    expect(await (await post("/api/v1/cadence", '{"mode":"incident"}')).json()).toEqual({ mode: "incident", intervalSec: 5, incidentRemainingSec: 1800 });
    expect(await (await post("/api/v1/cadence", '{"mode":"steady"}')).json()).toEqual({ mode: "steady", intervalSec: 10, incidentRemainingSec: 0 });
  });

  it("answers 405 for methods other than GET and POST", async () => {
    const { base } = await harness();
    const r = await fetch(`${base}/api/v1/cadence`, { method: "PUT", body: "{}" });
    expect(r.status).toBe(405);
    expect(await r.text()).toBe("use GET or POST\n");
  });

  it("answers 404 with the list of endpoints for an unknown path", async () => {
    const { get } = await harness();
    const r = await get("/nope");
    expect(r.status).toBe(404);
    expect(await r.text()).toBe("not found; see /metrics, /-/ready, /-/healthy, /api/v1/status, /api/v1/cadence\n");
  });

  // BUG (minor): createAdminHandler turns a body refused by readBody (over 4096 bytes, a 413
  // BodyError) into 400 "body must be a JSON object like ...", which tells the operator the
  // wrong thing. Input: POST /api/v1/cadence with a 5000-byte body. Expected 413; actual 400.
  it("answers 413 for a cadence body over 4096 bytes", async () => {
    const { post } = await harness();
    const r = await post("/api/v1/cadence", JSON.stringify({ mode: "incident", pad: "x".repeat(5000) }));
    expect(r.status).toBe(413);
  });
});

describe("parseCadenceRequest", () => {
  it("accepts steady with a TTL (ignored by the cadence) and fractional TTLs", () => {
    expect(parseCadenceRequest({ mode: "steady", ttlSeconds: 5 })).toEqual({ ok: true, value: { mode: "steady", ttlSeconds: 5 } });
    expect(parseCadenceRequest({ mode: "incident", ttlSeconds: 0.5 })).toEqual({ ok: true, value: { mode: "incident", ttlSeconds: 0.5 } });
    expect(parseCadenceRequest({ mode: "incident", ttlSeconds: 604800 })).toEqual({ ok: true, value: { mode: "incident", ttlSeconds: 604800 } });
  });

  it("rejects NaN and Infinity TTLs", () => {
    expect(parseCadenceRequest({ mode: "incident", ttlSeconds: Number.NaN }).ok).toBe(false);
    expect(parseCadenceRequest({ mode: "incident", ttlSeconds: Infinity }).ok).toBe(false);
  });
});

describe("createAdminHandler without a server", () => {
  it("serves a request object directly", async () => {
    const config = testConfig();
    const runtime = new AgentRuntime(config, { clock: fakeClock(), log: silentLogger });
    const handler: HttpHandler = createAdminHandler(runtime);
    const reply = await handler({ method: "GET", path: "/-/healthy", query: "", remoteAddress: () => "", tlsSubject: () => undefined, header: () => undefined, readBody: async () => ({ ok: true, value: new Uint8Array() }) });
    expect(reply).toEqual({ status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n" });
  });
});
