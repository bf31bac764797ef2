/**
 * End to end against the compiled binary (dist/agent): real OpenTelemetry SDK exporters and a
 * real UDP StatsD sender in, exact values out of /metrics, guardrails, cadence, restarts, fuzz.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { gzipSync } from "node:zlib";
import StatsD from "hot-shots";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createOtelSender } from "../support/otel-sender";
import {
  parseMetrics,
  runBinary,
  sleep,
  startAgent,
  valueOf,
  waitFor,
  writeTempFile,
  type AgentHandle,
} from "../support/agent-process";

const FAST = `cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }`;

function sendUdp(port: number, packets: (string | Buffer)[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    let i = 0;
    const next = () => {
      if (i === packets.length) return s.close(() => resolve());
      const p = packets[i++];
      s.send(typeof p === "string" ? Buffer.from(p) : p, port, "127.0.0.1", (e) => (e ? reject(e) : next()));
    };
    next();
  });
}

/** Waits until a flush newer than `afterMs` is visible, then returns the parsed /metrics. */
async function metricsAfterNextFlush(agent: AgentHandle) {
  const before = (await agent.status()).flushes as number;
  await waitFor(async () => ((await agent.status()).flushes as number) >= before + 2, 10_000, "two more flushes");
  return parseMetrics(await agent.metricsText());
}

