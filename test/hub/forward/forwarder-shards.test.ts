/**
 * Lowering an upstream's shard count (by config, or because the default follows the CPU count)
 * must not strand what the old shards had accepted: their directories are drained too, and
 * only the configured shards take new appends.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import snappy from "snappyjs";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock, type Logger } from "../../../agent/core/deps";
import { snappyCompress } from "../../../agent/codec/snappy-compress";
import { Forwarder, shardOf } from "../../../hub/forward/forwarder";
import type { UpstreamConfig } from "../../../hub/config/hub-config";
import { createFaultFs } from "../../agent/queue/fault-fs";
import { startReceiver } from "../../support/receiver";
import { until } from "../../support/until";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store that answers 204; received(): the decompressed bodies, joined. */
async function store(): Promise<{ url: string; received: () => string }> {
  const rx = await startReceiver();
  cleanups.push(() => rx.close());
  return { url: rx.url, received: () => rx.requests.map((r) => Buffer.from(snappy.uncompress(r.body)).toString("latin1")).join("") };
}

function upstream(url: string, shards: number, fsync: UpstreamConfig["fsync"] = "batch", fsyncIntervalMs = 0): UpstreamConfig {
  return { name: "store", url, shards, maxRequestsPerSec: 1000, queueMaxBytes: 256 * 1024 * 1024, fsync, fsyncIntervalMs };
}

function capturingLog(): Logger & { warnings: { msg: string; fields?: Record<string, unknown> }[] } {
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { debug() {}, info() {}, error() {}, warn: (msg, fields) => void warnings.push({ msg, fields }), warnings };
}

describe("forwarder durability (upstreams[].fsync)", () => {
  for (const [fsync, expectSyncs] of [["batch", true], ["never", false]] as const) {
    it(`fsync: ${fsync} ${expectSyncs ? "acknowledges an append after an fdatasync" : "acknowledges after write(2), with no fdatasync"}, and delivers it`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "forwarder-fsync-"));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const { url, received } = await store();
      const fs = createFaultFs(); // counts every fdatasync of a segment or checkpoint
      const log = capturingLog();
      const f = await Forwarder.open(upstream(url, 1, fsync), dataDir, { clock: systemClock, log, userAgent: "test", queueFs: fs });
      if (!f.ok) throw new Error(f.error);
      cleanups.push(() => f.value.stop());
      const opened = fs.calls.sync;
      for (let i = 0; i < 3; i++) {
        const before = fs.calls.sync;
        expect((await f.value.append("host-1", snappyCompress(Buffer.from(`r-${i};`)), "t", `host-1:${i}`, 1)).ok).toBe(true);
        // batch: the append resolved only after its own fdatasync; never: none ran for it.
        expect(fs.calls.sync - before).toBe(expectSyncs ? 1 : 0);
      }
      f.value.start();
      await until(() => f.value.stats().recordsPending === 0, 10_000);
      expect(received()).toBe("r-0;r-1;r-2;");
      if (!expectSyncs) expect(fs.calls.sync).toBe(opened);
      // An SRE reading the log learns that this upstream's acknowledgements skip fdatasync.
      expect(log.warnings.map((w) => w.msg.includes("fsync: never"))).toEqual(expectSyncs ? [] : [true]);
    });
  }
});

describe("forwarder fsync interval (upstreams[].fsyncIntervalMs)", () => {
  it("lets the appends that arrive within the interval share one fdatasync, and still delivers them in order", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "forwarder-interval-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const { url, received } = await store();
    const fs = createFaultFs();
    const f = await Forwarder.open(upstream(url, 1, "batch", 150), dataDir, { clock: systemClock, log: capturingLog(), userAgent: "test", queueFs: fs });
    if (!f.ok) throw new Error(f.error);
    cleanups.push(() => f.value.stop());
    const body = (i: number) => snappyCompress(Buffer.from(`r-${i};`));
    const before = fs.calls.sync;
    const started = performance.now();
    expect((await f.value.append("host-1", body(0), "t", "host-1:0", 1)).ok).toBe(true); // after a quiet spell: at once
    expect(performance.now() - started).toBeLessThan(140);
    expect(fs.calls.sync - before).toBe(1);
    // Within the interval: the next three wait for it to pass and share one fdatasync.
    const rest = [1, 2, 3].map((i) => f.value.append("host-1", body(i), "t", `host-1:${i}`, 1));
    expect((await Promise.all(rest)).every((r) => r.ok)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(fs.calls.sync - before).toBe(2);
    f.value.start();
    await until(() => f.value.stats().recordsPending === 0, 10_000);
    expect(received()).toBe("r-0;r-1;r-2;r-3;");
  });
});

describe("forwarder shards", () => {
  it("drains records left in shards beyond a lowered shard count, and appends only to the configured shards", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "forwarder-shards-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const { url, received } = await store();
    // Senders that land in shard 3 of 4 and in shard 0 of 4: written, never sent (not started).
    const senders = Array.from({ length: 64 }, (_, i) => `host-${i}`);
    const inShard3 = senders.filter((s) => shardOf(s, 4) === 3).slice(0, 3);
    expect(inShard3.length).toBe(3);
    const before = await Forwarder.open(upstream(url, 4), dataDir, { clock: systemClock, log: capturingLog(), userAgent: "test" });
    if (!before.ok) throw new Error(before.error);
    for (const [i, s] of inShard3.entries()) expect((await before.value.append(s, snappyCompress(Buffer.from(`old-${i};`)), "t", `${s}:1`, 1)).ok).toBe(true);
    await before.value.stop();

    const log = capturingLog();
    const after = await Forwarder.open(upstream(url, 2), dataDir, { clock: systemClock, log, userAgent: "test" });
    if (!after.ok) throw new Error(after.error);
    cleanups.push(() => after.value.stop());
    expect(log.warnings.map((w) => w.fields?.shard)).toEqual([3]);
    expect(log.warnings[0].fields?.records).toBe(3);
    after.value.start();
    for (const [i, s] of senders.slice(0, 8).entries()) expect((await after.value.append(s, snappyCompress(Buffer.from(`new-${i};`)), "t", `${s}:2`, 1)).ok).toBe(true);
    await until(() => after.value.stats().recordsPending === 0, 10_000);
    expect(after.value.stats().delivered).toBe(11); // queue records, also when joined into one request
    const got = received();
    for (let i = 0; i < 3; i++) expect(got).toContain(`old-${i};`);
    for (let i = 0; i < 8; i++) expect(got).toContain(`new-${i};`);
    // New appends went only to shards 0 and 1: nothing new was written under 2 or 3.
    expect(readdirSync(join(dataDir, "upstreams", "store")).sort()).toEqual(["0", "1", "2", "3"]);
    expect(after.value.writable()).toBe(true);
  });

  it("an empty leftover shard is left closed and not mentioned", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "forwarder-shards-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const { url } = await store();
    const first = await Forwarder.open(upstream(url, 3), dataDir, { clock: systemClock, log: capturingLog(), userAgent: "test" });
    if (!first.ok) throw new Error(first.error);
    await first.value.stop();
    const log = capturingLog();
    const again = await Forwarder.open(upstream(url, 2), dataDir, { clock: systemClock, log, userAgent: "test" });
    if (!again.ok) throw new Error(again.error);
    cleanups.push(() => again.value.stop());
    expect(log.warnings).toEqual([]);
  });
});
