/**
 * The compiled agent remote-writing into real stores: Prometheus 2.42 (native histograms) and
 * VictoriaMetrics (classic-bucket fallback). Values are read back through the stores' query APIs.
 */
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOtelSender } from "../support/otel-sender";
import { startAgent, waitFor, type AgentHandle } from "../support/agent-process";
import { startPrometheus, startVictoriaMetrics, type Store } from "../support/stores";

const FAST = `cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }`;
const LATENCIES = [0.003, 0.004, 0.005, 0.012, 0.02, 0.02, 0.05, 0.25, 0.25, 1.5];

function sendUdp(port: number, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.send(Buffer.from(lines.join("\n")), port, "127.0.0.1", (e) => {
      s.close();
      if (e) reject(e);
      else resolve();
    });
  });
}

async function sendGameTraffic(agent: AgentHandle): Promise<void> {
  const otel = createOtelSender(agent.otlpPort, { encoding: "proto", temporality: "delta" });
  const kills = otel.meter.createCounter("rw.kills");
  const latency = otel.meter.createHistogram("rw.match.latency");
  kills.add(4, { shard_id: "7" });
  for (const v of LATENCIES) latency.record(v, { shard_id: "7" });
  await otel.flush();
  kills.add(2, { shard_id: "7" });
  await otel.flush();
  await otel.shutdown();
  await sendUdp(agent.statsdPort, ["rw.logins:3|c|#shard_id:7", "rw.logins:2|c|#shard_id:7", "rw.players:41|g|#shard_id:7"]);
}

async function valueIn(store: Store, promql: string): Promise<number | undefined> {
  const r = await store.query(promql);
  return r.length === 1 ? r[0].value : undefined;
}

describe("remote write into Prometheus 2.42 with native histograms", () => {
  let prom: Store;
  let agent: AgentHandle;
  beforeAll(async () => {
    prom = await startPrometheus();
    agent = await startAgent({ yaml: `${FAST}\nremoteWrite: [{ url: "${prom.writeUrl}", name: prom, histograms: native }]` });
  });
  afterAll(async () => {
    await agent?.stop();
    await prom?.stop();
  });

  it("stores counters, gauges and native histograms exactly as aggregated", async () => {
    await sendGameTraffic(agent);
    const sel = `{shard_id="7",host="e2e-host"}`;
    await waitFor(async () => (await valueIn(prom, `rw_kills_total${sel}`)) === 6, 15_000, "rw_kills_total = 6 in Prometheus");
    await waitFor(async () => (await valueIn(prom, `rw_logins_total${sel}`)) === 5, 15_000, "rw_logins_total = 5");
    expect(await valueIn(prom, `rw_players${sel}`)).toBe(41);
    expect(await valueIn(prom, `histogram_count(rw_match_latency${sel})`)).toBe(10);
    expect(await valueIn(prom, `histogram_sum(rw_match_latency${sel})`)).toBeCloseTo(2.114, 12);
    // The median of the recorded values is 0.02; a native-histogram quantile is exact to within
    // its bucket's relative width (scale ≥ 3 here: < 9 %).
    const p50 = (await valueIn(prom, `histogram_quantile(0.5, rw_match_latency${sel})`))!;
    expect(Math.abs(p50 - 0.02) / 0.02).toBeLessThan(0.09);
  });

  it("counts deliveries in its self-metrics and shows an empty queue", async () => {
    await waitFor(async () => (await agent.status()).queue.depth === 0, 10_000, "queue drained");
    const text = await agent.metricsText();
    expect(text).toMatch(/agent_sink_requests_total\{sink="prom",status="204"\} [1-9]/);
    expect(text).toMatch(/agent_queue_records_pending\{sink="prom"\} 0/);
  });
});

describe("remote write into VictoriaMetrics with classic buckets", () => {
  let vm: Store;
  let agent: AgentHandle;
  beforeAll(async () => {
    vm = await startVictoriaMetrics();
    agent = await startAgent({ yaml: `${FAST}\nremoteWrite: [{ url: "${vm.writeUrl}", name: vm, histograms: classic }]` });
  });
  afterAll(async () => {
    await agent?.stop();
    await vm?.stop();
  });

  it("stores counters exactly and histograms as le buckets with exact count and sum", async () => {
    await sendGameTraffic(agent);
    const sel = `{shard_id="7",host="e2e-host"}`;
    await waitFor(async () => (await valueIn(vm, `rw_kills_total${sel}`)) === 6, 20_000, "rw_kills_total = 6 in VictoriaMetrics");
    await waitFor(async () => (await valueIn(vm, `rw_logins_total${sel}`)) === 5, 20_000, "rw_logins_total = 5");
    await waitFor(async () => (await valueIn(vm, `rw_match_latency_count${sel}`)) === 10, 20_000, "histogram count");
    expect(await valueIn(vm, `rw_match_latency_sum${sel}`)).toBeCloseTo(2.114, 12);
    expect(await valueIn(vm, `rw_match_latency_bucket{shard_id="7",le="+Inf"}`)).toBe(10);
    const p50 = (await valueIn(vm, `histogram_quantile(0.5, sum(rw_match_latency_bucket${sel}) by (le))`))!;
    expect(Math.abs(p50 - 0.02) / 0.02).toBeLessThan(0.09);
  });
});

describe("OTLP export sink (protocol: otlp)", () => {
  let receiver: AgentHandle;
  let agent: AgentHandle;
  beforeAll(async () => {
    // No OpenTelemetry Collector is installable here; a second agent is a real OTLP/HTTP receiver.
    receiver = await startAgent({ yaml: FAST });
    agent = await startAgent({
      yaml: `${FAST}\nremoteWrite: [{ url: "http://127.0.0.1:${receiver.otlpPort}/v1/metrics", name: otlp, protocol: otlp }]`,
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await receiver?.stop();
  });

  it("exports cumulative counters, gauges and exponential histograms the receiver aggregates exactly", async () => {
    await sendGameTraffic(agent);
    const { parseMetrics, valueOf } = await import("../support/agent-process");
    const labels = { shard_id: "7" };
    const m = await waitFor(async () => {
      const s = parseMetrics(await receiver.metricsText());
      return valueOf(s, "rw_kills_total", labels) === 6 && valueOf(s, "rw_logins_total", labels) === 5 ? s : undefined;
    }, 15_000, "exported values at the OTLP receiver");
    expect(valueOf(m, "rw_players", labels)).toBe(41);
    expect(valueOf(m, "rw_match_latency_count", labels)).toBe(10);
    expect(valueOf(m, "rw_match_latency_sum", labels)).toBeCloseTo(2.114, 12);
    // Cumulative points repeated every flush must not be added up again by the receiver.
    await new Promise((r) => setTimeout(r, 2500));
    expect(valueOf(parseMetrics(await receiver.metricsText()), "rw_kills_total", labels)).toBe(6);
  });
});
