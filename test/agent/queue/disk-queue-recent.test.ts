/**
 * The newest records served from memory (agent/queue/recent-records.ts): a sink that keeps up
 * reads nothing back from disk, and every read returns exactly what the same read returns from
 * the segment files after a reopen (offsets, page boundaries, ids, priorities, timestamps, bytes).
 */
import { afterEach, describe, expect, test } from "vitest";
import type { DiskQueue, PeekOptions, QueueRecord } from "../../../agent/queue/disk-queue";
import { RecentRecords } from "../../../agent/queue/recent-records";
import { createFaultFs } from "./fault-fs";
import { makeTempDir, openQueue, payloadOf } from "./queue-helpers";

const temps: { remove(): void }[] = [];
afterEach(() => {
  for (const t of temps.splice(0)) t.remove();
});

function tempDir(): string {
  const t = makeTempDir("disk-queue-recent-");
  temps.push(t);
  return t.dir;
}

/** Appends n records of varying size (40–539 bytes) and priority (0–2, or all 0); returns their offsets. */
async function appendMany(queue: DiskQueue, n: number, priorities = 3): Promise<number[]> {
  const offsets: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await queue.append(payloadOf(i, 40 + ((i * 37) % 500)), { id: `host-a/${i}`, priority: i % priorities });
    if (!r.ok) throw new Error(`append ${i}: ${JSON.stringify(r.error)}`);
    offsets.push(r.value.offset);
  }
  return offsets;
}

/** Pages through the queue with the given limits, from the ack position on. */
async function pages(queue: DiskQueue, limits: PeekOptions): Promise<{ records: QueueRecord[]; nextOffset: number }[]> {
  const out: { records: QueueRecord[]; nextOffset: number }[] = [];
  let fromOffset: number | undefined;
  for (;;) {
    const page = await queue.peek({ ...limits, fromOffset });
    if (!page.ok) throw new Error(`peek: ${JSON.stringify(page.error)}`);
    if (page.value.records.length === 0) return out;
    out.push(page.value);
    fromOffset = page.value.nextOffset;
  }
}

/** Records as plain values, payload bytes included, for exact comparison. */
const plain = (ps: { records: QueueRecord[]; nextOffset: number }[]) =>
  ps.map((p) => ({ nextOffset: p.nextOffset, records: p.records.map((r) => ({ ...r, payload: Array.from(r.payload) })) }));

const LIMITS: PeekOptions[] = [{ maxRecords: 1 }, { maxRecords: 7 }, { maxRecords: 1000, maxBytes: 2000 }, { maxRecords: 1000, maxBytes: 0 }];

describe("disk queue: newest records from memory", () => {
  test("a sink that keeps up reads nothing back from disk, and gets what the disk holds", async () => {
    const dir = tempDir();
    const fs = createFaultFs();
    const { queue } = await openQueue({ dir }, { fs });
    await appendMany(queue, 300);
    const fromMemory = [];
    for (const limits of LIMITS) fromMemory.push(plain(await pages(queue, limits)));
    // Deliver in pages, acknowledging each, as a sink does.
    for (;;) {
      const page = await queue.peek({ maxRecords: 25 });
      if (!page.ok || page.value.records.length === 0) break;
      expect((await queue.ack(page.value.nextOffset)).ok).toBe(true);
    }
    expect(fs.calls.read).toBe(0);
    expect(queue.stats().recordsPending).toBe(0);
    await queue.close();

    // The same reads from the files: a second queue over a copy of the unacknowledged state.
    const dir2 = tempDir();
    const { queue: again } = await openQueue({ dir: dir2 });
    await appendMany(again, 300);
    await again.close();
    const fs2 = createFaultFs();
    const { queue: reopened } = await openQueue({ dir: dir2 }, { fs: fs2 });
    const fromDisk = [];
    for (const limits of LIMITS) fromDisk.push(plain(await pages(reopened, limits)));
    expect(fs2.calls.read).toBeGreaterThan(0);
    // Timestamps come from the same fake clock start, so everything must match exactly.
    expect(fromMemory).toEqual(fromDisk);
    expect(fromMemory[0]).toHaveLength(300);
    await reopened.close();
  });

  test("reads across seals, evictions and acknowledgements exactly as from disk", async () => {
    // Small segments (a seal every ~12 records) and 6 KiB of memory (~20 records): most reads
    // start in memory and go on from disk, or start on disk.
    const config = { segmentBytes: 4096, maxBytes: 1 << 20, recentBytes: 6 * 1024 };
    const dir = tempDir();
    const fs = createFaultFs();
    const { queue } = await openQueue({ dir, ...config }, { fs });
    const offsets = await appendMany(queue, 150);
    // Acknowledge the first 40 (inside a segment), then read the rest every way.
    expect((await queue.ack(offsets[40])).ok).toBe(true);
    const fromMemory = [];
    for (const limits of LIMITS) fromMemory.push(plain(await pages(queue, limits)));
    expect(fs.calls.read).toBeGreaterThan(0);
    await queue.close();

    const { queue: reopened } = await openQueue({ dir, ...config, recentBytes: 0 });
    const fromDisk = [];
    for (const limits of LIMITS) fromDisk.push(plain(await pages(reopened, limits)));
    expect(fromMemory).toEqual(fromDisk);
    expect(fromDisk[0].map((p) => p.records[0].id)).toEqual(Array.from({ length: 110 }, (_, i) => `host-a/${40 + i}`));
    await reopened.close();
  });

  test("forgets shed records", async () => {
    // maxBytes of 4 segments: appending 3× that sheds the oldest segments as it goes, while
    // memory (64 KiB, all 150 records) would still hold them.
    const config = { segmentBytes: 4096, maxBytes: 4 * 4096, recentBytes: 64 * 1024 };
    const dir = tempDir();
    const { queue } = await openQueue({ dir, ...config });
    await appendMany(queue, 150, 1);
    const shed = queue.stats().dropped.full;
    expect(shed).toBeGreaterThan(0);
    const fromMemory = plain(await pages(queue, { maxRecords: 5 }));
    await queue.close();
    const { queue: reopened } = await openQueue({ dir, ...config, recentBytes: 0 });
    expect(plain(await pages(reopened, { maxRecords: 5 }))).toEqual(fromMemory);
    expect(fromMemory.flatMap((p) => p.records)).toHaveLength(150 - shed);
    await reopened.close();
  });
});

