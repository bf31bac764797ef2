/**
 * Delivery end to end on loopback: flushes are queued with `<host>:<ms>:<seq>:<n>#<samples>` ids,
 * the receiver sees the stable batch id, and the per-sink sample counters (enqueued, sent,
 * dropped) reach the self-metrics.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { SeriesSnapshot } from "../../../agent/aggregate/aggregator";
import { silentLogger, systemClock } from "../../../agent/core/deps";
import { Delivery } from "../../../agent/pipeline/delivery";
import { buildSelfMetrics } from "../../../agent/run/self-metrics";
import { startReceiver } from "../../support/receiver";
import { until } from "../../support/until";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function receiver(statusFor: (n: number) => number) {
  const rx = await startReceiver({ status: statusFor });
  cleanups.push(() => rx.close());
  return { url: rx.url, batchIds: () => rx.requests.map((r) => r.batchId) };
}

const series = (n: number): SeriesSnapshot[] =>
  Array.from({ length: n }, (_, i) => ({ name: "kills_total", labels: [["shard_id", String(i)]] as [string, string][], kind: "counter" as const, value: i }));

describe("Delivery", () => {
  it("counts the samples the store accepted and the samples it rejected, per sink", async () => {
    const rx = await receiver((n) => (n === 1 ? 400 : 204));
    const dataDir = mkdtempSync(join(tmpdir(), "delivery-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const opened = await Delivery.open([{ url: rx.url, name: "prom" }], dataDir, [["host", "gs-1"]], { clock: systemClock, log: silentLogger, userAgent: "t" });
    if (!opened.ok) throw new Error(opened.error);
    const delivery = opened.value;
    cleanups.push(() => delivery.stop());
    delivery.start();
    await delivery.enqueue(series(3), [], 1_700_000_000_000);
    await delivery.enqueue(series(5), [], 1_700_000_010_000); // answered 400: dropped
    await delivery.enqueue(series(2), [], 1_700_000_020_000);
    await until(() => delivery.stats()[0].recordsPending === 0 && rx.batchIds().length === 3);
    expect(rx.batchIds()).toEqual(["gs-1:1700000000000:0:0", "gs-1:1700000010000:1:0", "gs-1:1700000020000:2:0"]);
    const [s] = delivery.stats();
    expect([s.samplesEnqueued, s.samplesSent, s.samplesDropped]).toEqual([10, 5, 5]);

    const families = buildSelfMetrics({
      activeSeries: 0,
      budget: 300,
      rejections: new Map(),
      malformed: new Map(),
      pointsAccepted: {},
      pointsRejected: {},
      flushes: 3,
      lastFlushMs: 0,
      intervalSec: 10,
      incident: false,
      incidentRemainingSec: 0,
      expired: 0,
      statsd: { datagrams: 0, bytes: 0, oversized: 0, invalidUtf8: 0 },
      uptimeSec: 1,
      otlpDeduplicated: 0,
      delivery: delivery.stats(),
    });
    const value = (name: string) => families.find((f) => f.name === name)?.samples.find((x) => x.labels.some(([k, v]) => k === "sink" && v === "prom"))?.value;
    expect(value("agent_sink_samples_enqueued_total")).toBe(10);
    expect(value("agent_sink_samples_sent_total")).toBe(5);
    expect(value("agent_sink_samples_dropped_total")).toBe(5);
  });
});