describe("agent binary: ingest and aggregation", () => {
  let agent: AgentHandle;
  beforeAll(async () => {
    agent = await startAgent({ yaml: FAST });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it("prints its version", async () => {
    const r = await runBinary(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+\+\w+$/);
    const v = await runBinary(["version"]);
    expect(v.stdout).toBe(r.stdout);
  });

  it("aggregates values from the real OpenTelemetry SDK (proto exporter, delta) exactly", async () => {
    const otel = createOtelSender(agent.otlpPort, { encoding: "proto", temporality: "delta" });
    const kills = otel.meter.createCounter("game.kills");
    const latency = otel.meter.createHistogram("match.latency");
    const players = otel.meter.createUpDownCounter("players.online");
    const tick = otel.meter.createHistogram("tick.duration", { advice: { explicitBucketBoundaries: [1, 5, 10] } });
    const attrs = { shard_id: "7", queue: "ranked" };
    kills.add(1, attrs);
    kills.add(2, attrs);
    for (const v of [0.5, 1, 2, 4, 100]) latency.record(v, attrs);
    players.add(10, attrs);
    players.add(-3, attrs);
    for (const v of [0.5, 3, 7, 12]) tick.record(v, attrs);
    await otel.flush();
    kills.add(3, attrs);
    for (const v of [0.5, 1, 2, 4, 100]) latency.record(v, attrs);
    players.add(1, attrs);
    tick.record(5, attrs);
    await otel.flush();
    await otel.shutdown();

    const m = await metricsAfterNextFlush(agent);
    const labels = { shard_id: "7", queue: "ranked", region: "eu-west-1", host: "e2e-host" };
    expect(valueOf(m, "game_kills_total", labels)).toBe(6);
    expect(valueOf(m, "players_online", labels)).toBe(8);
    expect(valueOf(m, "match_latency_count", labels)).toBe(10);
    expect(valueOf(m, "match_latency_sum", labels)).toBe(215);
    // Exponential buckets rendered at their boundaries: powers of two are boundaries at every scale.
    expect(valueOf(m, "match_latency_bucket", { ...labels, le: "0.5" })).toBe(2);
    expect(valueOf(m, "match_latency_bucket", { ...labels, le: "1" })).toBe(4);
    expect(valueOf(m, "match_latency_bucket", { ...labels, le: "2" })).toBe(6);
    expect(valueOf(m, "match_latency_bucket", { ...labels, le: "4" })).toBe(8);
    expect(valueOf(m, "match_latency_bucket", { ...labels, le: "+Inf" })).toBe(10);
    // Explicit buckets keep the SDK's bounds: 0.5 | 3,5 | 7 | 12.
    expect(valueOf(m, "tick_duration_bucket", { ...labels, le: "1" })).toBe(1);
    expect(valueOf(m, "tick_duration_bucket", { ...labels, le: "5" })).toBe(3);
    expect(valueOf(m, "tick_duration_bucket", { ...labels, le: "10" })).toBe(4);
    expect(valueOf(m, "tick_duration_bucket", { ...labels, le: "+Inf" })).toBe(5);
    expect(valueOf(m, "tick_duration_sum", labels)).toBe(27.5);
  });

  it("aggregates cumulative points from the JSON exporter without double counting", async () => {
    const otel = createOtelSender(agent.otlpPort, { encoding: "json", temporality: "cumulative" });
    const c = otel.meter.createCounter("json.matches");
    const g = otel.meter.createGauge("json.tickrate");
    c.add(5, { shard_id: "9" });
    g.record(64, { shard_id: "9" });
    await otel.flush();
    c.add(7, { shard_id: "9" });
    g.record(60, { shard_id: "9" });
    await otel.flush();
    await otel.flush(); // a repeated cumulative point must not add again
    await otel.shutdown();
    const m = await metricsAfterNextFlush(agent);
    expect(valueOf(m, "json_matches_total", { shard_id: "9" })).toBe(12);
    expect(valueOf(m, "json_tickrate", { shard_id: "9" })).toBe(60);
  });

  it("aggregates StatsD and DogStatsD lines exactly", async () => {
    const lines = [
      "sd.kills:1|c|#shard_id:3,queue:casual",
      "sd.kills:2|c|#queue:casual,shard_id:3\nsd.kills:1|c|@0.5|#shard_id:3,queue:casual",
      "sd.players:10|g|#shard_id:3\nsd.players:+5|g|#shard_id:3\nsd.players:-2|g|#shard_id:3",
      "sd.frame:1|ms|#shard_id:3\nsd.frame:2|ms|#shard_id:3\nsd.frame:4|h|#shard_id:3",
      "sd.frame:8:16|d|#shard_id:3",
      "sd.uniq:a|s|#shard_id:3\nsd.uniq:b|s|#shard_id:3\nsd.uniq:a|s|#shard_id:3",
    ];
    await sendUdp(agent.statsdPort, lines);
    const m = await waitFor(async () => {
      const s = parseMetrics(await agent.metricsText());
      return valueOf(s, "sd_frame_count", { shard_id: "3" }) === 5 ? s : undefined;
    }, 10_000, "StatsD data in /metrics");
    expect(valueOf(m, "sd_kills_total", { shard_id: "3", queue: "casual" })).toBe(5);
    expect(valueOf(m, "sd_players", { shard_id: "3" })).toBe(13);
    expect(valueOf(m, "sd_frame_sum", { shard_id: "3" })).toBe(31);
    expect(valueOf(m, "sd_frame_bucket", { shard_id: "3", le: "2" })).toBe(2);
    expect(valueOf(m, "sd_frame_bucket", { shard_id: "3", le: "8" })).toBe(4);
  });

  it("aggregates what a real DogStatsD client (hot-shots) sends exactly", async () => {
    const client = new StatsD({
      host: "127.0.0.1",
      port: agent.statsdPort,
      protocol: "udp",
      prefix: "hs.",
      globalTags: { queue: "ranked" },
      maxBufferSize: 1432,
      bufferFlushInterval: 5,
      errorHandler: (e) => {
        throw e;
      },
    });
    for (let i = 0; i < 20; i++) client.increment("kills", 1, { shard_id: "4" });
    client.increment("assists", 5, { shard_id: "4" });
    client.gauge("players", 40, { shard_id: "4" });
    client.gaugeDelta("players", 2, { shard_id: "4" });
    for (const v of [0.25, 0.5, 1, 1, 64]) client.timing("tick", v, { shard_id: "4" });
    client.distribution("match_length", 1800, { shard_id: "4" });
    await new Promise<void>((resolve) => client.close(() => resolve()));
    const labels = { shard_id: "4", queue: "ranked" };
    const m = await waitFor(async () => {
      const s = parseMetrics(await agent.metricsText());
      return valueOf(s, "hs_kills_total", labels) === 20 && valueOf(s, "hs_tick_count", labels) === 5 ? s : undefined;
    }, 10_000, "hot-shots data in /metrics");
    expect(valueOf(m, "hs_assists_total", labels)).toBe(5);
    expect(valueOf(m, "hs_players", labels)).toBe(42);
    expect(valueOf(m, "hs_tick_sum", labels)).toBe(66.75);
    expect(valueOf(m, "hs_tick_bucket", { ...labels, le: "0.5" })).toBe(2);
    expect(valueOf(m, "hs_tick_bucket", { ...labels, le: "1" })).toBe(4);
    expect(valueOf(m, "hs_match_length_count", labels)).toBe(1);
  });

  it("serves /metrics that passes promtool check metrics", async () => {
    const text = await agent.metricsText();
    const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    if (r.error) throw new Error(`promtool is required (apt-get install prometheus): ${r.error.message}`);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(text).toContain("# TYPE active_series_total untyped");
  });

  it("answers health, readiness and status", async () => {
    expect((await agent.admin("/-/healthy")).status).toBe(200);
    expect((await agent.admin("/-/ready")).status).toBe(200);
    const s = await agent.status();
    expect(s.series.budget).toBe(300);
    expect(s.cadence.mode).toBe("steady");
    const table = await runBinary(["status", "--admin", `127.0.0.1:${agent.adminPort}`]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/active series\s+\d+ \/ 300 budget/);
    expect(table.stdout).toMatch(/cadence\s+steady, every 1 s/);
    expect(table.stdout).toMatch(/last flush\s+[\d.]+ s ago/);
  });
});

describe("agent binary: guardrails", () => {
  let agent: AgentHandle;
  beforeAll(async () => {
    agent = await startAgent({ yaml: `${FAST}\npolicy: { budget: { maxSeries: 5 } }` });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it("rejects a forbidden-label series whole, tells the OTLP sender, and counts it", async () => {
    const otel = createOtelSender(agent.otlpPort, { encoding: "proto", temporality: "delta" });
    const c = otel.meter.createCounter("guard.logins");
    c.add(1, { shard_id: "1", player_id: "p-123456" });
    c.add(1, { shard_id: "1" });
    await otel.flush();
    await otel.shutdown();
    // The SDK does not surface partial_success; ask the agent directly with the same shape.
    const m = await metricsAfterNextFlush(agent);
    expect(valueOf(m, "agent_series_rejected_total", { reason: "forbidden_label" })).toBe(1);
    expect(valueOf(m, "guard_logins_total", { shard_id: "1" })).toBe(1);
    expect(m.some((s) => s.labels.player_id !== undefined)).toBe(false);
    const text = await agent.metricsText();
    expect(text).not.toContain("p-123456");
  });

  it("answers partial_success naming the rule for a JSON request with a forbidden label", async () => {
    const body = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "guard.ips",
                  gauge: {
                    dataPoints: [
                      { asDouble: 1, timeUnixNano: "1700000000000000000", attributes: [{ key: "raw_ip", value: { stringValue: "10.1.2.3" } }] },
                      { asDouble: 2, timeUnixNano: "1700000000000000000", attributes: [{ key: "shard_id", value: { stringValue: "2" } }] },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const r = await fetch(`http://127.0.0.1:${agent.otlpPort}/v1/metrics`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(r.status).toBe(200);
    const j = await r.json();
    expect(Number(j.partialSuccess.rejectedDataPoints)).toBe(1);
    expect(j.partialSuccess.errorMessage).toMatch(/forbidden_label: .*raw_ip/);
  });

  it("rejects new series beyond the budget while admitted series keep flowing", async () => {
    const before = parseMetrics(await agent.metricsText());
    const active = valueOf(before, "active_series_total")!;
    const free = 5 - active;
    const lines: string[] = [];
    for (let i = 0; i < free + 3; i++) lines.push(`budget.hits:1|c|#shard_id:${i}`);
    await sendUdp(agent.statsdPort, lines);
    await sendUdp(agent.statsdPort, ["budget.hits:1|c|#shard_id:0"]);
    const m = await waitFor(async () => {
      const s = parseMetrics(await agent.metricsText());
      return valueOf(s, "budget_hits_total", { shard_id: "0" }) === 2 ? s : undefined;
    }, 10_000, "budget series in /metrics");
    expect(valueOf(m, "active_series_total")).toBe(5);
    expect(valueOf(m, "agent_series_rejected_total", { reason: "budget" })).toBe(3);
    expect(m.filter((s) => s.name === "budget_hits_total")).toHaveLength(free);
  });
});

describe("agent binary: cadence", () => {
  let agent: AgentHandle;
  beforeAll(async () => {
    agent = await startAgent({ yaml: `cadence: { steadyIntervalSec: 4, incidentIntervalSec: 1 }` });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  async function flushTimes(n: number): Promise<number[]> {
    const times: number[] = [];
    let last = (await agent.status()).lastFlush?.atMs ?? 0;
    while (times.length < n) {
      const s = await agent.status();
      if (s.lastFlush && s.lastFlush.atMs !== last) {
        last = s.lastFlush.atMs;
        times.push(last);
      }
      await sleep(50);
    }
    return times;
  }

  it("switches the running binary to incident cadence on the next flush and reverts after its TTL", async () => {
    const admin = `127.0.0.1:${agent.adminPort}`;
    const r = await runBinary(["cadence", "incident", "--for", "5s", "--admin", admin]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/cadence: incident \(flush every 1 s/);
    const switchedAt = Date.now();
    const incident = await flushTimes(3);
    // The first incident flush comes within one incident interval of the switch (next flush).
    expect(incident[0] - switchedAt).toBeLessThan(1600);
    expect(incident[2] - incident[1]).toBeGreaterThan(700);
    expect(incident[2] - incident[1]).toBeLessThan(1500);
    const status = await agent.status();
    expect(status.cadence.mode).toBe("incident");
    await waitFor(async () => (await agent.status()).cadence.mode === "steady", 8000, "TTL revert");
    const steady = await flushTimes(2);
    expect(steady[1] - steady[0]).toBeGreaterThan(3500);
  });

  it("accepts `agent --cadence incident` and `agent --cadence steady`", async () => {
    const admin = `127.0.0.1:${agent.adminPort}`;
    const on = await runBinary(["--cadence", "incident", "--admin", admin]);
    expect(on.code).toBe(0);
    const s = await agent.status();
    expect(s.cadence.mode).toBe("incident");
    expect(s.cadence.incidentRemainingSec).toBeGreaterThan(1790);
    const off = await runBinary(["--cadence", "steady", "--admin", admin]);
    expect(off.code).toBe(0);
    expect((await agent.status()).cadence.mode).toBe("steady");
  });

  it("does not lose or double-count samples across cadence switches", async () => {
    const admin = `127.0.0.1:${agent.adminPort}`;
    for (let round = 0; round < 6; round++) {
      await sendUdp(agent.statsdPort, Array.from({ length: 10 }, () => "cad.sent:1|c|#shard_id:1"));
      await runBinary(["cadence", round % 2 === 0 ? "incident" : "steady", "--admin", admin]);
      await sleep(300);
    }
    const m = await waitFor(async () => {
      const s = parseMetrics(await agent.metricsText());
      return valueOf(s, "cad_sent_total", { shard_id: "1" }) !== undefined ? s : undefined;
    }, 10_000, "cad_sent_total");
    await sleep(4500);
    const final = parseMetrics(await agent.metricsText());
    expect(valueOf(final, "cad_sent_total", { shard_id: "1" })).toBe(60);
    void m;
  });
});

describe("agent binary: restarts keep counters", () => {
  let agent: AgentHandle | undefined;
  afterEach(async () => {
    await agent?.stop("SIGKILL");
  });

  it("continues counters after SIGTERM and after kill -9 instead of resetting them", async () => {
    agent = await startAgent({ yaml: FAST });
    const ports = { otlp: agent.otlpPort, statsd: agent.statsdPort, admin: agent.adminPort };
    const dataDir = agent.dataDir;
    await sendUdp(agent.statsdPort, ["rs.count:5|c|#shard_id:1", "rs.frame:3|ms|#shard_id:1"]);
    await waitFor(async () => valueOf(await metricsAfterNextFlush(agent!), "rs_count_total", { shard_id: "1" }) === 5, 10_000, "first value");
    expect(await agent.stop("SIGTERM")).toBe(0);

    agent = await startAgent({ yaml: FAST, dataDir, ports });
    await sendUdp(agent.statsdPort, ["rs.count:2|c|#shard_id:1", "rs.frame:5|ms|#shard_id:1"]);
    const m = await waitFor(async () => {
      const s = await metricsAfterNextFlush(agent!);
      return valueOf(s, "rs_count_total", { shard_id: "1" }) === 7 ? s : undefined;
    }, 10_000, "value after SIGTERM restart");
    expect(valueOf(m, "rs_frame_count", { shard_id: "1" })).toBe(2);
    expect(valueOf(m, "rs_frame_sum", { shard_id: "1" })).toBe(8);

    await agent.stop("SIGKILL");
    agent = await startAgent({ yaml: FAST, dataDir, ports });
    await sendUdp(agent.statsdPort, ["rs.count:1|c|#shard_id:1"]);
    await waitFor(async () => valueOf(await metricsAfterNextFlush(agent!), "rs_count_total", { shard_id: "1" }) === 8, 10_000, "value after kill -9");
  });
});

describe("agent binary: an OTLP 2xx survives kill -9", () => {
  let agent: AgentHandle | undefined;
  afterEach(async () => {
    await agent?.stop("SIGKILL");
  });

  it("replays requests it answered 2xx but had not flushed yet when it was killed", async () => {
    // A 60 s cadence: the kill comes long before any flush could have saved these requests.
    agent = await startAgent({ yaml: `cadence: { steadyIntervalSec: 60 }` });
    const ports = { otlp: agent.otlpPort, statsd: agent.statsdPort, admin: agent.adminPort };
    const dataDir = agent.dataDir;
    let accepted = 0;
    for (let i = 1; i <= 20; i++) {
      const otel = createOtelSender(agent.otlpPort, { encoding: i % 2 ? "proto" : "json", temporality: "delta" });
      otel.meter.createCounter("wal.kills").add(i, { shard_id: "2" });
      await otel.flush();
      await otel.shutdown();
      accepted += i;
    }
    expect((await agent.status()).flushes).toBe(0);
    await agent.stop("SIGKILL");
    agent = await startAgent({ yaml: FAST, dataDir, ports });
    const m = await metricsAfterNextFlush(agent);
    expect(valueOf(m, "wal_kills_total", { shard_id: "2" })).toBe(accepted);
    // And again after the state was saved: nothing is replayed twice.
    await agent.stop("SIGKILL");
    agent = await startAgent({ yaml: FAST, dataDir, ports });
    expect(valueOf(await metricsAfterNextFlush(agent), "wal_kills_total", { shard_id: "2" })).toBe(accepted);
  });
});

describe("agent binary: garbage on both listeners", () => {
  let agent: AgentHandle;
  beforeAll(async () => {
    agent = await startAgent({ yaml: FAST });
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it("stays up, counts the garbage by reason, and keeps the other data intact", async () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const otlpUrl = `http://127.0.0.1:${agent.otlpPort}/v1/metrics`;
    const statuses = new Map<number, number>();
    let goodSent = 0;
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    for (let i = 0; i < 150; i++) {
      const kind = i % 5;
      let init: RequestInit;
      if (kind === 0) init = { method: "POST", headers: { "content-type": "application/x-protobuf" }, body: randomBytes(1 + Math.floor(rand() * 400)) };
      else if (kind === 1) init = { method: "POST", headers: { "content-type": "application/json" }, body: '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":' };
      else if (kind === 2) init = { method: "POST", headers: { "content-type": "application/x-protobuf", "content-encoding": "gzip" }, body: bomb };
      else if (kind === 3) init = { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" };
      else init = { method: "POST", headers: { "content-type": "application/x-protobuf", "content-encoding": "gzip" }, body: randomBytes(50) };
      const r = await fetch(otlpUrl, init);
      await r.arrayBuffer();
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      const garbage = [randomBytes(1 + Math.floor(rand() * 1400)), Buffer.from("x:1|c|@zz\n:::|||\n\xff\xfe|#,,"), Buffer.from([0xc3, 0x28, 0x0a])];
      await sendUdp(agent.statsdPort, [...garbage, `fz.good:1|c|#shard_id:1\nbad line\nfz.good:1|c|#shard_id:1`]);
      goodSent += 2;
      if (i % 10 === 0) expect((await agent.admin("/-/healthy")).status).toBe(200);
    }
    expect(statuses.get(200) ?? 0).toBe(0);
    expect(statuses.get(400)).toBeGreaterThan(0);
    expect(statuses.get(413)).toBe(30);
    expect(statuses.get(415)).toBe(30);
    const m = await waitFor(async () => {
      const s = parseMetrics(await agent.metricsText());
      return valueOf(s, "fz_good_total", { shard_id: "1" }) === goodSent ? s : undefined;
    }, 10_000, "all good StatsD lines");
    expect(valueOf(m, "agent_ingest_malformed_total", { source: "otlp", reason: "body_too_large" })).toBe(30);
    expect(valueOf(m, "agent_ingest_malformed_total", { source: "otlp", reason: "bad_json" })).toBe(30);
    expect(valueOf(m, "agent_ingest_malformed_total", { source: "statsd", reason: "bad_line" })).toBeGreaterThanOrEqual(150);
    expect(agent.proc.exitCode).toBe(null);
  });
});

describe("agent binary: config check", () => {
  it("accepts a good file and names the bad field and value", async () => {
    const good = writeTempFile("good.yaml", "statsd: { listen: 127.0.0.1:8125 }\npolicy: { budget: { maxSeries: 200 } }\n");
    const ok = await runBinary(["config", "check", good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("OK");
    const bad = writeTempFile("bad.yaml", "policy: { budget: { maxSeries: -1 } }\n");
    const r = await runBinary(["config", "check", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("policy.budget.maxSeries must be >= 1 (got -1)");
    const bad2 = writeTempFile("bad2.yaml", "statsd: { listen: '8125' }\n");
    const r2 = await runBinary(["config", "check", bad2]);
    expect(r2.stderr).toContain('statsd.listen must be host:port (got "8125")');
  });

  it("documents the operator interface in --help", () => {
    const help = execFileSync("dist/agent", ["run", "--help"]).toString();
    for (const flag of ["--otlp-listen", "--statsd-listen", "--admin-listen", "--series-budget", "--cadence", "--data-dir", "--remote-write-url", "--config"]) {
      expect(help).toContain(flag);
    }
  });
});