describe("RecentRecords", () => {
  const record = (offset: number, bytes: number): QueueRecord => ({
    offset,
    nextOffset: offset + bytes,
    id: `r${offset}`,
    priority: 0,
    timestampMs: 0,
    payload: new Uint8Array(bytes - 30),
  });

  test("keeps at most maxBytes of frames, dropping the oldest, and skips frames over a quarter of it", () => {
    const recent = new RecentRecords(1000);
    let offset = 0;
    for (let i = 0; i < 20; i++) {
      recent.add(record(offset, 100), 100);
      offset += 100;
      expect(recent.bytes).toBeLessThanOrEqual(1000);
    }
    expect(recent.size).toBe(10);
    expect(recent.read(900, { maxRecords: 100, maxBytes: 1 << 20 })).toBeNull(); // dropped
    expect(recent.read(1000, { maxRecords: 100, maxBytes: 1 << 20 })?.records.map((r) => r.offset)).toEqual([1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900]);
    recent.add(record(offset, 251), 251);
    expect(recent.holds(offset)).toBe(false);
    expect(recent.size).toBe(10);
  });

  test("reads within maxRecords, maxBytes (the first record always) and stopAt", () => {
    const recent = new RecentRecords(1 << 20);
    for (let i = 0; i < 10; i++) recent.add(record(i * 100, 100), 100);
    expect(recent.read(0, { maxRecords: 3, maxBytes: 1 << 20 })).toMatchObject({ nextOffset: 300 });
    expect(recent.read(0, { maxRecords: 100, maxBytes: 150 })?.records).toHaveLength(2); // 70 + 70 ≤ 150
    expect(recent.read(0, { maxRecords: 100, maxBytes: 0 })).toMatchObject({ nextOffset: 100 });
    expect(recent.read(200, { maxRecords: 100, maxBytes: 1 << 20, stopAt: 500 })).toMatchObject({ nextOffset: 500 });
    expect(recent.read(900, { maxRecords: 100, maxBytes: 1 << 20 })).toMatchObject({ nextOffset: 1000 });
    expect(recent.read(50, { maxRecords: 100, maxBytes: 1 << 20 })).toBeNull();
  });

  test("forgets below an offset and over a range", () => {
    const recent = new RecentRecords(1 << 20);
    for (let i = 0; i < 10; i++) recent.add(record(i * 100, 100), 100);
    recent.forgetBelow(300);
    expect(recent.size).toBe(7);
    expect(recent.holds(200)).toBe(false);
    expect(recent.holds(300)).toBe(true);
    recent.forgetOverlapping(450, 650); // records at 400, 500, 600 overlap
    expect([300, 400, 500, 600, 700].map((o) => recent.holds(o))).toEqual([true, false, false, false, true]);
    expect(recent.bytes).toBe(400);
    expect(recent.read(300, { maxRecords: 100, maxBytes: 1 << 20 })).toMatchObject({ nextOffset: 400 });
    recent.clear();
    expect(recent.bytes).toBe(0);
  });
});
