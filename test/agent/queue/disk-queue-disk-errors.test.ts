/**
 * Full, failing and read-only disks: every failure comes back as a QueueError value, the queue
 * reports itself degraded, stays usable, leaves no torn frame behind, and recovers by itself.
 */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { openDiskQueue } from "../../../agent/queue/disk-queue";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { createFaultFs, type FaultFs } from "./fault-fs";
import { appendOk, idsOf, makeTempDir, openQueue, payloadOf, range, readAll, type Opened } from "./queue-helpers";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CONFIG = { segmentBytes: 4096, maxBytes: 1 << 24 };
const ids = (ns: number[]) => ns.map((n) => `host-a/${n}`);

function tempDir(): string {
  const tmp = makeTempDir();
  cleanups.push(tmp.remove);
  return tmp.dir;
}

async function openFaulty(dir = tempDir()): Promise<Opened & { fs: FaultFs; dir: string }> {
  const fs = createFaultFs();
  const opened = await openQueue({ dir, ...CONFIG }, { fs });
  cleanups.push(() => opened.queue.close());
  return { ...opened, fs, dir };
}

async function reopenPlain(dir: string): Promise<Opened> {
  const opened = await openQueue({ dir, ...CONFIG });
  cleanups.push(() => opened.queue.close());
  return opened;
}

