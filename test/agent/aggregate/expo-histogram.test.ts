import { describe, expect, test } from "vitest";
// The reference implementation, pinned in package.json; its internals have no public export.
import { ExponentialHistogramAccumulation } from "@opentelemetry/sdk-metrics/build/src/aggregator/ExponentialHistogram";
import type { ExpoBuckets, ExpoHistogramData } from "../../../agent/core/points";
import {
  ExpoHistogram,
  expoFromJson,
  expoToJson,
  scaleChangeFor,
} from "../../../agent/aggregate/expo-histogram";
import { lowerBoundary, mapToIndex, upperBoundary } from "../../../agent/aggregate/expo-mapping";
import { seededRandom } from "./expo-helpers";

function recorded(values: number[], maxSize = 160, weight = 1): ExpoHistogram {
  const h = new ExpoHistogram({ maxSize });
  for (const v of values) h.record(v, weight);
  return h;
}

function bucketTotal(b: ExpoBuckets): number {
  return b.counts.reduce((a, c) => a + c, 0);
}

function expectCountInvariant(d: ExpoHistogramData): void {
  expect(d.count).toBe(d.zeroCount + bucketTotal(d.positive) + bucketTotal(d.negative));
}

/** Midpoint of bucket `index` at `scale` (OTel JS test helper centerValue). */
function centerValue(scale: number, index: number): number {
  return (lowerBoundary(index, scale) + lowerBoundary(index + 1, scale)) / 2;
}

describe("ExpoHistogram.record (OTel JS ExponentialHistogram.test.ts vectors)", () => {
  test("alternating growth [2, 4, 1] with maxSize 4 ends at scale 0, offset -1", () => {
    const d = recorded([2, 4, 1], 4).toData();
    expect(d.scale).toBe(0);
    expect(d.positive).toEqual({ offset: -1, counts: [1, 1, 1] });
  });

  test("alternating growth [2, 2, 4, 1, 8, 0.5] with maxSize 4 downscales once more to -1", () => {
    const d = recorded([2, 2, 4, 1, 8, 0.5], 4).toData();
    expect(d.scale).toBe(-1);
    expect(d.positive).toEqual({ offset: -1, counts: [2, 3, 1] });
  });

  const permutations = <T>(xs: T[]): T[][] =>
    xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));

  test.each([
    { values: [0.5, 1, 2], offset: -1, counts: [2, 1] },
    { values: [1, 2, 4], offset: -1, counts: [1, 2] },
    { values: [1, 0.5, 0.25], offset: -2, counts: [1, 2] },
  ])("every permutation of $values with maxSize 2 gives scale -1, offset $offset, $counts", ({ values, offset, counts }) => {
    for (const order of permutations(values)) {
      const d = recorded(order, 2).toData();
      expect(d.scale).toBe(-1);
      expect(d.positive).toEqual({ offset, counts });
    }
  });

  test("ascending sequences downscale to exactly the scale that fits", () => {
    for (const maxSize of [3, 4, 6, 9]) {
      for (let offset = -5; offset <= 5; offset++) {
        for (const initScale of [0, 4]) {
          for (let step = maxSize; step < 4 * maxSize; step++) {
            const h = new ExpoHistogram({ maxSize });
            const minValue = centerValue(initScale, offset);
            const maxValue = centerValue(initScale, offset + step);
            let sum = 0;
            for (let i = 0; i < maxSize; i++) {
              const value = centerValue(initScale, offset + i);
              h.record(value);
              sum += value;
            }
            expect(h.scale).toBe(initScale);
            expect(h.toData().positive.offset).toBe(offset);

            h.record(maxValue);
            sum += maxValue;
            const d = h.toData();
            const counts = d.positive.counts;
            expect(counts[0]).not.toBe(0);
            // The last non-empty bucket sits at or above the midpoint: we did not downscale too far.
            expect(counts.length - 1).toBeGreaterThanOrEqual(counts.length / 2);
            expect(bucketTotal(d.positive)).toBe(maxSize + 1);
            expect(d.count).toBe(maxSize + 1);
            expect(d.sum).toBe(sum);
            expect(d.positive.offset).toBe(mapToIndex(minValue, d.scale));
            expect(d.positive.offset + counts.length - 1).toBe(mapToIndex(maxValue, d.scale));
          }
        }
      }
    }
  });

  test.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])("refuses %d without touching any field", (v) => {
    const h = new ExpoHistogram({ maxSize: 2 });
    expect(h.record(v)).toBe(false);
    expect(h.toData()).toEqual({
      scale: 20,
      zeroThreshold: 0,
      zeroCount: 0,
      count: 0,
      sum: 0,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      positive: { offset: 0, counts: [] },
      negative: { offset: 0, counts: [] },
    });
  });

  test.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])("refuses weight %d", (weight) => {
    const h = new ExpoHistogram();
    expect(h.record(1.5, weight)).toBe(false);
    expect(h.count).toBe(0);
  });

  test("respects maxScale", () => {
    const h = new ExpoHistogram({ maxSize: 4, maxScale: 5 });
    h.record(1);
    expect(h.scale).toBe(5);
    expect(new ExpoHistogram().scale).toBe(20);
  });

  test("2, -2, 4, -4 with maxSize 4 give scale 1 and [1, 0, 1] on both signs (SDK toMetricData)", () => {
    const d = recorded([2, -2, 4, -4], 4).toData();
    expect(d).toMatchObject({ min: -4, max: 4, sum: 0, count: 4, scale: 1, zeroCount: 0 });
    expect(d.positive).toEqual({ offset: 1, counts: [1, 0, 1] });
    expect(d.negative).toEqual({ offset: 1, counts: [1, 0, 1] });
  });

  test("zeros go to the zero bucket and count towards min/max", () => {
    const d = recorded([0, 1, 4]).toData();
    expect(d).toMatchObject({ zeroCount: 1, count: 3, sum: 5, min: 0, max: 4 });
  });
});

