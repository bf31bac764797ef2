/**
 * hub-ingest: requests with the same batch id (X-Edge-Agent-Batch-Id) arriving while the first
 * attempt is still being queued (fsync) must not write the batch twice. Built from the real
 * pieces (hub-ingest-fixture.ts); the forwarder is never started, so records stay in its queue
 * and are counted there.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test, vi } from "vitest";
import { err } from "../../../agent/core/result";
import type { WriteContext } from "../../../hub/pipeline/hub-ingest";
import { openTestHub, type TestHub } from "./hub-ingest-fixture";
import { encodeWriteRequest, floatSeries, snappyCompress, snappyUncompress } from "../ingest/ingest-test-helpers";

const root = mkdtempSync(join(tmpdir(), "hub-ingest-inflight-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

type Hub = TestHub;

const open: Hub[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (open.length > 0) await open.pop()!.close();
});

async function newHub(): Promise<Hub> {
  const hub = await openTestHub(join(root, `hub${dirs++}`));
  open.push(hub);
  return hub;
}

function ctx(hub: Hub, batchId?: string, tenant = 0): WriteContext {
  const t = hub.config.tenants[tenant];
  return { tenant: t, senderKey: `${t.id}|host-1`, batchId };
}

/** A snappy WriteRequest with `n` clean series (and one PII-valued series when `withPii`). */
function body(n = 3, withPii = false): Uint8Array {
  const timeseries = Array.from({ length: n }, (_, i) => floatSeries("game_players", { region: "eu-west-1", shard_id: String(i) }));
  if (withPii) timeseries.push(floatSeries("game_players", { owner: "ana@example.com" }));
  return snappyCompress(encodeWriteRequest({ timeseries }));
}

const records = (hub: Hub) => hub.forwarder.stats().recordsPending;
const dedupeHits = (hub: Hub) => hub.counters.dedupeHits.get("acme") ?? 0;
const samplesWritten = (hub: Hub) => hub.counters.samplesWritten.get("acme") ?? 0;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Holds the forwarder's next append until `release` is resolved, then lets it through. */
function holdNextAppend(hub: Hub): { started: Promise<void>; release: () => void } {
  const started = deferred();
  const gate = deferred();
  const real = hub.forwarder.append.bind(hub.forwarder);
  vi.spyOn(hub.forwarder, "append").mockImplementationOnce(async (...args) => {
    started.resolve();
    await gate.promise;
    return real(...args);
  });
  return { started: started.promise, release: gate.resolve };
}

