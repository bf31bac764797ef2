/**
 * order: fresh-first sends each new record at once while a backlog drains oldest first behind
 * it, and never delivers a record twice; oldest-first (the default) keeps strict queue order.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../../agent/core/deps";
import { createRemoteWriteSink, formatRecordId, type RemoteWriteSinkConfig } from "../../../agent/sinks/remote-write/remote-write-sink";
import { fakeTimerClock, memoryQueue, scriptedFetch, type Answer, type SeenRequest } from "./sink-test-doubles";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const FLUSH_MS = 1000;

/** A queue holding `backlog` records appended 30 s ago (the store was down), and a sink on it. */
async function withBacklog(backlog: number, order: RemoteWriteSinkConfig["order"], script: (req: Omit<SeenRequest, "status">) => Answer = () => 204) {
  const queue = memoryQueue();
  for (let i = 0; i < backlog; i++) await queue.append(Uint8Array.of(i), { id: formatRecordId(`old:${i}`, 2) });
  await vi.advanceTimersByTimeAsync(30_000);
  const { fetch, seen } = scriptedFetch(script);
  const sink = createRemoteWriteSink(
    {
      name: "vm",
      url: "http://vm.test/api/v1/write",
      userAgent: "edge-agent/test",
      timeoutMs: 30_000,
      maxRequestsPerSec: 4, // the backlog takes backlog / 4 seconds
      retry: { baseMs: 100, capMs: 1000, maxRetryAfterMs: 1000 },
      order,
      backlogAfterMs: 2 * FLUSH_MS,
    },
    { clock: fakeTimerClock, log: silentLogger, queue, fetch, random: () => 0.5 },
  );
  sink.start();
  let flushes = 0;
  /** One flush: a record appended and handed to the sink, as Delivery does. */
  const flush = async () => {
    const id = formatRecordId(`new:${flushes++}`, 3);
    const payload = Uint8Array.of(200);
    const r = await queue.append(payload, { id });
    if (!r.ok) throw new Error("append failed");
    sink.notify([{ offset: r.value.offset, id, payload }]);
    return { id: id.split("#")[0], atMs: Date.now() };
  };
  const stop = async () => {
    const stopped = sink.stop();
    await vi.runOnlyPendingTimersAsync();
    await stopped;
  };
  return { queue, sink, seen, flush, stop };
}

describe("remote-write sink: order fresh-first", () => {
  it("sends every new flush at once while the backlog drains oldest first, each record once", async () => {
    const t = await withBacklog(40, "fresh-first");
    const flushes: { id: string; atMs: number }[] = [];
    for (let i = 0; i < 8; i++) {
      flushes.push(await t.flush());
      await vi.advanceTimersByTimeAsync(FLUSH_MS);
    }
    // Each flush went out within one request gap (250 ms) of its append, long before the drain got there.
    for (const f of flushes) {
      const sent = t.seen.find((r) => r.batchId === f.id);
      expect(sent, `${f.id} sent`).toBeDefined();
      expect(sent!.atMs - f.atMs).toBeLessThanOrEqual(250);
    }
    expect(t.queue.stats().recordsPending).toBeGreaterThan(0); // the backlog is still draining
    await vi.advanceTimersByTimeAsync(15_000);
    expect(t.queue.stats().recordsPending).toBe(0);
    const ids = t.seen.map((r) => r.batchId!);
    expect(new Set(ids).size).toBe(ids.length); // nothing delivered twice
    expect(ids.filter((id) => id.startsWith("old:"))).toEqual(Array.from({ length: 40 }, (_, i) => `old:${i}`));
    expect(ids.filter((id) => id.startsWith("new:"))).toEqual(flushes.map((f) => f.id));
    expect(t.sink.stats.sentAhead).toBe(8);
    expect(t.sink.stats.samplesSent).toBe(40 * 2 + 8 * 3);
    // The drain kept to the ceiling: 4 requests per second, fresh sends included.
    for (let i = 4; i < t.seen.length; i++) expect(t.seen[i].atMs - t.seen[i - 4].atMs).toBeGreaterThanOrEqual(1000);
    await t.stop();
  });

  it("leaves a fresh record that failed to the drain, which delivers it in queue order", async () => {
    let failNew = true;
    const t = await withBacklog(4, "fresh-first", (req) => (req.batchId === "new:0" && failNew ? 503 : 204));
    await t.flush();
    await vi.advanceTimersByTimeAsync(300);
    expect(t.seen.map((r) => [r.batchId, r.status])).toEqual([
      ["old:0", 204], // sent as the sink started, before the flush
      ["new:0", 503], // sent ahead, failed
    ]);
    failNew = false;
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.queue.stats().recordsPending).toBe(0);
    expect(t.seen.filter((r) => r.status === 204).map((r) => r.batchId)).toEqual(["old:0", "old:1", "old:2", "old:3", "new:0"]);
    await t.stop();
  });

  it("sends nothing ahead when the queue is not behind", async () => {
    const t = await withBacklog(0, "fresh-first");
    for (let i = 0; i < 3; i++) {
      await t.flush();
      await vi.advanceTimersByTimeAsync(FLUSH_MS);
    }
    expect(t.seen.map((r) => r.batchId)).toEqual(["new:0", "new:1", "new:2"]);
    expect(t.sink.stats.sentAhead).toBe(0);
    await t.stop();
  });
});

describe("remote-write sink: order oldest-first (default)", () => {
  it("keeps strict queue order behind a backlog, whatever notify() is given", async () => {
    const t = await withBacklog(10, undefined);
    for (let i = 0; i < 3; i++) {
      await t.flush();
      await vi.advanceTimersByTimeAsync(FLUSH_MS);
    }
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.seen.map((r) => r.batchId)).toEqual([...Array.from({ length: 10 }, (_, i) => `old:${i}`), "new:0", "new:1", "new:2"]);
    expect(t.sink.stats.sentAhead).toBe(0);
    await t.stop();
  });
});