describe("ExpoHistogram.record (opentelemetry-go exponential_histogram_test.go vectors)", () => {
  // testExpoHistogramDataPointRecord + testExpoHistogramDataPointRecordFloat64: each value is
  // recorded as v and -v, so both signs must come out identical.
  test.each([
    { maxSize: 4, values: [2, 4, 1], offset: -1, counts: [1, 1, 1], scale: 0 },
    { maxSize: 4, values: [4, 4, 4, 2, 16, 1], offset: -1, counts: [1, 4, 1], scale: -1 },
    { maxSize: 2, values: [1, 2, 4], offset: -1, counts: [1, 2], scale: -1 },
    { maxSize: 2, values: [1, 4, 2], offset: -1, counts: [1, 2], scale: -1 },
    { maxSize: 2, values: [2, 4, 1], offset: -1, counts: [1, 2], scale: -1 },
    { maxSize: 2, values: [2, 1, 4], offset: -1, counts: [1, 2], scale: -1 },
    { maxSize: 2, values: [4, 1, 2], offset: -1, counts: [1, 2], scale: -1 },
    { maxSize: 2, values: [4, 2, 1], offset: -1, counts: [1, 2], scale: -1 },
    { maxSize: 4, values: [2, 2, 2, 1, 8, 0.5], offset: -1, counts: [2, 3, 1], scale: -1 },
    { maxSize: 2, values: [1, 0.5, 2], offset: -1, counts: [2, 1], scale: -1 },
    { maxSize: 2, values: [1, 2, 0.5], offset: -1, counts: [2, 1], scale: -1 },
    { maxSize: 2, values: [2, 0.5, 1], offset: -1, counts: [2, 1], scale: -1 },
    { maxSize: 2, values: [2, 1, 0.5], offset: -1, counts: [2, 1], scale: -1 },
    { maxSize: 2, values: [0.5, 1, 2], offset: -1, counts: [2, 1], scale: -1 },
    { maxSize: 2, values: [0.5, 2, 1], offset: -1, counts: [2, 1], scale: -1 },
  ])("maxSize $maxSize, ±$values → scale $scale, offset $offset, $counts", ({ maxSize, values, offset, counts, scale }) => {
    const h = new ExpoHistogram({ maxSize });
    for (const v of values) {
      h.record(v);
      h.record(-v);
    }
    const d = h.toData();
    expect(d.positive).toEqual({ offset, counts });
    expect(d.negative).toEqual({ offset, counts });
    expect(d.scale).toBe(scale);
    expectCountInvariant(d);
  });

  // testExpoHistogramMinMaxSumFloat64 (maxSize 4): non-finite values leave min/max/sum alone.
  test.each([
    { values: [2, 4, 1], min: 1, max: 4, sum: 7, count: 3 },
    { values: [2, 4, 1, Number.POSITIVE_INFINITY], min: 1, max: 4, sum: 7, count: 3 },
    { values: [2, 4, 1, Number.NEGATIVE_INFINITY], min: 1, max: 4, sum: 7, count: 3 },
    { values: [2, 4, 1, Number.NaN], min: 1, max: 4, sum: 7, count: 3 },
    { values: [4, 4, 4, 2, 16, 1], min: 1, max: 16, sum: 31, count: 6 },
  ])("min/max/sum of $values", ({ values, min, max, sum, count }) => {
    const h = recorded(values, 4);
    expect([h.min, h.max, h.sum, h.count]).toEqual([min, max, sum, count]);
  });

  test("three MIN_VALUE observations share the min-normal bucket at scale 20 (TestSubNormal)", () => {
    const d = recorded([Number.MIN_VALUE, Number.MIN_VALUE, Number.MIN_VALUE], 4).toData();
    expect(d).toMatchObject({ min: Number.MIN_VALUE, max: Number.MIN_VALUE, sum: 3 * Number.MIN_VALUE, count: 3, scale: 20 });
    // Go: -1126170625 (exact log of 2^-1074); the JS SDK, which we follow, rounds subnormals up.
    expect(d.positive).toEqual({ offset: -1071644673, counts: [3] });
  });

  test("MAX_VALUE records into the top bucket at scale 20", () => {
    expect(recorded([Number.MAX_VALUE], 4).toData().positive).toEqual({ offset: 1073741823, counts: [1] });
  });

  // TestExpoBucketDownscale, run through fromData → downscale → toData.
  test.each([
    { name: "empty", offset: 0, counts: [], by: 3, want: { offset: 0, counts: [] } },
    { name: "1 size bucket", offset: 50, counts: [7], by: 4, want: { offset: 3, counts: [7] } },
    { name: "zero scale", offset: 50, counts: [7, 5], by: 0, want: { offset: 50, counts: [7, 5] } },
    { name: "aligned scale 1", offset: 0, counts: [1, 2, 3, 4, 5, 6], by: 1, want: { offset: 0, counts: [3, 7, 11] } },
    { name: "aligned scale 2", offset: 0, counts: [1, 2, 3, 4, 5, 6], by: 2, want: { offset: 0, counts: [10, 11] } },
    { name: "aligned scale 3", offset: 0, counts: [1, 2, 3, 4, 5, 6], by: 3, want: { offset: 0, counts: [21] } },
    { name: "unaligned scale 1", offset: 5, counts: [1, 2, 3, 4, 5, 6], by: 1, want: { offset: 2, counts: [1, 5, 9, 6] } },
    { name: "unaligned scale 2", offset: 7, counts: [1, 2, 3, 4, 5, 6], by: 2, want: { offset: 1, counts: [1, 14, 6] } },
    { name: "unaligned scale 3", offset: 3, counts: [1, 2, 3, 4, 5, 6], by: 3, want: { offset: 0, counts: [15, 6] } },
    { name: "unaligned with a gap", offset: 1, counts: [1, 0, 1], by: 1, want: { offset: 0, counts: [1, 1] } },
    { name: "negative offset", offset: -1, counts: [1, 0, 3], by: 1, want: { offset: -1, counts: [1, 3] } },
    { name: "negative offset 2", offset: -4, counts: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], by: 1, want: { offset: -2, counts: [3, 7, 11, 15, 19] } },
  ])("downscale: $name", ({ offset, counts, by, want }) => {
    const total = counts.reduce((a, c) => a + c, 0);
    const h = ExpoHistogram.fromData({
      scale: 20,
      zeroThreshold: 0,
      zeroCount: 0,
      count: 2 * total,
      sum: 0,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      positive: { offset, counts },
      negative: { offset, counts },
    });
    h.downscale(by);
    const d = h.toData();
    expect(d.scale).toBe(20 - by);
    expect(d.positive).toEqual(want);
    expect(d.negative).toEqual(want);
  });

  // TestExpoBucketRecord, run through merging a one-bucket histogram at the same scale.
  test.each([
    { name: "into empty", offset: 0, counts: [], bin: -5, want: { offset: -5, counts: [1] } },
    { name: "inside", offset: 3, counts: [1, 2, 3, 4, 5, 6], bin: 5, want: { offset: 3, counts: [1, 2, 4, 4, 5, 6] } },
    { name: "before the start", offset: 1, counts: [1, 2, 3, 4, 5, 6], bin: -2, want: { offset: -2, counts: [1, 0, 0, 1, 2, 3, 4, 5, 6] } },
    { name: "after the end", offset: -2, counts: [1, 2, 3, 4, 5, 6], bin: 4, want: { offset: -2, counts: [1, 2, 3, 4, 5, 6, 1] } },
  ])("adding a bucket: $name", ({ offset, counts, bin, want }) => {
    const base = { scale: 20, zeroThreshold: 0, zeroCount: 0, sum: 0, min: 1, max: 2, negative: { offset: 0, counts: [] } };
    const h = ExpoHistogram.fromData({ ...base, count: counts.reduce((a, c) => a + c, 0), positive: { offset, counts } });
    expect(h.merge({ ...base, count: 1, positive: { offset: bin, counts: [1] } })).toBe(true);
    expect(h.toData().positive).toEqual(want);
  });

  // TestScaleChange: bin, startBin, length, maxSize.
  test.each([
    { name: "empty run needs no rescale", bin: 5, startBin: 0, length: 0, maxSize: 4, want: 0 },
    { name: "bin inside the run", bin: 5, startBin: -1, length: 10, maxSize: 20, want: 0 },
    { name: "[bin .. end] longer than maxSize", bin: 5, startBin: 8, length: 3, maxSize: 5, want: 1 },
    { name: "[start .. bin] longer than maxSize", bin: 7, startBin: 2, length: 3, maxSize: 5, want: 1 },
    { name: "[start .. bin] much longer", bin: 13, startBin: 2, length: 3, maxSize: 5, want: 2 },
    { name: "never fits: stops after 31 halvings", bin: 1, startBin: -1, length: 1, maxSize: 1, want: 31 },
  ])("scaleChangeFor: $name", ({ bin, startBin, length, maxSize, want }) => {
    const got = length === 0 ? 0 : scaleChangeFor(Math.min(bin, startBin), Math.max(bin, startBin + length - 1), maxSize);
    expect(got).toBe(want);
  });
});