/** Whether `p` has settled after the pending microtasks and one macrotask ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, 20));
  return done;
}

describe("hub ingest: concurrent requests with one batch id", () => {
  test("two concurrent writes of one batch id: one queue record, both 204, one dedupe hit", async () => {
    const hub = await newHub();
    const payload = body();
    const [a, b] = await Promise.all([hub.ingest.writeCompressed(ctx(hub, "host-1/41"), payload), hub.ingest.writeCompressed(ctx(hub, "host-1/41"), payload)]);
    expect(a.status).toBe(204);
    expect(b.status).toBe(204);
    expect(records(hub)).toBe(1);
    expect(samplesWritten(hub)).toBe(3);
    expect(dedupeHits(hub)).toBe(1);
    expect(hub.dedupe.seen("acme", "host-1/41")).toBe(true);
  });

  test("the second request waits for the first attempt and answers only after it", async () => {
    const hub = await newHub();
    const held = holdNextAppend(hub);
    const first = hub.ingest.writeCompressed(ctx(hub, "host-1/42"), body());
    await held.started;
    const second = hub.ingest.writeCompressed(ctx(hub, "host-1/42"), body());
    expect(await settled(second)).toBe(false);
    held.release();
    expect((await first).status).toBe(204);
    const answer = await second;
    expect(answer).toMatchObject({ status: 204, samplesWritten: 0, seriesWritten: 0 });
    expect(records(hub)).toBe(1);
    expect(dedupeHits(hub)).toBe(1);
  });

  test("many concurrent retries of one batch id: still one record", async () => {
    const hub = await newHub();
    const payload = body();
    const answers = await Promise.all(Array.from({ length: 8 }, () => hub.ingest.writeCompressed(ctx(hub, "host-1/43"), payload)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(204));
    expect(records(hub)).toBe(1);
    expect(dedupeHits(hub)).toBe(7);
  });

  test("the first attempt fails transiently (queue error, 503): the waiting second is processed and stored", async () => {
    const hub = await newHub();
    const gate = deferred();
    const started = deferred();
    vi.spyOn(hub.forwarder, "append").mockImplementationOnce(async () => {
      started.resolve();
      await gate.promise;
      return err({ code: "QUEUE_IO" as const, op: "write", path: "/x", errno: "EIO", message: "EIO" });
    });
    const first = hub.ingest.writeCompressed(ctx(hub, "host-1/44"), body());
    await started.promise;
    const second = hub.ingest.writeCompressed(ctx(hub, "host-1/44"), body());
    const third = hub.ingest.writeCompressed(ctx(hub, "host-1/44"), body());
    expect(await settled(second)).toBe(false);
    gate.resolve();
    expect((await first).status).toBe(503);
    const [b, c] = await Promise.all([second, third]);
    // The second is processed as if it arrived after the failure; the third then finds it stored.
    expect(b).toMatchObject({ status: 204, samplesWritten: 3 });
    expect(c).toMatchObject({ status: 204, samplesWritten: 0 });
    expect(records(hub)).toBe(1);
    expect(dedupeHits(hub)).toBe(1);
    expect(hub.dedupe.seen("acme", "host-1/44")).toBe(true);
  });

  test("the first attempt is refused before queueing (forwarder not writable, 503): the second is processed", async () => {
    const hub = await newHub();
    vi.spyOn(hub.forwarder, "writable").mockReturnValueOnce(false);
    const [a, b] = await Promise.all([hub.ingest.writeCompressed(ctx(hub, "host-1/45"), body()), hub.ingest.writeCompressed(ctx(hub, "host-1/45"), body())]);
    expect(a.status).toBe(503);
    expect(b).toMatchObject({ status: 204, samplesWritten: 3 });
    expect(records(hub)).toBe(1);
    expect(dedupeHits(hub)).toBe(0);
  });

  test("a partial first attempt (400: some series stored, id remembered): the second gets 204, as it would just after", async () => {
    const hub = await newHub();
    const payload = body(3, true);
    const [a, b] = await Promise.all([hub.ingest.writeCompressed(ctx(hub, "host-1/46"), payload), hub.ingest.writeCompressed(ctx(hub, "host-1/46"), payload)]);
    expect(a).toMatchObject({ status: 400, samplesWritten: 3 });
    expect(b).toMatchObject({ status: 204, samplesWritten: 0 });
    expect(records(hub)).toBe(1);
    expect(dedupeHits(hub)).toBe(1);
    // Exactly what a request arriving after the first finished gets.
    const later = await hub.ingest.writeCompressed(ctx(hub, "host-1/46"), payload);
    expect(later.status).toBe(204);
    expect(records(hub)).toBe(1);
  });

  test("the same batch id of another tenant is neither held back nor deduplicated", async () => {
    const hub = await newHub();
    const held = holdNextAppend(hub);
    const first = hub.ingest.writeCompressed(ctx(hub, "host-1/47"), body());
    await held.started;
    const other = await hub.ingest.writeCompressed(ctx(hub, "host-1/47", 1), body());
    expect(other).toMatchObject({ status: 204, samplesWritten: 3 });
    expect(await settled(first)).toBe(false);
    held.release();
    expect((await first).status).toBe(204);
    expect(records(hub)).toBe(2);
    expect(dedupeHits(hub)).toBe(0);
  });
});

describe("hub ingest: what the in-flight check leaves alone", () => {
  test("different batch ids proceed concurrently, not one after the other", async () => {
    const hub = await newHub();
    const held = holdNextAppend(hub);
    const first = hub.ingest.writeCompressed(ctx(hub, "host-1/50"), body());
    await held.started;
    const second = hub.ingest.writeCompressed(ctx(hub, "host-1/51"), body());
    // The second finishes while the first is still held in its append.
    expect((await second).status).toBe(204);
    expect(await settled(first)).toBe(false);
    held.release();
    expect((await first).status).toBe(204);
    expect(records(hub)).toBe(2);
    expect(dedupeHits(hub)).toBe(0);
  });

  test("requests without a batch id are never deduplicated nor held", async () => {
    const hub = await newHub();
    const held = holdNextAppend(hub);
    const payload = body();
    const first = hub.ingest.writeCompressed(ctx(hub), payload);
    await held.started;
    const second = hub.ingest.writeCompressed(ctx(hub), payload);
    expect((await second).status).toBe(204);
    held.release();
    expect((await first).status).toBe(204);
    const [c, d] = await Promise.all([hub.ingest.writeCompressed(ctx(hub), payload), hub.ingest.writeCompressed(ctx(hub), payload)]);
    expect([c.status, d.status]).toEqual([204, 204]);
    expect(records(hub)).toBe(4);
    expect(dedupeHits(hub)).toBe(0);
  });

  test("a batch id stored earlier is still answered 204 at once (sequential dedupe unchanged)", async () => {
    const hub = await newHub();
    expect((await hub.ingest.writeCompressed(ctx(hub, "host-1/52"), body())).status).toBe(204);
    expect((await hub.ingest.writeCompressed(ctx(hub, "host-1/52"), body())).status).toBe(204);
    expect(records(hub)).toBe(1);
    expect(dedupeHits(hub)).toBe(1);
  });

  test("OTLP-converted bodies with a batch id are deduplicated too, sequential and concurrent", async () => {
    const hub = await newHub();
    const raw = encodeWriteRequest({ timeseries: [floatSeries("game_players", { region: "eu-west-1" })] });
    expect((await hub.ingest.writeConverted(ctx(hub, "host-1/60"), raw)).status).toBe(204);
    expect((await hub.ingest.writeConverted(ctx(hub, "host-1/60"), raw)).status).toBe(204);
    const [a, b] = await Promise.all([hub.ingest.writeConverted(ctx(hub, "host-1/61"), raw), hub.ingest.writeConverted(ctx(hub, "host-1/61"), raw)]);
    expect([a.status, b.status]).toEqual([204, 204]);
    expect(records(hub)).toBe(2);
    expect(dedupeHits(hub)).toBe(2);
    // Without a batch id (an OpenTelemetry SDK or collector): every body is written.
    await hub.ingest.writeConverted(ctx(hub), raw);
    await hub.ingest.writeConverted(ctx(hub), raw);
    expect(records(hub)).toBe(4);
  });

  test("requests decompressed into the shared buffer one after another keep their own bytes", async () => {
    const hub = await newHub();
    const payloads: Uint8Array[] = [];
    const real = hub.forwarder.append.bind(hub.forwarder);
    const gate = deferred();
    vi.spyOn(hub.forwarder, "append").mockImplementation(async (...args) => {
      payloads.push(args[1]);
      await gate.promise;
      return real(...args);
    });
    // The first is rebuilt (its PII series dropped) from the shared buffer, then waits in its
    // append while the second, a different body, is decompressed into the same buffer.
    const first = hub.ingest.writeCompressed(ctx(hub, "host-1/70"), body(3, true));
    const secondSeries = Array.from({ length: 40 }, (_, i) => floatSeries("other_metric_with_a_longer_name", { zone: `z${i}`, build_id: "b".repeat(50) }));
    const second = hub.ingest.writeCompressed(ctx(hub, "host-2/71"), snappyCompress(encodeWriteRequest({ timeseries: secondSeries })));
    await new Promise((r) => setTimeout(r, 20));
    gate.resolve();
    expect((await first).status).toBe(400); // the PII series refused, the 3 others stored
    expect((await second).status).toBe(204);
    expect(payloads).toHaveLength(2);
    expect(Buffer.from(snappyUncompress(payloads[0])).equals(Buffer.from(encodeWriteRequest({ timeseries: body3Series() })))).toBe(true);
  });
});

function body3Series() {
  return Array.from({ length: 3 }, (_, i) => floatSeries("game_players", { region: "eu-west-1", shard_id: String(i) }));
}
