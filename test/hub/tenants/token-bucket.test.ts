import { describe, expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { createTokenBucket, retryAfterSeconds } from "../../../hub/tenants/token-bucket";

describe("token bucket", () => {
  test("admits up to the burst at once, then refuses with the time the deficit takes to refill", () => {
    const clock = fakeClock();
    const bucket = createTokenBucket({ ratePerSec: 1000, burst: 2000 }, clock);
    expect(bucket.take(1500)).toEqual({ admitted: true });
    expect(bucket.take(500)).toEqual({ admitted: true });
    // Empty: 300 samples at 1000/s take 300 ms.
    expect(bucket.take(300)).toEqual({ admitted: false, retryAfterMs: 300 });
    clock.advance(299);
    expect(bucket.take(300)).toEqual({ admitted: false, retryAfterMs: 1 });
    clock.advance(1);
    expect(bucket.take(300)).toEqual({ admitted: true });
  });

  test("refills at the rate and never above the burst", () => {
    const clock = fakeClock();
    const bucket = createTokenBucket({ ratePerSec: 100, burst: 50 }, clock);
    bucket.take(50);
    clock.advance(250);
    expect(bucket.available()).toBeCloseTo(25);
    clock.advance(60_000);
    expect(bucket.available()).toBe(50);
  });

  test("holds the long-run rate: 10 s of offers at 3× the rate admit about 10 s worth", () => {
    const clock = fakeClock();
    const bucket = createTokenBucket({ ratePerSec: 1000, burst: 1000 }, clock);
    let admitted = 0;
    for (let ms = 0; ms < 10_000; ms += 10) {
      if (bucket.take(30).admitted) admitted += 30;
      clock.advance(10);
    }
    expect(admitted).toBeGreaterThanOrEqual(10_000);
    expect(admitted).toBeLessThanOrEqual(11_000 + 30); // the rate plus the initial burst
  });

  test("a request larger than the burst goes through when the bucket is full, leaving it in debt", () => {
    const clock = fakeClock();
    const bucket = createTokenBucket({ ratePerSec: 100, burst: 100 }, clock);
    expect(bucket.take(250)).toEqual({ admitted: true });
    expect(bucket.available()).toBe(-150);
    // Until the bucket is full again: 250 tokens at 100/s.
    expect(bucket.take(250)).toEqual({ admitted: false, retryAfterMs: 2500 });
    clock.advance(2500);
    expect(bucket.take(250)).toEqual({ admitted: true });
  });

  test.each([
    [1, 1],
    [999, 1],
    [1000, 1],
    [1001, 2],
    [0, 1],
    [4200, 5],
  ])("Retry-After for %i ms is %i s (rounded up, at least 1)", (ms, seconds) => {
    expect(retryAfterSeconds(ms)).toBe(seconds);
  });
});