describe("ExpoHistogram downscaling", () => {
  test("downscales both signs together when one sign's range exceeds maxSize", () => {
    const h = new ExpoHistogram();
    h.record(1.5);
    h.record(1.5 * 2 ** 10);
    // 10 binades need 10·2^s < 160 buckets: s = 3.
    expect(h.scale).toBe(3);
    h.record(-1e-5);
    h.record(-1);
    const d = h.toData();
    expect(d.scale).toBe(3);
    h.record(-1e-9); // |v| from 1e-9 to 1 is 29.9 binades at scale 3 = 240 buckets: down to 2
    const e = h.toData();
    expect(e.scale).toBe(2);
    expect(e.positive.offset).toBe(mapToIndex(1.5, 2));
    expect(e.positive.offset + e.positive.counts.length - 1).toBe(mapToIndex(1.5 * 2 ** 10, 2));
    expect(e.negative.offset).toBe(mapToIndex(1e-9, 2));
    expect(e.negative.counts.length).toBeLessThanOrEqual(160);
    expectCountInvariant(e);
  });

  test("never keeps more than maxSize buckets per sign over a wide random stream", () => {
    const random = seededRandom(7);
    for (const maxSize of [2, 5, 16, 160]) {
      const h = new ExpoHistogram({ maxSize });
      for (let i = 0; i < 5000; i++) {
        const v = (random() < 0.3 ? -1 : 1) * Math.exp((random() - 0.5) * 200);
        h.record(v);
        if (i % 500 === 0) {
          const d = h.toData();
          expect(d.positive.counts.length).toBeLessThanOrEqual(maxSize);
          expect(d.negative.counts.length).toBeLessThanOrEqual(maxSize);
          expectCountInvariant(d);
        }
      }
    }
  });

  test("stops at minScale and grows past maxSize instead of dropping data", () => {
    const h = new ExpoHistogram({ maxSize: 2, minScale: 0 });
    for (let e = 0; e <= 10; e++) h.record(1.5 * 2 ** e);
    const d = h.toData();
    expect(d.scale).toBe(0);
    expect(d.positive).toEqual({ offset: 0, counts: Array(11).fill(1) });
    expect(d.count).toBe(11);
  });

  test("a histogram holding only zeros records its first value at maxScale", () => {
    const h = ExpoHistogram.fromData({
      scale: 0, zeroThreshold: 0, zeroCount: 2, count: 2, sum: 0, min: 0, max: 0,
      positive: { offset: 0, counts: [] }, negative: { offset: 0, counts: [] },
    });
    expect(h.scale).toBe(0);
    h.record(1.5);
    expect(h.scale).toBe(20);
    expect(h.toData().positive).toEqual({ offset: mapToIndex(1.5, 20), counts: [1] });
  });

  test("downscale refuses to go below scale -10", () => {
    const h = new ExpoHistogram({ maxScale: -9 });
    expect(() => h.downscale(2)).toThrow(/^BUG:/);
  });
});

