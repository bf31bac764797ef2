/**
 * Measures what the tracker costs per series and per admit, next to the obvious alternative
 * (a Map of key string → last-seen ms), and prints the figures quoted in hub/tenants/README.md.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { createActiveSeriesTracker } from "../../../hub/tenants/active-series";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const N = 1_000_000;
/** A realistic series key: ~110 characters, built fresh each time like a decoded request's. */
const key = (i: number) => `game_server_tick_duration_seconds{az="eu-west-1${"abc"[i % 3]}",build_id="b${i % 97}",cluster="c${i % 11}",shard_id="${i}"}`;

function heapAndBuffers(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test("bytes per tracked series: hashed table vs Map<string, number>", () => {
  const before = heapAndBuffers();
  const tracker = createActiveSeriesTracker({ maxSeries: N, idleWindowSec: 1200, sweepEverySec: 60 }, fakeClock());
  for (let i = 0; i < N; i++) tracker.admit(key(i));
  const trackerBytes = heapAndBuffers() - before;
  const { memoryBytes, active } = tracker.stats();
  expect(active).toBe(N);

  const beforeMap = heapAndBuffers();
  const map = new Map<string, number>();
  for (let i = 0; i < N; i++) map.set(key(i), 1_700_000_000_000 + i);
  const mapBytes = heapAndBuffers() - beforeMap;
  expect(map.size).toBe(N);

  console.log(
    `active series, ${N} series: table ${(memoryBytes / N).toFixed(1)} B/series (measured heap+buffers ${(trackerBytes / N).toFixed(1)}), ` +
      `Map<string, number> ${(mapBytes / N).toFixed(1)} B/series`,
  );
  expect(memoryBytes / N).toBeLessThan(32);
  expect(trackerBytes).toBeLessThan(mapBytes / 3);
});

test("admit cost on the hot path (300-series requests)", () => {
  const tracker = createActiveSeriesTracker({ maxSeries: N, idleWindowSec: 1200, sweepEverySec: 60 }, fakeClock());
  const keys = Array.from({ length: 300_000 }, (_, i) => key(i));
  for (const k of keys) tracker.admit(k); // all new
  const start = performance.now();
  let rounds = 0;
  for (; rounds < 5; rounds++) for (const k of keys) tracker.admit(k); // all known
  const nsPerAdmit = ((performance.now() - start) * 1e6) / (rounds * keys.length);
  console.log(`active series admit (known, ~110-char key): ${nsPerAdmit.toFixed(0)} ns; 1000 req/s × 300 series = ${((nsPerAdmit * 300_000) / 1e7).toFixed(1)} % of a core`);
  expect(nsPerAdmit).toBeLessThan(2000);
});
