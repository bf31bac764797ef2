import { readdirSync } from "node:fs";
import { afterEach, describe, expect, test } from "vitest";
import type { DiskQueue } from "../../../agent/queue/disk-queue";
import { createFaultFs } from "./fault-fs";
import { appendOk, idsOf, makeTempDir, openQueue, payloadOf, range, readAll } from "./queue-helpers";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const tmp = makeTempDir();
  cleanups.push(tmp.remove);
  return tmp.dir;
}

async function open(dir: string, extra: Parameters<typeof openQueue>[1] = {}, config: { segmentBytes?: number; maxBytes?: number; fsync?: "always" | "batch" | "never"; syncIntervalMs?: number } = {}) {
  const opened = await openQueue({ dir, segmentBytes: 4096, maxBytes: 1 << 24, ...config }, extra);
  cleanups.push(() => opened.queue.close());
  return opened;
}

const ids = (ns: number[]) => ns.map((n) => `host-a/${n}`);

async function ackThrough(queue: DiskQueue, count: number): Promise<void> {
  const page = await queue.peek({ maxRecords: count });
  if (!page.ok) throw new Error("peek failed");
  expect(page.value.records.length).toBe(count);
  const acked = await queue.ack(page.value.records[count - 1].nextOffset);
  expect(acked.ok).toBe(true);
}

