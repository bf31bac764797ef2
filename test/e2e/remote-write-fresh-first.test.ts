/**
 * order: fresh-first against a real VictoriaMetrics (which accepts out-of-order samples): the
 * store is missing for the agent's first 15 s, so a backlog builds; once it is up, the newest
 * flush is queryable within seconds while the backlog still drains at the ceiling, and at the
 * end every counter is exact and every sample queued was delivered.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, parseMetrics, sleep, startAgent, waitFor, type AgentHandle, type Sample } from "../support/agent-process";

const VM_BIN = "/usr/bin/victoria-metrics";
const CEILING = 2; // requests/s: the backlog drains at about one record a second next to the fresh ones

/** VictoriaMetrics on a port chosen before it starts (the agent is configured with it first). */
async function startVictoriaMetricsOn(port: number): Promise<{ proc: ChildProcess; query(q: string): Promise<number | undefined>; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "e2e-vm-fresh-"));
  const proc = spawn(VM_BIN, [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR"], {
    stdio: "ignore",
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status === 200, 30_000, "VictoriaMetrics /health");
  return {
    proc,
    async query(q) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
      const j = (await r.json()) as { data: { result: { value: [number, string] }[] } };
      return j.data.result.length === 1 ? Number(j.data.result[0].value[1]) : undefined;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        proc.once("exit", () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        proc.kill("SIGTERM");
      }),
  };
}

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);

describe("remote write with order: fresh-first into VictoriaMetrics", () => {
  let agent: AgentHandle | undefined;
  let vm: Awaited<ReturnType<typeof startVictoriaMetricsOn>> | undefined;
  afterAll(async () => {
    await agent?.stop();
    await vm?.stop();
  });

  it("makes the newest flush queryable while a backlog drains, and ends with exact counters", async () => {
    const vmPort = await freePort();
    agent = await startAgent({
      yaml: [
        "cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }",
        `remoteWrite: [{ url: "http://127.0.0.1:${vmPort}/api/v1/write", name: vm, order: fresh-first, maxRequestsPerSec: ${CEILING} }]`,
      ].join("\n"),
    });
    const udp = createSocket("udp4");
    let sent = 0;
    const timer = setInterval(() => {
      sent++;
      udp.send("e2e.fresh:1|c|#shard_id:1", agent!.statsdPort, "127.0.0.1");
    }, 100);
    try {
      await sleep(15_000); // the store is not there: a backlog of ~15 flushes builds
      const metrics = async () => parseMetrics(await agent!.metricsText());
      const backlog = sum(await metrics(), "agent_queue_records_pending", { sink: "vm" });
      expect(backlog).toBeGreaterThanOrEqual(12);

      vm = await startVictoriaMetricsOn(vmPort);
      const sel = `e2e_fresh_total{host="e2e-host",shard_id="1"}`;
      // While the backlog is still pending, the newest sample in the store is at most ~3 s old.
      const fresh = await waitFor(
        async () => {
          const pending = sum(await metrics(), "agent_queue_records_pending", { sink: "vm" });
          const lastSampleSec = await vm!.query(`tlast_over_time(${sel}[1m])`);
          const ageSec = lastSampleSec === undefined ? Infinity : Date.now() / 1000 - lastSampleSec;
          return pending >= 5 && ageSec <= 3 ? { pending, ageSec } : undefined;
        },
        10_000,
        "a fresh sample in VictoriaMetrics while the backlog drains",
      );
      expect(fresh.pending).toBeGreaterThanOrEqual(5);

      clearInterval(timer);
      await sleep(2500); // two more flushes carry the last lines
      const end = await waitFor(
        async () => {
          const m = await metrics();
          return sum(m, "agent_queue_records_pending", { sink: "vm" }) === 0 && (await vm!.query(sel)) === sent ? m : undefined;
        },
        60_000,
        `the backlog drained and ${sel} = lines sent`,
      );
      expect(sum(end, "agent_points_accepted_total", { source: "statsd" })).toBe(sent);
      expect(sum(end, "agent_sink_samples_sent_total", { sink: "vm" })).toBe(sum(end, "agent_sink_samples_enqueued_total", { sink: "vm" }));
      expect(sum(end, "agent_sink_samples_dropped_total", { sink: "vm" })).toBe(0);
      expect(sum(end, "agent_sink_sent_ahead_total", { sink: "vm" })).toBeGreaterThan(0);
      expect(sum(end, "agent_sink_requests_total", { sink: "vm", status: "400" })).toBe(0);
      // Every flush since the series began is stored once: no gap, nothing sent twice.
      const flushes = await vm!.query(`count_over_time(${sel}[5m])`);
      const first = await vm!.query(`tfirst_over_time(${sel}[5m])`);
      const last = await vm!.query(`tlast_over_time(${sel}[5m])`);
      expect(flushes).toBe(Math.round(last! - first!) + 1);
    } finally {
      clearInterval(timer);
      udp.close();
    }
  }, 120_000);
});
