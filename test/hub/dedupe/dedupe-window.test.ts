import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { parseDedupeConfig, type DedupeWindowConfig } from "../../../hub/dedupe/dedupe-config";
import { openDedupeWindow } from "../../../hub/dedupe/dedupe-window";

const root = mkdtempSync(join(tmpdir(), "dedupe-window-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `w${dirs++}`);

async function open(config: DedupeWindowConfig, clock = fakeClock(Date.parse("2026-11-22T10:00:00Z"))) {
  const opened = await openDedupeWindow(config, { clock, log: silentLogger });
  if (!opened.ok) throw new Error(JSON.stringify(opened.error));
  return { window: opened.value, clock };
}

describe("dedupe window", () => {
  test("an id is seen after remember, per tenant, and hits are counted", async () => {
    const { window } = await open({ dir: freshDir() });
    expect(window.seen("acme", "host-1/41")).toBe(false);
    expect((await window.remember("acme", "host-1/41")).ok).toBe(true);
    expect(window.seen("acme", "host-1/41")).toBe(true);
    expect(window.seen("other", "host-1/41")).toBe(false);
    expect(window.stats()).toMatchObject({ ids: 1, hitsTotal: 1, checksTotal: 3, rememberedTotal: 1 });
    await window.close();
  });

  test("an id is visible as soon as remember() is called, before its write resolves", async () => {
    const { window } = await open({ dir: freshDir() });
    const pending = window.remember("acme", "racing");
    expect(window.seen("acme", "racing")).toBe(true);
    await pending;
    await window.close();
  });

  test("ids survive close and reopen", async () => {
    const dir = freshDir();
    const { window, clock } = await open({ dir });
    await Promise.all(Array.from({ length: 500 }, (_, i) => window.remember("acme", `b${i}`)));
    await window.close();
    const { window: reopened } = await open({ dir }, clock);
    for (let i = 0; i < 500; i++) expect(reopened.seen("acme", `b${i}`)).toBe(true);
    expect(reopened.seen("acme", "b500")).toBe(false);
    await reopened.close();
  });

  test("an id is remembered for at least windowSec and forgotten by 1.5 × windowSec; old files are deleted", async () => {
    const dir = freshDir();
    const { window, clock } = await open({ dir, windowSec: 600 });
    await window.remember("acme", "early"); // at the start of a generation: the longest-lived case
    clock.advance(299_000);
    await window.remember("acme", "late"); // at the end of the first generation: the shortest-lived case
    clock.advance(1000);
    await window.remember("acme", "second-generation");
    clock.advance(599_000); // "late" is 600 s old
    expect(window.seen("acme", "late")).toBe(true);
    expect(window.seen("acme", "early")).toBe(true);
    clock.advance(1000); // the first generation ended 600 s ago: both go
    expect(window.seen("acme", "late")).toBe(false);
    expect(window.seen("acme", "early")).toBe(false);
    expect(window.seen("acme", "second-generation")).toBe(true);
    await window.close();
    // Only the second generation's file: the third (started at 899 s) had nothing to write.
    expect(readdirSync(dir)).toHaveLength(1);
  });

  test("reopening deletes generations that left the window while the hub was down", async () => {
    const dir = freshDir();
    const { window, clock } = await open({ dir, windowSec: 600 });
    await window.remember("acme", "old");
    await window.close();
    // The file's end is its mtime (real time); put the fake clock past it plus the window.
    const mtimeMs = statSync(join(dir, readdirSync(dir)[0])).mtimeMs;
    clock.advance(Math.max(0, mtimeMs - clock.nowMs()) + 600_001);
    const { window: reopened } = await open({ dir, windowSec: 600 }, clock);
    expect(reopened.seen("acme", "old")).toBe(false);
    expect(readdirSync(dir)).toHaveLength(0);
    await reopened.close();
  });

  test("memory is bounded by maxIds: the oldest generation goes early and is counted", async () => {
    const { window } = await open({ dir: freshDir(), maxIds: 3000 });
    for (let i = 0; i < 10_000; i++) await window.remember("acme", `id-${i}`);
    const s = window.stats();
    expect(s.ids).toBeLessThanOrEqual(3000);
    expect(s.ids).toBeGreaterThanOrEqual(2000);
    expect(s.evictedEarlyTotal).toBe(10_000 - s.ids);
    expect(window.seen("acme", "id-9999")).toBe(true);
    expect(window.seen("acme", "id-0")).toBe(false);
    // 1000 ids per generation: 2048-slot tables of 8 bytes, at most three.
    expect(s.memoryBytes).toBeLessThanOrEqual(3 * 2048 * 8);
    await window.close();
  });

  test("a torn last line is ignored and counted; every complete record still counts", async () => {
    const dir = freshDir();
    const { window, clock } = await open({ dir });
    for (let i = 0; i < 20; i++) await window.remember("acme", `b${i}`);
    await window.close();
    const file = join(dir, readdirSync(dir)[0]);
    expect(readFileSync(file).length).toBe(20 * 17);
    appendFileSync(file, "0123abcd45"); // a record cut by the crash
    const { window: reopened } = await open({ dir }, clock);
    for (let i = 0; i < 20; i++) expect(reopened.seen("acme", `b${i}`)).toBe(true);
    expect(reopened.stats().corruptRecordsTotal).toBe(1);
    await reopened.remember("acme", "after");
    await reopened.close();
    // The torn file is left as it was: the new process wrote to a new generation file.
    expect(readdirSync(dir)).toHaveLength(2);
    const { window: third } = await open({ dir }, clock);
    expect(third.seen("acme", "after")).toBe(true);
    expect(third.seen("acme", "b19")).toBe(true);
    await third.close();
  });

  test("zeros after a power loss and garbage lines are skipped, not fatal", async () => {
    const dir = freshDir();
    const { window, clock } = await open({ dir });
    await window.remember("acme", "kept");
    await window.close();
    const file = join(dir, readdirSync(dir)[0]);
    appendFileSync(file, "not a record at all\n");
    appendFileSync(file, Buffer.alloc(40));
    const { window: reopened } = await open({ dir }, clock);
    expect(reopened.seen("acme", "kept")).toBe(true);
    expect(reopened.stats().corruptRecordsTotal).toBe(2);
    await reopened.close();
  });

  test("exports the checks and the window size (hits are the hub's, per tenant), and counts hits in stats", async () => {
    const { window } = await open({ dir: freshDir() });
    await window.remember("acme", "x");
    window.seen("acme", "x");
    const byName = Object.fromEntries(window.families().map((f) => [f.name, f.samples[0].value]));
    expect(window.stats().hitsTotal).toBe(1);
    expect(byName.ingest_dedupe_hits_total).toBeUndefined();
    expect(byName).toMatchObject({
      ingest_dedupe_checks_total: 1,
      ingest_dedupe_window_ids: 1,
      ingest_dedupe_evicted_early_total: 0,
    });
    expect(byName.ingest_dedupe_window_bytes).toBeGreaterThan(0);
    await window.close();
  });

  test.each([
    [{ dir: "" }, 'dedupe.dir must be a non-empty path (got "")'],
    [{ dir: "d", windowSec: 1 }, "dedupe.windowSec must be an integer ≥ 2 (got 1)"],
    [{ dir: "d", maxIds: 0 }, "dedupe.maxIds must be an integer from 3 to 1073741824 (got 0)"],
    [{ dir: "d", syncEveryMs: -5 }, "dedupe.syncEveryMs must be an integer ≥ 0 (got -5)"],
  ])("config %j is refused: %s", (config, message) => {
    expect(parseDedupeConfig(config as DedupeWindowConfig)).toEqual({ ok: false, error: { code: "DEDUPE_CONFIG", message } });
  });

  test("defaults: 15 minutes, 2 M ids, fdatasync within 1 s", () => {
    expect(parseDedupeConfig({ dir: "d" })).toEqual({ ok: true, value: { dir: "d", windowSec: 900, maxIds: 2_000_000, syncEveryMs: 1000 } });
  });
});