describe("ExpoHistogram.merge", () => {
  test("simple (even) case: 4 + 4 values at scale 0 merge to scale -1 (OTel JS)", () => {
    const [a, b, c] = [new ExpoHistogram({ maxSize: 4 }), new ExpoHistogram({ maxSize: 4 }), new ExpoHistogram({ maxSize: 4 })];
    for (let i = 0; i < 4; i++) {
      const v1 = 2 << i;
      const v2 = 1 / (1 << i);
      a.record(v1);
      b.record(v2);
      c.record(v1);
      c.record(v2);
    }
    expect([a.scale, b.scale, c.scale]).toEqual([0, 0, -1]);
    expect(a.toData().positive).toEqual({ offset: 0, counts: [1, 1, 1, 1] });
    expect(b.toData().positive).toEqual({ offset: -4, counts: [1, 1, 1, 1] });
    expect(c.toData().positive).toEqual({ offset: -2, counts: [2, 2, 2, 2] });
    expect(a.merge(b.toData())).toBe(true);
    expect(a.toData()).toEqual(c.toData());
  });

  test("simple (odd) case (OTel JS)", () => {
    const [a, b, c] = [new ExpoHistogram({ maxSize: 4 }), new ExpoHistogram({ maxSize: 4 }), new ExpoHistogram({ maxSize: 4 })];
    for (let i = 0; i < 4; i++) {
      const v1 = 2 << i;
      const v2 = 2 / (1 << i);
      a.record(v1);
      b.record(v2);
      c.record(v1);
      c.record(v2);
    }
    expect([a.count, b.count, c.count]).toEqual([4, 4, 8]);
    expect(b.toData().positive).toEqual({ offset: -3, counts: [1, 1, 1, 1] });
    expect(c.toData().positive).toEqual({ offset: -2, counts: [1, 2, 3, 2] });
    a.merge(b.toData());
    expect(a.toData()).toEqual(c.toData());
  });

  test("merging two parts equals recording everything into one (OTel JS exhaustive case)", () => {
    const random = seededRandom(4450);
    const factor = 1024;
    for (const mean of [0, factor]) {
      for (const stddev of [1, factor]) {
        const values = Array.from({ length: 16 }, () => mean + random() * stddev);
        for (let part = 1; part < values.length; part++) {
          for (const size of [2, 6, 8, 9, 16]) {
            for (const weight of [1, 0x100, 0x10000, 0x100000000]) {
              const a = recorded(values.slice(0, part), size, weight);
              const b = recorded(values.slice(part), size, weight);
              const all = recorded(values, size, weight);
              a.merge(b.toData());
              const [got, want] = [a.toData(), all.toData()];
              expect(got.sum).toBeCloseTo(want.sum, 6);
              expect({ ...got, sum: 0 }).toEqual({ ...want, sum: 0 });
            }
          }
        }
      }
    }
  });

  test("brings both to the lower scale and adds counts per index", () => {
    const h = recorded([1.5]); // scale 20
    const coarse: ExpoHistogramData = {
      scale: 0, zeroThreshold: 0, zeroCount: 1, count: 8, sum: 9, min: 0, max: 3.5,
      positive: { offset: 0, counts: [5, 2] }, negative: { offset: 0, counts: [] },
    };
    expect(h.merge(coarse)).toBe(true);
    expect(h.toData()).toEqual({
      scale: 0, zeroThreshold: 0, zeroCount: 1, count: 9, sum: 10.5, min: 0, max: 3.5,
      positive: { offset: 0, counts: [6, 2] }, negative: { offset: 0, counts: [] },
    });
  });

  test("brings data above maxScale down to ours", () => {
    const h = recorded([3]);
    const fine: ExpoHistogramData = {
      scale: 22, zeroThreshold: 0, zeroCount: 0, count: 1, sum: 3, min: 3, max: 3,
      positive: { offset: mapToIndex(3, 20) * 4 + 1, counts: [1] }, negative: { offset: 0, counts: [] },
    };
    h.merge(fine);
    expect(h.toData().positive).toEqual({ offset: mapToIndex(3, 20), counts: [2] });
    expect(h.scale).toBe(20);
  });

  test("downscales further when the merged range exceeds maxSize", () => {
    const a = recorded([1.5], 4);
    const b = recorded([1.5 * 2 ** 12], 4);
    a.merge(b.toData());
    const d = a.toData();
    // The indexes are 12·2^20 apart; halving until they are < 4 apart takes 22 steps: scale -2.
    expect(d.scale).toBe(-2);
    expect(d.positive).toEqual({ offset: mapToIndex(1.5, -2), counts: [1, 0, 0, 1] });
    expect(d.positive.offset + 3).toBe(mapToIndex(1.5 * 2 ** 12, -2));
  });

  test("an empty or zero-only side does not force the other down (issue #4450 data)", () => {
    const previous = new ExpoHistogram();
    previous.record(0, 1);
    const observations: [number, number][] = [
      [0.000979, 41], [0.001959, 17], [0.002889, 1], [0.003909, 1], [0.004859, 2], [0.008899, 1],
      [0.018589, 1], [0.020269, 2], [0.021169, 3], [0.023079, 2], [0.025169, 2], [0.026279, 1],
      [0.029929, 2], [0.031259, 1], [0.032639, 1], [0.037169, 1], [0.038809, 1], [0.042329, 1],
      [0.044199, 1], [0.048199, 1], [0.065269, 1], [0.092309, 1], [0.100659, 1],
    ];
    for (const [v, w] of observations) previous.record(v, w);
    const delta = new ExpoHistogram();
    delta.record(0, 2); // zero count two, empty buckets
    const result = ExpoHistogram.fromData(delta.toData());
    result.merge(previous.toData());
    const d = result.toData();
    expect(d.count).toBe(delta.count + previous.count);
    expectCountInvariant(d);
    expect(d.scale).toBe(previous.scale);
    expect(d.positive).toEqual(previous.toData().positive);
  });

  test("does not mutate its argument", () => {
    const a = recorded([2, 4, 16]);
    const b = recorded([2, 8, 16, -3]);
    const snapshot = structuredClone(b.toData());
    const arg = b.toData();
    a.merge(arg);
    expect(arg).toEqual(snapshot);
  });

  test("widens the zero threshold, folding buckets below it into the zero bucket", () => {
    const h = recorded([0.001, 0.5, -0.002, 3]);
    const zeroOnly: ExpoHistogramData = {
      scale: 0, zeroThreshold: 0.01, zeroCount: 2, count: 2, sum: 0, min: 0, max: 0,
      positive: { offset: 0, counts: [] }, negative: { offset: 0, counts: [] },
    };
    expect(h.merge(zeroOnly)).toBe(true);
    const d = h.toData();
    expect(d.zeroThreshold).toBe(0.01); // no populated bucket straddles 0.01
    expect(d.zeroCount).toBe(4);
    expect(d.negative).toEqual({ offset: 0, counts: [] });
    expect(bucketTotal(d.positive)).toBe(2);
    expectCountInvariant(d);
  });

  test("raises the widened threshold to the upper edge of a populated straddling bucket (as Prometheus)", () => {
    const h = recorded([0.001, 0.0095, 0.5, -0.002, 3]);
    const scale = h.scale;
    const straddling = mapToIndex(0.01, scale);
    expect(mapToIndex(0.0095, scale)).toBe(straddling);
    h.merge({
      scale: 0, zeroThreshold: 0.01, zeroCount: 2, count: 2, sum: 0, min: 0, max: 0,
      positive: { offset: 0, counts: [] }, negative: { offset: 0, counts: [] },
    });
    const d = h.toData();
    expect(d.zeroThreshold).toBe(upperBoundary(straddling, scale));
    expect(d.zeroThreshold).toBeGreaterThan(0.01);
    expect(d.zeroCount).toBe(5);
    expect(d.positive.offset).toBe(mapToIndex(0.5, scale));
    expectCountInvariant(d);
    expect(h.record(0.0101)).toBe(true); // inside the widened zero bucket
    expect(h.record(-0.01)).toBe(true);
    expect(h.zeroCount).toBe(7);
  });

  test.each([
    { name: "a negative count", patch: { positive: { offset: 0, counts: [1, -1] } } },
    { name: "a fractional scale", patch: { scale: 1.5 } },
    { name: "a scale below -10", patch: { scale: -11 } },
    { name: "a NaN zero count", patch: { zeroCount: Number.NaN } },
    { name: "an index beyond MAX_VALUE", patch: { scale: 0, positive: { offset: 1024, counts: [1] } } },
  ])("refuses data with $name and changes nothing", ({ patch }) => {
    const h = recorded([1, 2, -3]);
    const before = h.toData();
    const bad = { ...before, ...patch } as ExpoHistogramData;
    expect(h.merge(bad)).toBe(false);
    expect(h.toData()).toEqual(before);
    expect(() => ExpoHistogram.fromData(bad)).toThrow(/^BUG:/);
  });

  test("takes count from the buckets, keeping count == zeroCount + Σ buckets for inconsistent input", () => {
    const h = new ExpoHistogram();
    h.merge({
      scale: 0, zeroThreshold: 0, zeroCount: 1, count: 99, sum: 3, min: 0, max: 1.5,
      positive: { offset: 0, counts: [2] }, negative: { offset: 0, counts: [] },
    });
    expect(h.count).toBe(3);
  });
});

