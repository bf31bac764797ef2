/**
 * fdatasync on dedicated threads, its completion picked up by polling from the busy path.
 *
 *   caller ── datasync(fd) ──▶ thread k: fdatasync(fd) ── done seq ──▶ shared memory
 *      ▲                                                                   │
 *      └──── poll() (each incoming request) or the thread's wake message ◀┘
 *
 * Why: the hub answers a write only after its group commit's fdatasync. An async fdatasync takes
 * 0.15–0.4 ms on this disk, but its completion is a task on the event loop, and under load the
 * loop is working through a burst of requests: the hub saw it 1.3–1.6 ms late, every group
 * commit, so each write waited ~2.9 ms (p50) for the disk queue. Here each thread blocks in
 * fdatasync and then stores a sequence number in shared memory; `poll()` is one atomic load per
 * thread, cheap enough to call at the start of every request, so a finished sync is seen between
 * two requests instead of after the whole burst. The thread also posts a message, which wakes
 * an idle loop (holding it back 0.3 ms to let a poll get there first measured slower: 1.49–1.51M
 * against 1.54–1.56M). Hub relay bench into a counting store, 2M samples/s offered, 32 in flight: the
 * queue append fell from 2.9 to 0.9–1.2 ms (p50) and the hub accepted 1.45–1.58M samples/s
 * instead of 1.33–1.37M. Without the polling (wake message only) it accepted 1.33M: the threads
 * alone do not help, seeing the completion early does.
 *
 * One sync per thread at a time; more wait in FIFO order for a free thread. (Letting a shard write
 * its next group and start its sync while the previous one runs, on a second thread, was slower in
 * the same bench: 1.47–1.49M against 1.55–1.60M; more, smaller syncs.) After close(), or if
 * a thread cannot start, datasync() runs on the runtime's own async fdatasync. A thread that dies
 * fails the sync it was running (the caller treats it as a failed write, its sender retries), is
 * logged, and from then on every sync runs on the runtime's fdatasync.
 */
import { fdatasync } from "node:fs";
import { constants } from "node:os";
import { Worker } from "node:worker_threads";
import type { Logger } from "../core/deps";

export interface SyncThreadStats {
  /** Syncs settled (ok or failed), on threads or on the fallback. */
  syncs: number;
  /** Seconds from datasync() to settled, summed. */
  seconds: number;
  /** Syncs that failed. */
  failures: number;
  /** Threads running now. */
  threads: number;
}

export interface SyncThreads {
  /** fdatasync(fd): resolves once the file's written data is on disk; rejects with the errno error. */
  datasync(fd: number): Promise<void>;
  /** Settles every sync whose thread has finished; returns how many. One atomic load per thread. */
  poll(): number;
  stats(): SyncThreadStats;
  /** Stops the threads once idle; later datasync() calls use the runtime's async fdatasync. */
  close(): void;
}

/** Shared Int32 slots per thread. */
const REQUESTED = 0;
const DONE = 1;
const FD = 2;
const ERRNO = 3;
const STOP = -1;

/**
 * The thread's whole program (CommonJS, run with `eval`, so the compiled binary needs no second
 * entry point): wait for a new request sequence, fdatasync, publish the result, wake the loop.
 */
