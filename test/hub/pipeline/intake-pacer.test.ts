/**
 * Intake pacing (hub/pipeline/intake-pacer.ts): a request waits, at most maxWaitMs, while its
 * queue shard is far behind an upstream that answers; never while the upstream fails. The
 * end-to-end cases run the real write path (hub-ingest-fixture.ts) against a real HTTP store.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { fakeClock, systemClock } from "../../../agent/core/deps";
import type { WriteContext } from "../../../hub/pipeline/hub-ingest";
import { IntakePacer } from "../../../hub/pipeline/intake-pacer";
import { startReceiver, type Receiver } from "../../support/receiver";
import { until } from "../../support/until";
import { encodeWriteRequest, floatSeries, snappyCompress } from "../ingest/ingest-test-helpers";
import { openTestHub, type TestHub } from "./hub-ingest-fixture";

const root = mkdtempSync(join(tmpdir(), "intake-pacer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fixed = (bytes: number) => ({ backlogBytes: () => bytes });

describe("IntakePacer", () => {
  test("within the limit: no wait at all; over it: waits until the backlog is back within it", async () => {
    const pacer = new IntakePacer({ backlogBytes: 1000, maxWaitMs: 5000, stepMs: 2 }, systemClock);
    expect(pacer.pace(fixed(1000))).toBeUndefined();
    let backlog = 5000;
    setTimeout(() => (backlog = 10), 60);
    const started = performance.now();
    await pacer.pace({ backlogBytes: () => backlog });
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(55);
    expect(waited).toBeLessThan(2000);
    expect(pacer.pacedRequests).toBe(1);
    expect(pacer.pacedSeconds).toBeGreaterThan(0.05);
  });

  test("a backlog that never shrinks holds a request for maxWaitMs, then lets it go", async () => {
    const pacer = new IntakePacer({ backlogBytes: 1, maxWaitMs: 80, stepMs: 5 }, systemClock);
    const started = performance.now();
    await pacer.pace(fixed(10));
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(75);
    expect(waited).toBeLessThan(1000);
  });

  test("a clock that stands still cannot hold a request longer than maxWaitMs / stepMs steps", async () => {
    const pacer = new IntakePacer({ backlogBytes: 1, maxWaitMs: 40, stepMs: 4 }, fakeClock(0));
    const started = performance.now();
    await pacer.pace(fixed(10));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(pacer.pacedRequests).toBe(1);
  });

  test("many waiters on one upstream: its backlog is read once per look, and all go when it drops", async () => {
    const pacer = new IntakePacer({ backlogBytes: 1000, maxWaitMs: 5000, stepMs: 5 }, systemClock);
    let backlog = 5000;
    let reads = 0;
    const source = { backlogBytes: () => (reads++, backlog) };
    const waits = Array.from({ length: 50 }, () => pacer.pace(source));
    expect(reads).toBe(50); // one look each on arrival
    await new Promise((r) => setTimeout(r, 60));
    const looks = reads - 50;
    expect(looks).toBeGreaterThan(0);
    expect(looks).toBeLessThanOrEqual(60 / 5 + 2); // per look, not per waiter
    backlog = 0;
    await Promise.all(waits);
    expect(pacer.pacedRequests).toBe(50);
  });

  test("backlogBytes 0 turns pacing off", () => {
    const pacer = new IntakePacer({ backlogBytes: 0, maxWaitMs: 100, stepMs: 2 }, systemClock);
    expect(pacer.pace(fixed(Number.MAX_SAFE_INTEGER))).toBeUndefined();
    expect(pacer.pacedRequests).toBe(0);
  });
});

/** A store answering `status` after `delayMs`, counting the requests it answered 2xx. */
async function store(status: number, delayMs: number): Promise<Receiver> {
  const rx = await startReceiver({ status: () => status, delayMs });
  cleanups.push(() => rx.close());
  return rx;
}

async function hubFor(url: string): Promise<TestHub> {
  const hub = await openTestHub(join(root, `hub${dirs++}`), {
    upstreamUrl: url,
    clock: systemClock,
    forward: true,
    // Any record waiting beyond the one being sent is "far behind" here.
    pace: { backlogBytes: 1, maxWaitMs: 2000, stepMs: 2 },
  });
  cleanups.push(() => hub.close());
  return hub;
}

function ctx(hub: TestHub, host: string, batchId: string): WriteContext {
  const t = hub.config.tenants[0];
  return { tenant: t, senderKey: `${t.id}|${host}`, batchId };
}

function body(i: number): Uint8Array {
  return snappyCompress(encodeWriteRequest({ timeseries: [floatSeries("game_players", { region: "eu-west-1", shard_id: String(i) }, [[i, 1_764_000_000_000 + i]])] }));
}

/** The handler's order: pace, then write. */
async function write(hub: TestHub, c: WriteContext, payload: Uint8Array): Promise<number> {
  const pacing = hub.ingest.paceFor(c);
  if (pacing) await pacing;
  return (await hub.ingest.writeCompressed(c, payload)).status;
}

describe("intake pacing on the hub's write path", () => {
  test("a slow upstream that answers: each write waits until the forwarder has delivered the last, and all arrive", async () => {
    const upstream = await store(204, 40);
    const hub = await hubFor(upstream.url);
    for (let i = 0; i < 6; i++) {
      expect(await write(hub, ctx(hub, `host-${i}`, `host-${i}:1`), body(i))).toBe(204);
      // The record just written is pending: the next write is held until the store answered it.
      if (i < 5) expect(hub.forwarder.stats().recordsPending).toBe(1);
    }
    expect(hub.ingest.pacer.pacedRequests).toBe(5);
    // Each of the 5 waited for a 40 ms answer.
    expect(hub.ingest.pacer.pacedSeconds).toBeGreaterThan(5 * 0.03);
    await until(() => hub.forwarder.stats().recordsPending === 0, 10_000);
    expect(hub.forwarder.stats().delivered).toBe(6);
    expect(upstream.accepted()).toBe(6);
  });

  test("an upstream that fails: no pacing, the queue holds the writes", async () => {
    const upstream = await store(503, 0);
    const hub = await hubFor(upstream.url);
    expect(await write(hub, ctx(hub, "host-a", "host-a:1"), body(1))).toBe(204);
    await until(() => hub.forwarder.stats().retries > 0, 10_000);
    // Far over the limit, yet not paced: the backlog of a failing upstream reads 0.
    expect(hub.forwarder.stats().bytesPending).toBeGreaterThan(1);
    expect(hub.ingest.paceFor(ctx(hub, "host-a", "host-a:2"))).toBeUndefined();
    const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => write(hub, ctx(hub, `host-${i}`, `host-${i}:1`), body(i))));
    expect(statuses).toEqual(Array(8).fill(204));
    expect(hub.ingest.pacer.pacedRequests).toBe(0);
    expect(hub.forwarder.stats().recordsPending).toBe(9);
    expect(upstream.accepted()).toBe(0);
  });
});