describe("ExpoHistogram against the OpenTelemetry JS SDK", () => {
  function sdkData(acc: ExponentialHistogramAccumulation) {
    const pv = acc.toPointValue();
    const side = (b: { offset: number; bucketCounts: number[] }) => (b.bucketCounts.length === 0 ? { offset: 0, counts: [] } : { offset: b.offset, counts: b.bucketCounts });
    return { scale: pv.scale, zeroCount: pv.zeroCount, count: pv.count, sum: pv.sum, min: pv.min, max: pv.max, positive: side(pv.positive), negative: side(pv.negative) };
  }
  function randomStream(random: () => number, n: number): [number, number][] {
    const spread = random() * 60;
    const center = (random() - 0.5) * 100;
    return Array.from({ length: n }, () => {
      const r = random();
      const v = r < 0.05 ? 0 : (r < 0.35 ? -1 : 1) * Math.exp(center + (random() - 0.5) * spread);
      return [v, random() < 0.8 ? 1 : 1 + Math.floor(random() * 300)];
    });
  }

  test("record gives identical scale, buckets, count, sum, min and max", () => {
    const random = seededRandom(160);
    for (const maxSize of [2, 3, 4, 8, 20, 160]) {
      for (let trial = 0; trial < 20; trial++) {
        const ours = new ExpoHistogram({ maxSize });
        const sdk = new ExponentialHistogramAccumulation([0, 0], maxSize, true);
        for (const [v, w] of randomStream(random, 300)) {
          ours.record(v, w);
          sdk.updateByIncrement(v, w);
        }
        const want = sdkData(sdk);
        const got = ours.toData();
        expect({ ...got, zeroThreshold: undefined }).toEqual({ ...want, zeroThreshold: undefined });
      }
    }
  });

  test("merge of histograms with both signs populated gives the SDK's result", () => {
    const random = seededRandom(161);
    for (const maxSize of [2, 4, 8, 160]) {
      for (let trial = 0; trial < 20; trial++) {
        const [ours1, ours2] = [new ExpoHistogram({ maxSize }), new ExpoHistogram({ maxSize })];
        const [sdk1, sdk2] = [new ExponentialHistogramAccumulation([0, 0], maxSize, true), new ExponentialHistogramAccumulation([0, 0], maxSize, true)];
        for (const [v, w] of [...randomStream(random, 100), [1, 1], [-1, 1]] as [number, number][]) {
          ours1.record(v, w);
          sdk1.updateByIncrement(v, w);
        }
        for (const [v, w] of [...randomStream(random, 100), [3, 1], [-3, 1]] as [number, number][]) {
          ours2.record(v, w);
          sdk2.updateByIncrement(v, w);
        }
        ours1.merge(ours2.toData());
        sdk1.merge(sdk2);
        const { sum: gotSum, ...got } = ours1.toData();
        const { sum: wantSum, ...want } = sdkData(sdk1);
        expect({ ...got, zeroThreshold: undefined }).toEqual({ ...want, zeroThreshold: undefined });
        expect(gotSum).toBe(wantSum);
      }
    }
  });
});