const THREAD_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const { fdatasyncSync } = require("node:fs");
const slots = new Int32Array(workerData);
let seen = 0;
for (;;) {
  Atomics.wait(slots, ${REQUESTED}, seen);
  seen = Atomics.load(slots, ${REQUESTED});
  if (seen === ${STOP}) break;
  let errno = 0;
  try {
    fdatasyncSync(Atomics.load(slots, ${FD}));
  } catch (e) {
    errno = Math.abs(Number(e && e.errno)) || 5;
  }
  Atomics.store(slots, ${ERRNO}, errno);
  Atomics.store(slots, ${DONE}, seen);
  parentPort.postMessage(seen);
}
`;

interface Job {
  fd: number;
  startMs: number;
  resolve(): void;
  reject(e: Error): void;
}

interface Thread {
  slots: Int32Array;
  worker: Worker;
  seq: number;
  job: Job | undefined;
  alive: boolean;
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

function errnoError(errno: number, fd: number): Error {
  const code = ERRNO_NAMES.get(errno) ?? "EIO";
  return Object.assign(new Error(`${code}: fdatasync failed on fd ${fd}`), { code, errno: -errno, syscall: "fdatasync" });
}

export interface SyncThreadOptions {
  /** The threads' program; tests pass one that dies. */
  source?: string;
}

/** Starts nothing yet: up to `threads` threads are started as syncs need them. */
export function createSyncThreads(threads: number, log: Logger, options: SyncThreadOptions = {}): SyncThreads {
  const source = options.source ?? THREAD_SOURCE;
  const pool: Thread[] = [];
  const waiting: Job[] = [];
  const totals = { syncs: 0, seconds: 0, failures: 0 };
  let closed = threads <= 0;

  function settle(job: Job, error: Error | undefined): void {
    totals.syncs++;
    totals.seconds += (performance.now() - job.startMs) / 1000;
    if (error) {
      totals.failures++;
      job.reject(error);
    } else job.resolve();
  }

  function fallback(job: Job): void {
    try {
      fdatasync(job.fd, (e) => settle(job, e ?? undefined));
    } catch (e) {
      settle(job, e as Error); // an invalid fd is thrown, not passed to the callback
    }
  }

  function start(thread: Thread, job: Job): void {
    thread.seq++;
    thread.job = job;
    Atomics.store(thread.slots, FD, job.fd);
    Atomics.store(thread.slots, REQUESTED, thread.seq);
    Atomics.notify(thread.slots, REQUESTED);
  }

  function spawn(): Thread | undefined {
    const slots = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
    let worker: Worker;
    try {
      worker = new Worker(source, { eval: true, workerData: slots.buffer });
    } catch (e) {
      log.warn("Cannot start an fdatasync thread; syncing on the runtime's pool instead.", { error: e });
      closed = true;
      return undefined;
    }
    worker.unref();
    const thread: Thread = { slots, worker, seq: 0, job: undefined, alive: true };
    worker.on("message", () => poll());
    const died = (e: unknown) => {
      if (!thread.alive) return;
      thread.alive = false;
      poll(); // a sync it finished settles as usual
      const job = thread.job;
      thread.job = undefined;
      if (job) settle(job, Object.assign(new Error("the fdatasync thread stopped"), { code: "EIO" }));
      if (!closed) {
        log.error("An fdatasync thread stopped; syncing on the runtime's pool from now on. The write it was syncing fails and its sender retries it.", { error: e });
        closed = true;
        stopIdle();
      }
      next();
    };
    worker.on("error", died);
    worker.on("exit", died);
    pool.push(thread);
    return thread;
  }

  /** Hands waiting jobs to idle threads (or to the fallback once none can run). */
  function next(): void {
    while (waiting.length > 0) {
      let thread = pool.find((t) => t.alive && t.job === undefined);
      if (!thread && !closed && pool.filter((t) => t.alive).length < threads) thread = spawn();
      if (thread) {
        start(thread, waiting.shift()!);
        continue;
      }
      if (closed || !pool.some((t) => t.alive)) {
        for (const job of waiting.splice(0)) fallback(job);
      }
      return;
    }
  }

  function poll(): number {
    let settled = 0;
    for (const thread of pool) {
      const job = thread.job;
      if (job === undefined || Atomics.load(thread.slots, DONE) !== thread.seq) continue;
      thread.job = undefined;
      const errno = Atomics.load(thread.slots, ERRNO);
      settle(job, errno === 0 ? undefined : errnoError(errno, job.fd));
      settled++;
    }
    if (settled > 0) {
      if (waiting.length > 0) next();
      if (closed) stopIdle();
    }
    return settled;
  }

  function stopIdle(): void {
    for (const thread of pool) {
      if (!thread.alive || thread.job !== undefined) continue;
      thread.alive = false;
      Atomics.store(thread.slots, REQUESTED, STOP);
      Atomics.notify(thread.slots, REQUESTED);
    }
  }

  return {
    datasync(fd) {
      return new Promise<void>((resolve, reject) => {
        waiting.push({ fd, startMs: performance.now(), resolve, reject });
        next();
      });
    },
    poll,
    stats: () => ({ ...totals, threads: pool.filter((t) => t.alive).length }),
    close() {
      closed = true;
      stopIdle();
    },
  };
}
