/**
 * The sink cuts a long retry wait short when the store is back: after a network error or a 5xx
 * without Retry-After it sends an empty request every 1–2 s, and a 2xx sends the record at once.
 * Fake fetch, fake timers (the clock reads the faked Date.now()).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../../agent/core/deps";
import { DEFAULT_RETRY_POLICY } from "../../../agent/sinks/retry-policy";
import { createRemoteWriteSink, formatRecordId, type RemoteWriteSinkConfig } from "../../../agent/sinks/remote-write/remote-write-sink";
import { fakeTimerClock, memoryQueue, scriptedFetch, type Answer, type SeenRequest } from "./sink-test-doubles";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const SECOND = 1000;

async function setup(script: (req: Omit<SeenRequest, "status">) => Answer, opts: Partial<RemoteWriteSinkConfig> & { records?: number } = {}) {
  const queue = memoryQueue();
  for (let i = 0; i < (opts.records ?? 1); i++) await queue.append(Uint8Array.of(0x0a, i), { id: formatRecordId(`host:1:${i}:0`, 3) });
  const { fetch, seen } = scriptedFetch(script);
  const sink = createRemoteWriteSink(
    {
      name: "probe",
      url: "http://store.test/api/v1/write",
      userAgent: "edge-agent/test",
      timeoutMs: 30_000,
      maxRequestsPerSec: 20,
      retry: DEFAULT_RETRY_POLICY,
      ...opts,
    },
    // random 0.99: every backoff is near its ceiling (up to 29.7 s), the worst case without probes.
    { clock: fakeTimerClock, log: silentLogger, queue, fetch, random: () => 0.99 },
  );
  sink.start();
  const records = () => seen.filter((r) => r.batchId !== undefined);
  const probes = () => seen.filter((r) => r.batchId === undefined);
  const stop = async () => {
    const stopped = sink.stop();
    await vi.runOnlyPendingTimersAsync();
    await stopped;
  };
  return { queue, sink, seen, records, probes, stop };
}

describe("remote-write sink: probes while backing off", () => {
  it("delivers within 2 s of the store coming back after a long network outage", async () => {
    let up = false;
    const t = await setup(() => (up ? 204 : "network_error"));
    // Attempts at 0, 0.25, 0.74, 1.7, 3.7, 7.7, 15.6, 31.4, 61.1, 90.8 s: backoff is at its 30 s
    // cap, and at 100 s the next attempt is 20 s away.
    await vi.advanceTimersByTimeAsync(100 * SECOND);
    expect(t.records().at(-1)!.atMs - Date.now()).toBeGreaterThan(-10 * SECOND);
    expect(t.queue.stats().recordsPending).toBe(1);
    const backAt = Date.now();
    up = true;
    await vi.advanceTimersByTimeAsync(2 * SECOND + 100);
    const delivered = t.records().find((r) => r.status === 204);
    expect(delivered, "record delivered within 2 s of the store coming back").toBeDefined();
    expect(delivered!.atMs - backAt).toBeLessThanOrEqual(2 * SECOND);
    expect(t.queue.stats().recordsPending).toBe(0);
    // The probe: an empty snappy WriteRequest with the remote-write headers and no batch id.
    const probe = t.probes().find((p) => p.status === 204)!;
    expect([...probe.body]).toEqual([0]);
    expect(probe.headers["content-encoding"]).toBe("snappy");
    expect(probe.headers["x-prometheus-remote-write-version"]).toBe("0.1.0");
    // Probes are counted apart from deliveries.
    expect(t.sink.stats.requestsByStatus.get("204")).toBe(1);
    expect(t.sink.stats.probesByStatus.get("204")).toBe(1);
    expect(t.sink.stats.probesByStatus.get("network_error")).toBeGreaterThan(30);
    await t.stop();
  });

  it("probes every 1–2 s after a 5xx without Retry-After", async () => {
    let up = false;
    const t = await setup((req) => (up ? 204 : req.batchId === undefined ? "network_error" : 503));
    await vi.advanceTimersByTimeAsync(60 * SECOND);
    const gaps = t.probes().slice(1).map((p, i) => p.atMs - t.probes()[i].atMs);
    expect(gaps.length).toBeGreaterThan(20);
    for (const gap of gaps) {
      // 1–2 s apart, or the first probe of a new wait (after a failed send: at least 1 s too).
      expect(gap).toBeGreaterThanOrEqual(SECOND);
    }
    up = true;
    await vi.advanceTimersByTimeAsync(2 * SECOND + 100);
    expect(t.queue.stats().recordsPending).toBe(0);
    await t.stop();
  });

  it("never probes while honouring a Retry-After or a 429", async () => {
    let n = 0;
    const t = await setup((req) => {
      if (req.batchId === undefined) return 204;
      n++;
      if (n === 1) return { status: 503, headers: { "retry-after": "20" } };
      if (n <= 4) return 429;
      return 204;
    });
    await vi.advanceTimersByTimeAsync(19 * SECOND);
    expect(t.records()).toHaveLength(1); // still waiting out Retry-After: 20
    await vi.advanceTimersByTimeAsync(1.1 * SECOND);
    expect(t.records()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(60 * SECOND);
    expect(t.records().map((r) => r.status)).toEqual([503, 429, 429, 429, 204]);
    expect(t.probes()).toHaveLength(0);
    await t.stop();
  });

  it("does not probe during short waits", async () => {
    let n = 0;
    const t = await setup((req) => (req.batchId !== undefined && ++n <= 3 ? "network_error" : 204));
    await vi.advanceTimersByTimeAsync(3 * SECOND); // waits of ≤ 0.25, 0.5, 1 s: shorter than a probe gap
    expect(t.records().map((r) => r.status)).toEqual(["network_error", "network_error", "network_error", 204]);
    expect(t.probes()).toHaveLength(0);
    await t.stop();
  });

  it("gives a record that fails right after a successful probe its full backoff (no retry storm)", async () => {
    // The store is up (probes 204) but answers this one record 500 every time.
    const t = await setup((req) => (req.batchId === undefined ? 204 : 500));
    await vi.advanceTimersByTimeAsync(300 * SECOND);
    // Without the rule a probe would end every wait: ~150 sends in 300 s.
    expect(t.records().length).toBeLessThan(30);
    expect(t.queue.stats().recordsPending).toBe(1);
    await t.stop();
  });

  it("keeps the drain ceiling for the records sent after a probe", async () => {
    let up = false;
    const t = await setup(() => (up ? 204 : "network_error"), { records: 6, maxRequestsPerSec: 2 });
    await vi.advanceTimersByTimeAsync(60 * SECOND);
    up = true;
    await vi.advanceTimersByTimeAsync(10 * SECOND);
    const ok = t.records().filter((r) => r.status === 204);
    expect(ok.map((r) => r.batchId)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `host:1:${i}:0`));
    for (let i = 1; i < ok.length; i++) expect(ok[i].atMs - ok[i - 1].atMs).toBeGreaterThanOrEqual(500);
    await t.stop();
  });

  it("probes an OTLP endpoint with an empty ExportMetricsServiceRequest", async () => {
    let up = false;
    const t = await setup(() => (up ? 200 : 503), { protocol: "otlp" });
    await vi.advanceTimersByTimeAsync(60 * SECOND);
    up = true;
    await vi.advanceTimersByTimeAsync(2 * SECOND + 100);
    expect(t.queue.stats().recordsPending).toBe(0);
    const probe = t.probes()[0];
    expect(probe.body).toHaveLength(0);
    expect(probe.headers["content-type"]).toBe("application/x-protobuf");
    expect(probe.headers["content-encoding"]).toBeUndefined();
    await t.stop();
  });
});