describe("ExpoHistogram invariants and state", () => {
  test("count == zeroCount + Σ positive + Σ negative through records, merges and downscales", () => {
    const random = seededRandom(99);
    const h = new ExpoHistogram({ maxSize: 20 });
    for (let step = 0; step < 400; step++) {
      const r = random();
      if (r < 0.8) {
        const v = random() < 0.1 ? 0 : (random() < 0.5 ? -1 : 1) * Math.exp((random() - 0.5) * 40);
        h.record(v, 1 + Math.floor(random() * 4));
      } else if (r < 0.95) {
        h.merge(recorded([random() * 100, -random(), 0], 1 + Math.ceil(random() * 20)).toData());
      } else if (h.scale > -8) {
        h.downscale(1);
      }
      expectCountInvariant(h.toData());
    }
  });

  test("toData is a trimmed, independent copy", () => {
    const h = recorded([1.5, 3]);
    const d = h.toData();
    d.positive.counts[0] = 1000;
    expect(h.toData().positive.counts[0]).toBe(1);
    const e = h.toData();
    expect(e.positive.counts[0]).not.toBe(0);
    expect(e.positive.counts[e.positive.counts.length - 1]).not.toBe(0);
  });

  test("fromData(toData()) round-trips, empty and zero-only histograms included", () => {
    const cases = [recorded([]), recorded([0, 0]), recorded([1, 2, -3, 0, 1e-300, 1e300], 8), recorded([5], 4)];
    for (const h of cases) {
      const d = h.toData();
      expect(ExpoHistogram.fromData(d).toData()).toEqual(d);
    }
  });

  test("reset returns to the empty state at maxScale and records normally afterwards", () => {
    const h = new ExpoHistogram({ maxSize: 4, maxScale: 10 });
    for (const v of [1, 1000, -5, 0]) h.record(v);
    h.reset();
    expect(h.toData()).toEqual(new ExpoHistogram({ maxSize: 4, maxScale: 10 }).toData());
    h.record(2);
    expect(h.toData().positive).toEqual({ offset: mapToIndex(2, 10), counts: [1] });
  });

  test.each([
    [{ maxSize: 1 }, "BUG: ExpoHistogram maxSize must be an integer >= 2 (got 1)"],
    [{ maxScale: 21 }, "BUG: ExpoHistogram maxScale must be an integer in [-10, 20] (got 21)"],
    [{ maxScale: 3, minScale: 4 }, "BUG: ExpoHistogram minScale must be an integer in [-10, maxScale] (got 4)"],
  ])("rejects options %j", (opts, message) => {
    expect(() => new ExpoHistogram(opts)).toThrow(message);
  });
});

