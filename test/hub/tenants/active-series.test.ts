import { describe, expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { createActiveSeriesTracker, parseActiveSeriesConfig, type ActiveSeriesConfig } from "../../../hub/tenants/active-series";

function tracker(config: ActiveSeriesConfig = {}) {
  const clock = fakeClock();
  const parsed = parseActiveSeriesConfig(config);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return { clock, series: createActiveSeriesTracker(parsed.value, clock) };
}

const key = (i: number) => `game_players_online{map="m${i % 13}",region="eu",shard="${i}"}`;

describe("active series", () => {
  test("a key is new once, then known", () => {
    const { series } = tracker();
    expect(series.admit(key(1))).toBe("new");
    expect(series.admit(key(1))).toBe("known");
    expect(series.admit(key(2))).toBe("new");
    expect(series.stats()).toMatchObject({ active: 2, newSeriesTotal: 2, overLimitTotal: 0 });
  });

  test("refuses new series past the limit but keeps admitting known ones", () => {
    const { series } = tracker({ maxSeries: 100 });
    for (let i = 0; i < 100; i++) expect(series.admit(key(i))).toBe("new");
    expect(series.admit(key(100))).toBe("over_limit");
    expect(series.admit(key(101))).toBe("over_limit");
    expect(series.admit(key(5))).toBe("known");
    expect(series.stats()).toMatchObject({ active: 100, overLimitTotal: 2 });
  });

  test("series idle longer than the window (default 20 min) expire and free their place", () => {
    const { series, clock } = tracker({ maxSeries: 10 });
    for (let i = 0; i < 10; i++) series.admit(key(i));
    clock.advance(10 * 60_000);
    series.admit(key(0)); // stays active
    clock.advance(10 * 60_000 + 1000); // the others are now idle for 20 min + 1 s
    expect(series.admit(key(50))).toBe("new"); // the limit sweep made room
    expect(series.stats()).toMatchObject({ active: 2, expiredTotal: 9 });
    expect(series.admit(key(0))).toBe("known");
    expect(series.admit(key(3))).toBe("new"); // expired: starts again
  });

  test("a series seen exactly at the window edge is still active", () => {
    const { series, clock } = tracker();
    series.admit(key(1));
    clock.advance(1200_000);
    expect(series.admit(key(1))).toBe("known");
  });

  test("the periodic sweep removes expired series without waiting for the limit", () => {
    const { series, clock } = tracker({ idleWindowSec: 60, sweepEverySec: 30 });
    for (let i = 0; i < 1000; i++) series.admit(key(i));
    clock.advance(61_000);
    series.admit(key(5000));
    expect(series.stats().active).toBe(1);
    expect(series.stats().expiredTotal).toBe(1000);
  });

  test("memory is bounded by the limit, whatever the churn", () => {
    const { series, clock } = tracker({ maxSeries: 10_000, idleWindowSec: 60 });
    let maxBytes = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 15_000; i++) series.admit(key(round * 15_000 + i));
      maxBytes = Math.max(maxBytes, series.stats().memoryBytes);
      clock.advance(120_000);
    }
    // 10,000 series at ≤ 3/4 load: 16,384 slots × 12 bytes.
    expect(maxBytes).toBe(16_384 * 12);
    expect(series.stats().active).toBeLessThanOrEqual(10_000);
  });
});
