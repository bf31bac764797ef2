/**
 * The compiled hub between senders and a real Prometheus 2.42: agent → hub → Prometheus with
 * exact values, every answer path (401/400/409/413/415/429), OTLP straight into the hub, and the
 * residency rule refused at start and blocked at runtime.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBinary, sleep, startAgent, waitFor, type AgentHandle } from "../support/agent-process";
import { startHub, type HubHandle } from "../support/hub-process";
import { startPrometheus, type Store } from "../support/stores";
import { encodeWriteRequest, snappyCompress, type TimeSeriesShape } from "../hub/ingest/ingest-test-helpers";
import { createSocket } from "node:dgram";

const TOKEN_A = "tenant-a-token-0123456789";
const TOKEN_B = "tenant-b-token-0123456789";
const TOKEN_C = "tenant-c-token-0123456789";

function series(name: string, labels: Record<string, string>, value: number, ts: number): TimeSeriesShape {
  const all = { __name__: name, ...labels };
  return {
    labels: Object.keys(all)
      .sort()
      .map((k) => ({ name: k, value: all[k as keyof typeof all] })),
    samples: [{ value, timestamp: ts }],
  };
}

function body(list: TimeSeriesShape[]): Uint8Array {
  return snappyCompress(encodeWriteRequest({ timeseries: list }));
}

async function write(hub: HubHandle, payload: Uint8Array, token?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${hub.url}/api/v1/write`, {
    method: "POST",
    headers: {
      "content-type": "application/x-protobuf",
      "content-encoding": "snappy",
      "x-prometheus-remote-write-version": "0.1.0",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: payload as BodyInit,
  });
}

async function valueIn(store: Store, promql: string): Promise<number | undefined> {
  const r = await store.query(promql);
  return r.length === 1 ? r[0].value : undefined;
}

const YAML = (promUrl: string, dir: string) => `
budget: { evaluateEverySec: 1, throttleWithinSec: 120 }
freshness: { intervalSec: 2 }
upstreams:
  - { name: prom, url: "${promUrl}", residency: eu, shards: 2, queryUrl: "${promUrl.replace("/api/v1/write", "")}" }
  - { name: us-store, url: "http://127.0.0.1:9/api/v1/write", residency: us, shards: 1 }
tenants:
  - { id: a, tokenFile: "${join(dir, "a.token")}", residency: eu, upstream: prom }
  - id: small
    tokenFile: "${join(dir, "small.token")}"
    upstream: prom
    limits: { activeSeries: 3, samplesPerSec: 50, burstSamples: 50, maxRequestBytes: 4096 }
  - { id: thrifty, tokenFile: "${join(dir, "thrifty.token")}", upstream: prom, budget: { monthlyUsd: 0.01 } }
`;

describe("agent hub in front of Prometheus 2.42", () => {
  let prom: Store;
  let hub: HubHandle;
  let dir: string;
  beforeAll(async () => {
    prom = await startPrometheus();
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    dir = mkdtempSync(join(tmpdir(), "hub-e2e-tokens-"));
    writeFileSync(join(dir, "a.token"), TOKEN_A);
    writeFileSync(join(dir, "small.token"), TOKEN_B);
    writeFileSync(join(dir, "thrifty.token"), TOKEN_C);
    hub = await startHub({ yaml: YAML(prom.writeUrl, dir) });
  }, 60_000);
  afterAll(async () => {
    await hub?.stop();
    await prom?.stop();
  });

  it("agent → hub → Prometheus: counters exact, identity labels kept, samples counted per tenant", async () => {
    const tokenFile = join(dir, "agent.token");
    writeFileSync(tokenFile, TOKEN_A);
    let agent: AgentHandle | undefined;
    try {
      agent = await startAgent({
        yaml: `cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }\nremoteWrite: [{ url: "${hub.url}/api/v1/write", name: hub, bearerTokenFile: "${tokenFile}" }]`,
      });
      const s = createSocket("udp4");
      const lines = ["hubpath.logins:3|c|#shard_id:9", "hubpath.logins:4|c|#shard_id:9", ...[3, 5, 8, 250].map((v) => `hubpath.rtt:${v}|ms|#shard_id:9`)];
      await new Promise<void>((r) => s.send(Buffer.from(lines.join("\n")), agent!.statsdPort, "127.0.0.1", () => r()));
      s.close();
      await waitFor(async () => (await valueIn(prom, `hubpath_logins_total{shard_id="9",host="e2e-host"}`)) === 7, 20_000, "hubpath_logins_total = 7 in Prometheus via the hub");
      // A native histogram passes the hub byte for byte: count and sum exact in Prometheus.
      await waitFor(async () => (await valueIn(prom, `histogram_count(hubpath_rtt{shard_id="9",host="e2e-host"})`)) === 4, 20_000, "native histogram count = 4");
      expect(await valueIn(prom, `histogram_sum(hubpath_rtt{shard_id="9",host="e2e-host"})`)).toBe(266);
      expect(await hub.metric('tenant_samples_ingested_total{tenant="a"}')).toBeGreaterThan(0);
    } finally {
      await agent?.stop();
    }
  }, 60_000);

  it("401 without a valid token, and nothing is written", async () => {
    const now = Date.now();
    const payload = body([series("unauth_probe", { job: "x" }, 1, now)]);
    const none = await write(hub, payload);
    expect(none.status).toBe(401);
    const wrong = await write(hub, payload, "not-a-tenant-token-000000");
    expect(wrong.status).toBe(401);
    await sleep(1500);
    expect(await prom.query("unauth_probe")).toEqual([]);
    expect(await hub.metric('hub_requests_rejected_total{tenant="__unauthenticated__",reason="unauthorized"}')).toBe(2);
  });

  it("400 names the policy violation; the request's other series are stored", async () => {
    const now = Date.now();
    const res = await write(
      hub,
      body([series("policy_ok", { job: "g", shard_id: "1" }, 5, now), series("policy_bad", { job: "g", player_id: "p-123" }, 1, now)]),
      TOKEN_A,
    );
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toMatch(/player_id/);
    expect(text).toMatch(/1 series refused/);
    await waitFor(async () => (await valueIn(prom, 'policy_ok{shard_id="1"}')) === 5, 15_000, "policy_ok stored");
    expect(await prom.query("policy_bad")).toEqual([]);
    expect(await hub.metric('tenant_label_rejections_total{tenant="a",reason="forbidden_label"}')).toBe(1);
  });

  it("400 for a malformed body, 413 for a snappy bomb and an oversized body, 415 for gzip", async () => {
    const garbage = await write(hub, new Uint8Array([1, 2, 3, 4, 5, 6, 7]), TOKEN_A);
    expect(garbage.status).toBe(400);
    // Snappy header claiming 1 GiB of output.
    const bomb = await write(hub, new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x00]), TOKEN_A);
    expect(bomb.status).toBe(413);
    expect(await bomb.text()).toMatch(/exceeds|limit|too large/i);
    const big = await write(hub, new Uint8Array(8192), TOKEN_B);
    expect(big.status).toBe(413);
    const gzip = await write(hub, body([series("gz", {}, 1, Date.now())]), TOKEN_A, { "content-encoding": "gzip" });
    expect(gzip.status).toBe(415);
  });

  it("409 for new series over the tenant's series quota; known series still stored", async () => {
    const now = Date.now();
    const list = [0, 1, 2, 3, 4].map((i) => series("quota_series", { job: "q", shard_id: String(i) }, i, now));
    const res = await write(hub, body(list), TOKEN_B);
    expect(res.status).toBe(409);
    expect(await res.text()).toMatch(/quota \(3\): 2 new series dropped, 3 stored/);
    await waitFor(async () => (await prom.query("quota_series")).length === 3, 15_000, "3 quota_series stored");
    // Known series keep flowing.
    await sleep(1100);
    const again = await write(hub, body([series("quota_series", { job: "q", shard_id: "0" }, 10, now + 1000)]), TOKEN_B);
    expect(again.status).toBe(204);
  });

  it("429 with Retry-After over samples/s; a later retry is admitted", async () => {
    await sleep(1200);
    const now = Date.now();
    const list = [0, 1, 2].map((i) => series("quota_series", { job: "q", shard_id: String(i) }, 100, now + i));
    let limited: Response | undefined;
    for (let i = 0; i < 40 && !limited; i++) {
      const r = await write(hub, body(list.map((s) => ({ ...s, samples: [{ value: 100 + i, timestamp: now + 2000 + i }] }))), TOKEN_B);
      if (r.status === 429) limited = r;
      else expect(r.status).toBe(204);
    }
    expect(limited?.status).toBe(429);
    const retryAfter = Number(limited!.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(await limited!.text()).toMatch(/samples\/s/);
    await sleep(retryAfter * 1000 + 200);
    const after = await write(hub, body([series("quota_series", { job: "q", shard_id: "0" }, 1000, Date.now())]), TOKEN_B);
    expect(after.status).toBe(204);
  }, 30_000);

  it("OTLP/HTTP JSON from an SDK straight into the hub: cumulative counter exact, delta refused with a reason", async () => {
    const nowNs = `${Date.now()}000000`;
    const doc = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "gs" } }] },
          scopeMetrics: [
            {
              metrics: [
                { name: "otlp.hub.kills", sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ asInt: "42", timeUnixNano: nowNs, startTimeUnixNano: nowNs, attributes: [{ key: "shard_id", value: { stringValue: "3" } }] }] } },
                { name: "otlp.hub.delta", sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [{ asInt: "1", timeUnixNano: nowNs }] } },
              ],
            },
          ],
        },
      ],
    };
    const res = await fetch(`${hub.url}/v1/metrics`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN_A}` },
      body: JSON.stringify(doc),
    });
    expect(res.status).toBe(200);
    const reply = (await res.json()) as { partialSuccess?: { rejectedDataPoints?: string; errorMessage?: string } };
    expect(reply.partialSuccess?.rejectedDataPoints).toBe("1");
    expect(reply.partialSuccess?.errorMessage).toMatch(/delta/);
    await waitFor(async () => (await valueIn(prom, 'otlp_hub_kills_total{shard_id="3"}')) === 42, 15_000, "otlp_hub_kills_total = 42");
    const unauth = await fetch(`${hub.url}/v1/metrics`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(doc) });
    expect(unauth.status).toBe(401);
  });

  it("OTLP points keep the sender's timestamp through the hub; one far in the future is stored at the receive time, with a warning", async () => {
    const pastMs = Date.now() - 45_123;
    const gauge = (name: string, timeUnixNano: string, value: number) => ({ name, gauge: { dataPoints: [{ asDouble: value, timeUnixNano }] } });
    const doc = {
      resourceMetrics: [{ scopeMetrics: [{ metrics: [gauge("otlp.hub.when", `${pastMs}000000`, 7), gauge("otlp.hub.ahead", `${Date.now() + 3_600_000}000000`, 8)] }] }],
    };
    const before = Date.now();
    const res = await fetch(`${hub.url}/v1/metrics`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN_A}` }, body: JSON.stringify(doc) });
    const after = Date.now();
    expect(res.status).toBe(200);
    const reply = (await res.json()) as { partialSuccess?: { rejectedDataPoints?: string; errorMessage?: string } };
    expect(reply.partialSuccess?.rejectedDataPoints ?? "0").toBe("0");
    expect(reply.partialSuccess?.errorMessage).toMatch(/1 points stored at the receive time: future_timestamp/);
    await waitFor(async () => (await valueIn(prom, "timestamp(otlp_hub_when)")) !== undefined, 15_000, "otlp_hub_when stored");
    expect(await valueIn(prom, "timestamp(otlp_hub_when)")).toBe(pastMs / 1000);
    expect(await valueIn(prom, "otlp_hub_when")).toBe(7);
    await waitFor(async () => (await valueIn(prom, "otlp_hub_ahead")) === 8, 15_000, "otlp_hub_ahead stored");
    const aheadAt = (await valueIn(prom, "timestamp(otlp_hub_ahead)"))! * 1000;
    expect(aheadAt).toBeGreaterThanOrEqual(before);
    expect(aheadAt).toBeLessThanOrEqual(after);
    expect(await hub.metric('hub_otlp_points_restamped_total{tenant="a",reason="future_timestamp"}')).toBe(1);
  });

  it("a tenant cannot be switched by a header or a label: the token decides", async () => {
    const now = Date.now();
    const res = await write(hub, body([series("switch_probe", { job: "s", tenant: "small" }, 1, now)]), TOKEN_A, { "x-scope-orgid": "small" });
    expect(res.status).toBe(204);
    await waitFor(async () => (await prom.query("switch_probe")).length === 1, 15_000, "switch_probe stored");
    const before = await hub.metric('tenant_samples_ingested_total{tenant="small"}');
    expect(await hub.metric('hub_requests_total{tenant="small"}')).toBeGreaterThan(0);
    // Counted for tenant a, never for "small".
    expect(await hub.metric('tenant_samples_ingested_total{tenant="small"}')).toBe(before);
  });

  it("a runtime write to an upstream outside the tenant's residency is blocked and counted", async () => {
    const res = await write(hub, body([series("residency_probe", {}, 1, Date.now())]), TOKEN_A, { "x-edge-hub-upstream": "us-store" });
    expect(res.status).toBe(403);
    expect(await hub.metric('hub_residency_blocked_total{tenant="a",upstream="us-store"}')).toBe(1);
  });

  it("budget guard: past 100 % of the projected monthly spend, non-critical series are throttled within the deadline, critical ones kept", async () => {
    const t0 = Date.now();
    const list = Array.from({ length: 200 }, (_, i) => series("spendy_metric", { job: "b", shard_id: String(i) }, i, t0));
    expect((await write(hub, body(list), TOKEN_C)).status).toBe(204);
    await waitFor(async () => (await hub.metric('tenant_budget_state{tenant="thrifty",state="throttled"}')) === 1, 10_000, "thrifty throttled");
    const t1 = Date.now();
    const res = await write(hub, body([series("up", { job: "b" }, 1, t1), series("spendy_metric", { job: "b", shard_id: "0" }, 999, t1)]), TOKEN_C);
    expect(res.status).toBe(204);
    await waitFor(async () => (await valueIn(prom, 'up{job="b"}')) === 1, 15_000, "critical 'up' stored while throttled");
    expect(await valueIn(prom, 'spendy_metric{shard_id="0"}')).toBe(0);
    expect(await hub.metric('tenant_budget_throttled_samples_total{tenant="thrifty"}')).toBe(1);
    expect(await hub.metric('tenant_readiness_state{tenant="thrifty",state="budget_throttled"}')).toBe(1);
    expect(await hub.metric('tenant_cost_estimate{tenant="thrifty",currency="USD",window="total"}')).toBeGreaterThan(0);
  });

  it("freshness probe: write→readable age on the upstream is measured", async () => {
    await waitFor(async () => (await hub.metric('ingest_to_query_age_seconds_count{upstream="prom"}')) >= 1, 20_000, "a freshness observation");
    const sum = await hub.metric('ingest_to_query_age_seconds_sum{upstream="prom"}');
    const count = await hub.metric('ingest_to_query_age_seconds_count{upstream="prom"}');
    expect(sum / count).toBeLessThan(10);
  }, 30_000);

  it("/metrics passes promtool, /-/ready and /-/healthy answer, admin endpoints need the admin token", async () => {
    const text = await hub.metricsText();
    const { spawnSync } = await import("node:child_process");
    const lint = spawnSync("/usr/bin/promtool", ["check", "metrics"], { input: text });
    expect(lint.stdout.toString() + lint.stderr.toString()).toBe("");
    // The hub's own footprint, for the SRE who sizes it.
    const rss = await hub.metric("process_resident_memory_bytes");
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    expect(rss).toBeLessThan(4 * 1024 * 1024 * 1024);
    expect(await hub.metric("process_cpu_seconds_total")).toBeGreaterThan(0);
    // The writes above went to a Prometheus that keeps up: none of them was held by intake pacing.
    expect(text).toMatch(/^hub_ingest_paced_requests_total 0$/m);
    expect(text).toMatch(/^hub_ingest_paced_seconds_total 0$/m);
    // Queue fdatasyncs ran on the hub's sync threads inside the compiled binary (one per shard
    // of the one upstream), and none failed.
    expect(await hub.metric("hub_queue_fsyncs_total")).toBeGreaterThan(0);
    expect(await hub.metric("hub_queue_fsync_seconds_total")).toBeGreaterThan(0);
    expect(await hub.metric("hub_queue_fsync_failures_total")).toBe(0);
    expect(await hub.metric("hub_queue_fsync_threads")).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${hub.url}/-/ready`)).status).toBe(200);
    expect((await fetch(`${hub.url}/-/healthy`)).status).toBe(200);
    expect((await fetch(`${hub.url}/api/v1/fleet`)).status).toBe(401);
    expect((await hub.admin("/api/v1/fleet")).status).toBe(200);
  });
});

describe("agent hub config refusals", () => {
  it("refuses at start a tenant routed to an upstream of another residency", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const d = mkdtempSync(join(tmpdir(), "hub-residency-"));
    writeFileSync(join(d, "t.token"), TOKEN_A);
    const file = join(d, "hub.yaml");
    writeFileSync(
      file,
      `upstreams: [{ name: us-store, url: "http://127.0.0.1:1/api/v1/write", residency: us }]\ntenants: [{ id: eu-studio, tokenFile: "${join(d, "t.token")}", residency: eu, upstream: us-store }]\n`,
    );
    const r = await runBinary(["hub", "--config", file, "--data-dir", d, "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/breaks residency: tenant is "eu", upstream is "us"/);
  });

  it("refuses to start without tenants (no unauthenticated writes)", async () => {
    const r = await runBinary(["hub", "--upstream", "http://127.0.0.1:1/api/v1/write", "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no tenant/);
  });
});