describe("disk errors (injected)", () => {
  test("ENOSPC on write returns QUEUE_DISK_FULL, degrades health, leaves no torn frame, and recovers", async () => {
    const { queue, fs, dir, clock, logs } = await openFaulty();
    for (const n of range(0, 5)) await appendOk(queue, n);
    clock.advance(1000);
    fs.failNext("write", "ENOSPC");
    const failed = await queue.append(payloadOf(5), { id: "host-a/5" });
    expect(failed).toMatchObject({ ok: false, error: { code: "QUEUE_DISK_FULL", op: "write" } });
    expect(queue.health()).toMatchObject({ state: "degraded", since: clock.nowMs() });
    expect(queue.health().reason).toMatch(/^disk full during write of .*\.seg$/);
    expect(logs.filter((l) => l.level === "error")).toHaveLength(1);
    expect(await queue.append(payloadOf(5), { id: "host-a/5" })).toMatchObject({ ok: false }); // still full: logged once
    expect(logs.filter((l) => l.level === "error")).toHaveLength(1);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 5))); // reads keep working

    fs.heal();
    await appendOk(queue, 6);
    expect(queue.health().state).toBe("ok");
    expect(logs.some((l) => l.msg === "Disk queue writes recovered.")).toBe(true);
    await queue.close();
    const reopened = await reopenPlain(dir);
    expect(idsOf(await readAll(reopened.queue))).toEqual(ids([0, 1, 2, 3, 4, 6]));
    expect(reopened.queue.stats().dropped.corrupt).toBe(0);
  });

  test("EIO on fdatasync fails the whole batch with QUEUE_IO and none of it is kept", async () => {
    const { queue, fs } = await openFaulty();
    await appendOk(queue, 0);
    fs.failNext("sync", "EIO", 1);
    const batch = await Promise.all(range(1, 11).map((n) => queue.append(payloadOf(n), { id: `host-a/${n}` })));
    for (const result of batch) expect(result).toMatchObject({ ok: false, error: { code: "QUEUE_IO", errno: "EIO", op: "write" } });
    expect(queue.health().state).toBe("degraded");
    await appendOk(queue, 11);
    expect(idsOf(await readAll(queue))).toEqual(ids([0, 11]));
    expect(queue.health().state).toBe("ok");
  });

  test("EROFS when creating a segment returns QUEUE_IO while reads and acks keep working", async () => {
    const { queue, fs } = await openFaulty();
    let n = 0;
    while (queue.stats().bytesOnDisk < 4096 - 74) await appendOk(queue, n++); // the next record needs a new segment
    fs.failNext("create", "EROFS");
    const failed = await queue.append(payloadOf(n), { id: `host-a/${n}` });
    expect(failed).toMatchObject({ ok: false, error: { code: "QUEUE_IO", errno: "EROFS", op: "create" } });
    expect(queue.health()).toMatchObject({ state: "degraded" });
    const page = await queue.peek({ maxRecords: 10 });
    expect(page.ok && (await queue.ack(page.value.nextOffset)).ok).toBe(true);
    fs.heal();
    await appendOk(queue, n);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(10, n + 1)));
  });

  test("when a failed write cannot be undone, appends continue in a new segment after the damage", async () => {
    const { queue, fs, dir } = await openFaulty();
    for (const n of range(0, 3)) await appendOk(queue, n);
    fs.failNext("write", "ENOSPC", 1);
    fs.failNext("truncate", "EIO", 1);
    expect(await queue.append(payloadOf(3), { id: "host-a/3" })).toMatchObject({ ok: false, error: { code: "QUEUE_DISK_FULL" } });
    const segmentsBefore = queue.stats().segments;
    await appendOk(queue, 4);
    expect(queue.stats().segments).toBe(segmentsBefore + 1);
    expect(idsOf(await readAll(queue))).toEqual(ids([0, 1, 2, 4]));
    await queue.close();

    const reopened = await reopenPlain(dir);
    expect(idsOf(await readAll(reopened.queue))).toEqual(ids([0, 1, 2, 4]));
    expect(reopened.queue.stats().dropped.corrupt).toBe(1); // the half frame left in the old segment
  });

  test("a full disk sheds the least important finished segment and retries the write", async () => {
    const { queue, fs } = await openFaulty();
    for (const n of range(0, 60)) await appendOk(queue, n, { priority: 2 });
    for (const n of range(60, 200)) await appendOk(queue, n);
    fs.failNext("write", "ENOSPC", 1);
    await appendOk(queue, 200);
    const dropped = queue.stats().dropped.disk_full;
    expect(dropped).toBeGreaterThan(0);
    const left = idsOf(await readAll(queue));
    expect(left).toHaveLength(201 - dropped);
    expect(left.slice(-141)).toEqual(ids(range(60, 201))); // the logs went, not the metrics
    expect(queue.health().state).toBe("ok");
  });

  test("a failed checkpoint write fails the ack and the records stay unacknowledged", async () => {
    const { queue, fs, dir } = await openFaulty();
    for (const n of range(0, 10)) await appendOk(queue, n);
    const page = await queue.peek({ maxRecords: 5 });
    if (!page.ok) throw new Error("peek failed");
    fs.failNext("write", "EIO", 1);
    expect(await queue.ack(page.value.nextOffset)).toMatchObject({ ok: false, error: { code: "QUEUE_IO", errno: "EIO" } });
    expect(queue.stats().recordsPending).toBe(10);
    await queue.close();
    const reopened = await reopenPlain(dir);
    expect(idsOf(await readAll(reopened.queue))).toEqual(ids(range(0, 10)));
  });
});

/**
 * Mounts a small tmpfs for a real full disk. Needs root (CI and the dev machines run as root);
 * without it the test fails loudly rather than skipping, so a green run always means a real ENOSPC.
 */
