/**
 * The hub's fdatasync threads (agent/queue/sync-threads.ts), on real files and real threads: a
 * finished sync is seen by poll() without the event loop turning, failures keep their errno
 * code, a dying thread fails only the sync it ran, and the runtime's fdatasync takes over.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSyncThreads } from "../../../agent/queue/sync-threads";
import { createNodeQueueFs } from "../../../agent/queue/queue-fs";
import { makeTempDir, openQueue, readAll, recordingLogger, type LoggedLine } from "./queue-helpers";

let tmp: ReturnType<typeof makeTempDir>;
const fds: number[] = [];
beforeEach(() => {
  tmp = makeTempDir("sync-threads-");
});
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  tmp.remove();
});

function writtenFile(name: string): number {
  const fd = openSync(join(tmp.dir, name), "w+");
  fds.push(fd);
  writeSync(fd, new Uint8Array(4096).fill(7));
  return fd;
}

/** Polls on this stack only, so nothing can arrive through the event loop meanwhile. */
function pollUntilSettled(poll: () => number, timeoutMs = 10_000): number {
  const deadline = Date.now() + timeoutMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const settled = poll();
    if (settled > 0 || Date.now() > deadline) return settled;
    Atomics.wait(nap, 0, 0, 0.05);
  }
}

describe("sync threads", () => {
  it("runs fdatasync on a thread and wakes the event loop when nobody polls", async () => {
    const logs: LoggedLine[] = [];
    const threads = createSyncThreads(2, recordingLogger(logs));
    await threads.datasync(writtenFile("a"));
    await threads.datasync(writtenFile("b"));
    expect(threads.stats()).toMatchObject({ syncs: 2, failures: 0, threads: 1 });
    expect(threads.stats().seconds).toBeGreaterThan(0);
    threads.close();
    expect(logs).toEqual([]);
  });

  it("poll() settles a finished sync from the caller's own stack", async () => {
    const threads = createSyncThreads(1, recordingLogger([]));
    let resolved = false;
    const done = threads.datasync(writtenFile("a")).then(() => (resolved = true));
    // The wake message cannot be handled while this loop holds the thread: only poll() can see it.
    expect(pollUntilSettled(threads.poll)).toBe(1);
    expect(threads.stats().syncs).toBe(1);
    await done;
    expect(resolved).toBe(true);
    expect(threads.poll()).toBe(0);
    threads.close();
  });

  it("rejects a failed fdatasync with its errno code and keeps the thread", async () => {
    const threads = createSyncThreads(1, recordingLogger([]));
    const devNull = openSync("/dev/null", "r");
    fds.push(devNull);
    await expect(threads.datasync(devNull)).rejects.toMatchObject({ code: "EINVAL", syscall: "fdatasync" });
    await threads.datasync(writtenFile("a"));
    expect(threads.stats()).toMatchObject({ syncs: 2, failures: 1, threads: 1 });
    threads.close();
  });

  it("queues syncs beyond its thread count and settles every one", async () => {
    const threads = createSyncThreads(2, recordingLogger([]));
    const files = Array.from({ length: 7 }, (_, i) => writtenFile(`f${i}`));
    await Promise.all(files.map((fd) => threads.datasync(fd)));
    expect(threads.stats()).toMatchObject({ syncs: 7, failures: 0, threads: 2 });
    threads.close();
  });

  it("after close(), and with 0 threads, syncs run on the runtime's fdatasync", async () => {
    const threads = createSyncThreads(1, recordingLogger([]));
    await threads.datasync(writtenFile("a"));
    threads.close();
    await threads.datasync(writtenFile("b"));
    expect(threads.stats()).toMatchObject({ syncs: 2, threads: 0 });
    const none = createSyncThreads(0, recordingLogger([]));
    await none.datasync(writtenFile("c"));
    const devNull = openSync("/dev/null", "r");
    fds.push(devNull);
    await expect(none.datasync(devNull)).rejects.toMatchObject({ code: "EINVAL" });
    await expect(none.datasync(-1)).rejects.toMatchObject({ code: "ERR_OUT_OF_RANGE" });
    expect(none.stats()).toMatchObject({ syncs: 3, failures: 2, threads: 0 });
  });

  it("a thread that dies fails the sync it ran, is logged, and the runtime's fdatasync takes over", async () => {
    const logs: LoggedLine[] = [];
    const dies = `
      const { workerData } = require("node:worker_threads");
      const slots = new Int32Array(workerData);
      Atomics.wait(slots, 0, 0);
      throw new Error("thread broke");
    `;
    const threads = createSyncThreads(2, recordingLogger(logs), { source: dies });
    await expect(threads.datasync(writtenFile("a"))).rejects.toMatchObject({ code: "EIO" });
    await threads.datasync(writtenFile("b"));
    await threads.datasync(writtenFile("c"));
    expect(threads.stats()).toMatchObject({ syncs: 3, failures: 1, threads: 0 });
    expect(logs.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
      "An fdatasync thread stopped; syncing on the runtime's pool from now on. The write it was syncing fails and its sender retries it.",
    ]);
  });

  it("a disk queue on createNodeQueueFs({ datasync }) makes its appends durable through the threads", async () => {
    const threads = createSyncThreads(1, recordingLogger([]));
    const { queue } = await openQueue({ dir: join(tmp.dir, "q"), fsync: "batch" }, { fs: createNodeQueueFs({ datasync: threads.datasync }) });
    const before = threads.stats().syncs;
    const appended = await Promise.all([1, 2, 3].map((n) => queue.append(new Uint8Array(100).fill(n), { id: `r${n}` })));
    expect(appended.every((r) => r.ok)).toBe(true);
    expect(threads.stats().syncs).toBeGreaterThan(before);
    expect((await readAll(queue)).map((r) => r.payload[0])).toEqual([1, 2, 3]);
    await queue.close();
    threads.close();
  });
});