describe("expoToJson / expoFromJson", () => {
  const roundTrip = (d: ExpoHistogramData) => expoFromJson(JSON.parse(JSON.stringify(expoToJson(d))));

  test("an empty histogram keeps min = +Inf and max = -Inf", () => {
    const d = new ExpoHistogram().toData();
    expect(JSON.parse(JSON.stringify(d)).min).toBeNull(); // why the helpers exist
    expect(roundTrip(d)).toEqual({ ok: true, value: d });
  });

  test("an overflowed sum survives", () => {
    const d = recorded([Number.MAX_VALUE, Number.MAX_VALUE, -1]).toData();
    expect(d.sum).toBe(Number.POSITIVE_INFINITY);
    expect(roundTrip(d)).toEqual({ ok: true, value: d });
    expect(expoToJson({ ...d, sum: Number.NaN }).sum).toBe("NaN");
  });

  test("a populated histogram round-trips exactly", () => {
    const d = recorded([0, 1.5, -2.25, 1e-12, 7e200]).toData();
    expect(roundTrip(d)).toEqual({ ok: true, value: d });
  });

  test.each([
    [null, "expo histogram json: expected an object (got null)"],
    [{ ...expoToJson(recorded([1]).toData()), min: null }, 'expo histogram json: min must be a number or "Infinity"/"-Infinity"/"NaN" (got null)'],
    [{ ...expoToJson(recorded([1]).toData()), positive: { offset: 0, counts: [-1] } }, "expo histogram json: positive.counts[0] must be a finite number >= 0 (got -1)"],
    [{ ...expoToJson(recorded([1]).toData()), negative: undefined }, "expo histogram json: negative must be {offset, counts[]}"],
    [{ ...expoToJson(recorded([1]).toData()), scale: "3" }, "expo histogram json: scale must be an integer in [-10, 52] (got 3)"],
  ])("rejects %j with a message naming the field", (json, message) => {
    expect(expoFromJson(json)).toEqual({ ok: false, error: { code: "EXPO_JSON_INVALID", message } });
  });
});