describe("disk queue", () => {
  test("returns appended records in order with their ids, priorities, timestamps and payloads", async () => {
    const { queue, clock } = await open(tempDir());
    const offsets: number[] = [];
    for (const n of range(0, 5)) {
      offsets.push(await appendOk(queue, n, { priority: n % 3 }));
      clock.advance(1000);
    }
    const records = await readAll(queue);
    expect(idsOf(records)).toEqual(ids(range(0, 5)));
    expect(records.map((r) => r.offset)).toEqual(offsets);
    expect(records.map((r) => r.priority)).toEqual([0, 1, 2, 0, 1]);
    expect(records.map((r) => r.timestampMs - records[0].timestampMs)).toEqual([0, 1000, 2000, 3000, 4000]);
    records.forEach((r, i) => expect(r.payload).toEqual(payloadOf(i)));
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });

  test("keeps every unacknowledged record when reopened after every write and every read", async () => {
    const dir = tempDir();
    const expected: number[] = [];
    for (const n of range(0, 60)) {
      const writer = await openQueue({ dir, segmentBytes: 4096, maxBytes: 1 << 24 });
      await appendOk(writer.queue, n);
      expected.push(n);
      await writer.queue.close();

      const reader = await openQueue({ dir, segmentBytes: 4096, maxBytes: 1 << 24 });
      expect(idsOf(await readAll(reader.queue))).toEqual(ids(expected));
      if (n % 4 === 3) {
        await ackThrough(reader.queue, 2);
        expected.splice(0, 2);
      }
      expect(reader.queue.stats().recordsPending).toBe(expected.length);
      expect(reader.queue.stats().dropped.corrupt).toBe(0);
      await reader.queue.close();
    }
  });

  test("does not replay acknowledged records after a reopen", async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (const n of range(0, 300)) await appendOk(first.queue, n);
    await ackThrough(first.queue, 120);
    await first.queue.close();

    const second = await open(dir);
    expect(idsOf(await readAll(second.queue))).toEqual(ids(range(120, 300)));
    expect(second.queue.stats().recordsPending).toBe(180);
  });

  test("replays records that were not acknowledged exactly once more after a crash", async () => {
    const dir = tempDir();
    const crashed = await open(dir);
    for (const n of range(0, 50)) await appendOk(crashed.queue, n);
    await ackThrough(crashed.queue, 10);
    expect((await crashed.queue.peek({ maxRecords: 20 })).ok).toBe(true); // read, never acked
    // No close(): the process "dies" here; a second open sees only what reached the files.

    const restarted = await open(dir);
    const replayed = await readAll(restarted.queue);
    expect(idsOf(replayed)).toEqual(ids(range(10, 50)));
    expect(new Set(idsOf(replayed)).size).toBe(replayed.length);
    expect((await restarted.queue.ack(replayed[replayed.length - 1].nextOffset)).ok).toBe(true);
    await restarted.queue.close();

    const again = await open(dir);
    expect(await readAll(again.queue)).toEqual([]);
  });

  test("keeps order across many segments and deletes segments once fully acknowledged", async () => {
    const dir = tempDir();
    const { queue } = await open(dir);
    for (const n of range(0, 1000)) await appendOk(queue, n);
    const segmentsBefore = readdirSync(dir).filter((f) => f.endsWith(".seg")).length;
    expect(segmentsBefore).toBeGreaterThan(15);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 1000)));

    let acked = 0;
    while (acked < 1000) {
      const page = await queue.peek({ maxRecords: 97 });
      if (!page.ok) throw new Error("peek failed");
      expect(idsOf(page.value.records)).toEqual(ids(range(acked, Math.min(acked + 97, 1000))));
      expect((await queue.ack(page.value.nextOffset)).ok).toBe(true);
      acked += page.value.records.length;
      expect(queue.stats().recordsPending).toBe(1000 - acked);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith(".seg")).length).toBe(1); // the active one stays
    expect(queue.stats()).toMatchObject({ recordsPending: 0, bytesPending: 0, segments: 1 });
  });

  test("gives offsets after the acknowledged position when an emptied queue is reopened", async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (const n of range(0, 200)) await appendOk(first.queue, n);
    await ackThrough(first.queue, 200);
    const ackOffset = first.queue.stats().ackOffset;
    await first.queue.close();

    const second = await open(dir);
    const offset = await appendOk(second.queue, 200);
    expect(offset).toBeGreaterThanOrEqual(ackOffset);
    expect(idsOf(await readAll(second.queue))).toEqual(ids([200]));
  });

  test("counts pending records exactly after a partial ack inside a segment and a reopen", async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (const n of range(0, 130)) await appendOk(first.queue, n);
    await ackThrough(first.queue, 77);
    expect(first.queue.stats().recordsPending).toBe(53);
    await first.queue.close();
    const second = await open(dir);
    expect(second.queue.stats().recordsPending).toBe(53);
    expect(second.queue.stats().bytesPending).toBe(second.queue.stats().endOffset - second.queue.stats().ackOffset);
    expect(second.queue.bytesPending()).toBe(second.queue.stats().bytesPending);
  });

  test("peek honours maxRecords and maxBytes but always returns at least one record", async () => {
    const { queue } = await open(tempDir());
    for (const n of range(0, 10)) await appendOk(queue, n, { bytes: 100 });
    const byCount = await queue.peek({ maxRecords: 3 });
    expect(byCount.ok && byCount.value.records.length).toBe(3);
    const byBytes = await queue.peek({ maxBytes: 250 });
    expect(byBytes.ok && byBytes.value.records.length).toBe(2);
    const tiny = await queue.peek({ maxBytes: 1 });
    expect(tiny.ok && tiny.value.records.length).toBe(1);
    const again = await queue.peek({ maxRecords: 3 });
    expect(again).toEqual(byCount); // peek does not consume
  });

  test("reads ahead from a returned nextOffset while earlier records stay unacknowledged", async () => {
    const { queue } = await open(tempDir());
    for (const n of range(0, 100)) await appendOk(queue, n);
    const first = await queue.peek({ maxRecords: 40 });
    if (!first.ok) throw new Error("peek failed");
    const second = await queue.peek({ maxRecords: 40, fromOffset: first.value.nextOffset });
    if (!second.ok) throw new Error("peek failed");
    expect(idsOf(second.value.records)).toEqual(ids(range(40, 80)));
    expect((await queue.ack(first.value.nextOffset)).ok).toBe(true);
    expect((await queue.ack(second.value.nextOffset)).ok).toBe(true);
    expect(queue.stats().recordsPending).toBe(20);
    const rest = await queue.peek();
    expect(rest.ok && idsOf(rest.value.records)).toEqual(ids(range(80, 100)));
  });

  test("refuses ack and peek offsets that are not record boundaries it handed out", async () => {
    const { queue } = await open(tempDir());
    for (const n of range(0, 5)) await appendOk(queue, n);
    const page = await queue.peek();
    if (!page.ok) throw new Error("peek failed");
    const mid = page.value.records[2].offset + 3;
    expect(await queue.ack(mid)).toMatchObject({ ok: false, error: { code: "QUEUE_BAD_OFFSET" } });
    expect(await queue.ack(page.value.nextOffset + 1)).toMatchObject({ ok: false, error: { code: "QUEUE_BAD_OFFSET" } });
    expect(await queue.peek({ fromOffset: mid })).toMatchObject({ ok: false, error: { code: "QUEUE_BAD_OFFSET" } });
    expect((await queue.ack(page.value.records[2].offset)).ok).toBe(true); // a record start is a boundary too
    expect(await queue.ack(page.value.records[0].nextOffset)).toMatchObject({ ok: false, error: { code: "QUEUE_BAD_OFFSET" } }); // behind the ack
    expect(queue.stats().recordsPending).toBe(3);
    expect(queue.stats().dropped.corrupt).toBe(0);
  });

  test("acknowledges correctly without a preceding peek (the queue walks the records itself)", async () => {
    const dir = tempDir();
    const first = await open(dir);
    for (const n of range(0, 300)) await appendOk(first.queue, n);
    const all = await readAll(first.queue);
    await first.queue.close();
    const second = await open(dir); // no peeks remembered
    expect((await second.queue.ack(all[249].nextOffset)).ok).toBe(true);
    expect(second.queue.stats().recordsPending).toBe(50);
    expect(idsOf(await readAll(second.queue))).toEqual(ids(range(250, 300)));
  });

  test("reports pending bytes, records and the age of the oldest unacknowledged record", async () => {
    const { queue, clock } = await open(tempDir());
    expect(queue.stats()).toMatchObject({ recordsPending: 0, bytesPending: 0, oldestRecordAgeMs: 0 });
    await appendOk(queue, 0);
    clock.advance(5000);
    await appendOk(queue, 1);
    clock.advance(2000);
    expect(queue.stats()).toMatchObject({ recordsPending: 2, oldestRecordAgeMs: 7000 });
    expect(queue.stats().bytesPending).toBe(queue.stats().endOffset);
    expect(queue.bytesPending()).toBe(queue.stats().endOffset);
    await ackThrough(queue, 1);
    expect(queue.stats()).toMatchObject({ recordsPending: 1, oldestRecordAgeMs: 2000 });
    expect(queue.bytesPending()).toBe(queue.stats().endOffset - queue.stats().ackOffset);
    await ackThrough(queue, 1);
    expect(queue.stats()).toMatchObject({ recordsPending: 0, oldestRecordAgeMs: 0, bytesPending: 0 });
    expect(queue.bytesPending()).toBe(0);
  });

  test("shares one fdatasync among concurrent appends with fsync batch", async () => {
    const fs = createFaultFs();
    const { queue } = await open(tempDir(), { fs }, { segmentBytes: 1 << 20 });
    const syncsBefore = fs.calls.sync;
    const results = await Promise.all(range(0, 200).map((n) => queue.append(payloadOf(n), { id: `host-a/${n}` })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fs.calls.sync - syncsBefore).toBe(1);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 200)));
  });

  test.each([
    ["always", 50],
    ["never", 0],
  ] as const)("with fsync %s, 50 concurrent appends make %i fdatasyncs", async (fsync, expectedSyncs) => {
    const fs = createFaultFs();
    const { queue } = await open(tempDir(), { fs }, { segmentBytes: 1 << 20, fsync });
    const syncsBefore = fs.calls.sync;
    const results = await Promise.all(range(0, 50).map((n) => queue.append(payloadOf(n), { id: `host-a/${n}` })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(fs.calls.sync - syncsBefore).toBe(expectedSyncs);
  });

  test("with syncIntervalMs, appends within the interval wait for it and share one fdatasync; after it, one is flushed at once", async () => {
    const fs = createFaultFs();
    const { queue, clock } = await open(tempDir(), { fs }, { segmentBytes: 1 << 20, syncIntervalMs: 100 });
    const syncsBefore = fs.calls.sync;
    const elapsed = (from: number) => performance.now() - from;
    let t = performance.now();
    expect((await queue.append(payloadOf(0), { id: "host-a/0" })).ok).toBe(true); // first: no wait
    expect(elapsed(t)).toBeLessThan(90);
    t = performance.now();
    // The queue's clock has not moved: the next flush waits out the interval (a real timer).
    const waiting = await Promise.all([1, 2, 3].map((n) => queue.append(payloadOf(n), { id: `host-a/${n}` })));
    expect(waiting.every((r) => r.ok)).toBe(true);
    expect(elapsed(t)).toBeGreaterThanOrEqual(95);
    expect(fs.calls.sync - syncsBefore).toBe(2);
    clock.advance(100); // the interval has passed since the last flush
    t = performance.now();
    expect((await queue.append(payloadOf(4), { id: "host-a/4" })).ok).toBe(true);
    expect(elapsed(t)).toBeLessThan(90);
    expect(fs.calls.sync - syncsBefore).toBe(3);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 5)));
  });

  test("syncIntervalMs does not hold back fsync always: one fdatasync per record, no wait", async () => {
    const fs = createFaultFs();
    const { queue } = await open(tempDir(), { fs }, { segmentBytes: 1 << 20, fsync: "always", syncIntervalMs: 1000 });
    const syncsBefore = fs.calls.sync;
    const t = performance.now();
    for (const n of range(0, 3)) expect((await queue.append(payloadOf(n), { id: `host-a/${n}` })).ok).toBe(true);
    expect(performance.now() - t).toBeLessThan(900);
    expect(fs.calls.sync - syncsBefore).toBe(3);
  });

  test("close() fails the appends waiting out syncIntervalMs instead of writing them later", async () => {
    const fs = createFaultFs();
    const { queue } = await open(tempDir(), { fs }, { segmentBytes: 1 << 20, syncIntervalMs: 1000 });
    expect((await queue.append(payloadOf(0), { id: "host-a/0" })).ok).toBe(true);
    const waiting = queue.append(payloadOf(1), { id: "host-a/1" });
    const writesBefore = fs.calls.write;
    await queue.close();
    expect(await waiting).toMatchObject({ ok: false, error: { code: "QUEUE_CLOSED" } });
    await new Promise((r) => setTimeout(r, 1100));
    expect(fs.calls.write).toBe(writesBefore);
  });

  test("rejects invalid and oversized records without touching the queue", async () => {
    const { queue } = await open(tempDir());
    expect(await queue.append(payloadOf(0), { id: "" })).toMatchObject({ ok: false, error: { code: "QUEUE_INVALID_RECORD" } });
    expect(await queue.append(payloadOf(0), { id: "x".repeat(1025) })).toMatchObject({ ok: false, error: { code: "QUEUE_INVALID_RECORD" } });
    expect(await queue.append(payloadOf(0), { id: "a", priority: 256 })).toEqual({
      ok: false,
      error: { code: "QUEUE_INVALID_RECORD", message: "priority must be an integer from 0 to 255 (got 256)" },
    });
    expect(await queue.append(new Uint8Array(5000), { id: "a" })).toEqual({
      ok: false,
      error: { code: "QUEUE_RECORD_TOO_LARGE", frameBytes: 5025, maxFrameBytes: 4096 },
    });
    expect(queue.stats().recordsPending).toBe(0);
  });

  test("flushes appends made before close and refuses calls after it", async () => {
    const dir = tempDir();
    const { queue } = await open(dir);
    const pending = range(0, 20).map((n) => queue.append(payloadOf(n), { id: `host-a/${n}` }));
    const closing = queue.close();
    expect(await queue.append(payloadOf(99), { id: "late" })).toEqual({ ok: false, error: { code: "QUEUE_CLOSED" } });
    expect(await queue.peek()).toEqual({ ok: false, error: { code: "QUEUE_CLOSED" } });
    expect((await Promise.all(pending)).every((r) => r.ok)).toBe(true);
    await closing;
    const reopened = await open(dir);
    expect(idsOf(await readAll(reopened.queue))).toEqual(ids(range(0, 20)));
  });
});
