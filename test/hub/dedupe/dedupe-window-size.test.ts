/**
 * The dedupe window at its default bound (2 M ids): memory, disk and the time to rebuild it at
 * start; prints the figures quoted in hub/dedupe/README.md.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { openDedupeWindow } from "../../../hub/dedupe/dedupe-window";

const dir = mkdtempSync(join(tmpdir(), "dedupe-size-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const IDS = 2_000_000;
const MIB = 1024 * 1024;

test("2 M ids: memory, disk and rebuild time", async () => {
  const clock = fakeClock(Date.parse("2026-11-22T10:00:00Z"));
  const opened = await openDedupeWindow({ dir }, { clock, log: silentLogger });
  if (!opened.ok) throw new Error(JSON.stringify(opened.error));
  const window = opened.value;
  const started = performance.now();
  for (let i = 0; i < IDS; i += 10_000) {
    const batch = [];
    for (let k = i; k < i + 10_000; k++) batch.push(window.remember(`tenant-${k % 50}`, `host-${k % 1000}/${k}`));
    await Promise.all(batch);
    clock.advance(4); // 2 M ids in 0.8 s of fake time: all inside one window
  }
  const rememberUs = ((performance.now() - started) * 1000) / IDS;
  const s = window.stats();
  await window.close();
  expect(s.ids).toBe(IDS);
  expect(s.evictedEarlyTotal).toBe(0);
  const diskBytes = readdirSync(dir).reduce((total, f) => total + statSync(join(dir, f)).size, 0);
  expect(diskBytes).toBe(IDS * 17);

  const reopenStart = performance.now();
  const reopened = await openDedupeWindow({ dir }, { clock, log: silentLogger });
  const reopenMs = performance.now() - reopenStart;
  if (!reopened.ok) throw new Error(JSON.stringify(reopened.error));
  expect(reopened.value.stats().ids).toBe(IDS);
  expect(reopened.value.seen("tenant-7", "host-957/1999957")).toBe(true);
  await reopened.value.close();

  console.log(
    `dedupe window, ${IDS} ids: memory ${(s.memoryBytes / MIB).toFixed(1)} MiB (${(s.memoryBytes / IDS).toFixed(1)} B/id, ` +
      `${Math.round(IDS / (s.memoryBytes / MIB))} ids/MiB), disk ${(diskBytes / MIB).toFixed(1)} MiB (17 B/id), ` +
      `remember ${rememberUs.toFixed(2)} µs/id, rebuild at open ${reopenMs.toFixed(0)} ms`,
  );
  expect(s.memoryBytes).toBeLessThanOrEqual(3 * (1 << 20) * 8); // three 2^20-slot tables
}, 120_000);