function mountTmpfs(sizeBytes: number): string {
  const dir = makeTempDir("disk-queue-tmpfs-").dir;
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a tmpfs for the full-disk test (run as root): ${(e as Error).message}`);
  }
  cleanups.push(() => {
    execFileSync("umount", ["--lazy", dir], { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fills the filesystem with one file until ENOSPC; returns its path. */
function fillDisk(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
  return path;
}

describe("a real full disk (2 MiB tmpfs)", () => {
  test("appends fail with QUEUE_DISK_FULL while another file fills the disk, then work again", async (ctx) => {
    const mount = mountTmpfs(2 * 1024 * 1024);
    const dir = join(mount, "queue");
    const { queue, logs } = await openQueue({ dir, segmentBytes: 256 * 1024, maxBytes: 64 << 20 });
    for (const n of range(0, 10)) await appendOk(queue, n, { bytes: 1024 });
    const filler = fillDisk(mount);

    let failures = 0;
    for (const n of range(10, 20)) {
      const result = await queue.append(payloadOf(n, 16 * 1024), { id: `host-a/${n}` });
      if (!result.ok) {
        expect(result.error.code).toBe("QUEUE_DISK_FULL");
        failures += 1;
      }
    }
    expect(failures).toBeGreaterThan(0);
    expect(queue.health().state).toBe("degraded");
    const acceptedWhileFull = 10 - failures;

    rmSync(filler);
    await appendOk(queue, 20, { bytes: 1024 });
    expect(queue.health().state).toBe("ok");
    expect(logs.filter((l) => l.level === "error")).toHaveLength(1);
    const records = await readAll(queue);
    expect(records).toHaveLength(10 + acceptedWhileFull + 1);
    await queue.close();

    const reopened = await openQueue({ dir, segmentBytes: 256 * 1024, maxBytes: 64 << 20 });
    expect(idsOf(await readAll(reopened.queue))).toEqual(idsOf(records));
    expect(reopened.queue.stats().dropped.corrupt).toBe(0);
    await reopened.queue.close();
  });

  test("a queue that fills the disk itself sheds its oldest segments and keeps the newest data in order", async (ctx) => {
    const mount = mountTmpfs(2 * 1024 * 1024);
    const dir = join(mount, "queue");
    const { queue } = await openQueue({ dir, segmentBytes: 256 * 1024, maxBytes: 64 << 20 });
    for (const n of range(0, 300)) await appendOk(queue, n, { bytes: 16 * 1024 }); // ~4.8 MB into 2 MiB
    const stats = queue.stats();
    expect(stats.dropped.disk_full).toBeGreaterThan(0);
    const records = await readAll(queue);
    expect(records).toHaveLength(300 - stats.dropped.disk_full);
    expect(idsOf(records)).toEqual(ids(range(300 - records.length, 300)));
    await queue.close();

    const reopened = await openQueue({ dir, segmentBytes: 256 * 1024, maxBytes: 64 << 20 });
    expect(idsOf(await readAll(reopened.queue))).toEqual(idsOf(records));
    expect(reopened.queue.stats().dropped.corrupt).toBe(0);
    await reopened.queue.close();
  });

  test("acknowledging still works on a full disk and frees the space for new appends", async (ctx) => {
    const mount = mountTmpfs(2 * 1024 * 1024);
    const dir = join(mount, "queue");
    const { queue } = await openQueue({ dir, segmentBytes: 64 * 1024, maxBytes: 64 << 20 });
    for (const n of range(0, 40)) await appendOk(queue, n, { bytes: 16 * 1024 });
    cleanups.push(() => queue.close());
    fillDisk(mount);

    const page = await queue.peek({ maxRecords: 100, maxBytes: 64 << 20 });
    if (!page.ok) throw new Error("peek failed");
    expect(page.value.records).toHaveLength(40);
    expect(await queue.ack(page.value.nextOffset)).toEqual({ ok: true, value: undefined });
    expect(queue.stats().segments).toBe(1);
    await appendOk(queue, 41, { bytes: 16 * 1024 });
    expect(queue.health().state).toBe("ok");
    await queue.close();
  });

  test("opening a queue on a read-only filesystem returns QUEUE_IO (EROFS) instead of throwing", async (ctx) => {
    const mount = mountTmpfs(1024 * 1024);
    const dir = join(mount, "queue");
    const writer = await openQueue({ dir, ...CONFIG });
    await appendOk(writer.queue, 0);
    await writer.queue.close();
    execFileSync("mount", ["-o", "remount,ro", mount], { stdio: "ignore" });
    cleanups.push(() => {
      execFileSync("mount", ["-o", "remount,rw", mount], { stdio: "ignore" });
    });

    const opened = await openDiskQueue({ dir, ...CONFIG }, { clock: fakeClock(), log: silentLogger });
    expect(opened).toMatchObject({ ok: false, error: { code: "QUEUE_IO", errno: "EROFS" } });
    expect(readdirSync(dir).length).toBeGreaterThan(0);
  });
});

