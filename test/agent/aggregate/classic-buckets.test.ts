import { describe, expect, test } from "vitest";
import type { ExpoHistogramData } from "../../../agent/core/points";
import { expoToClassicBuckets } from "../../../agent/aggregate/classic-buckets";
import { ExpoHistogram } from "../../../agent/aggregate/expo-histogram";
import { seededRandom } from "./expo-helpers";

const EMPTY_SIDE = { offset: 0, counts: [] };

describe("expoToClassicBuckets", () => {
  // Observations -3, -0.75, 0, 0, 2, 3, 4 at scale 0 (base 2, bucket i = (2^i, 2^(i+1)]):
  //   negative: index -1 (|v| in (0.5, 1]) holds -0.75, index 0 is empty, index 1 holds -3;
  //   positive: index 0 ((1, 2]) holds 2, index 1 ((2, 4]) holds 3 and 4.
  const handComputed: ExpoHistogramData = {
    scale: 0,
    zeroThreshold: 0,
    zeroCount: 2,
    count: 7,
    sum: 5.25,
    min: -3,
    max: 4,
    positive: { offset: 0, counts: [1, 2] },
    negative: { offset: -1, counts: [1, 0, 1] },
  };

  test("renders a small hand-computed histogram", () => {
    expect(expoToClassicBuckets(handComputed)).toEqual({
      //          idx 1  idx 0  idx -1  zero  (1,2]  (2,4]
      upperBounds: [-2, -1, -0.5, 0, 2, 4],
      cumulativeCounts: [1, 1, 2, 4, 5, 7],
    });
  });

  test("the hand-computed histogram is what recording those values with maxSize 4 produces", () => {
    const h = new ExpoHistogram({ maxSize: 4 });
    for (const v of [-3, -0.75, 0, 0, 2, 3, 4]) h.record(v);
    expect(h.toData()).toEqual(handComputed);
  });

  test("an empty histogram renders only the zero bucket", () => {
    expect(expoToClassicBuckets(new ExpoHistogram().toData())).toEqual({ upperBounds: [0], cumulativeCounts: [0] });
  });

  test("the zero bucket's bound is the zero threshold", () => {
    const d: ExpoHistogramData = { ...handComputed, zeroThreshold: 0.25, negative: { offset: -1, counts: [1] }, count: 6 };
    const { upperBounds, cumulativeCounts } = expoToClassicBuckets(d);
    expect(upperBounds).toEqual([-0.5, 0.25, 2, 4]);
    expect(cumulativeCounts).toEqual([1, 3, 4, 6]);
  });

  test("the top bucket's bound is MAX_VALUE, not +Inf (the caller appends +Inf)", () => {
    const h = new ExpoHistogram();
    h.record(Number.MAX_VALUE);
    expect(expoToClassicBuckets(h.toData()).upperBounds).toEqual([0, Number.MAX_VALUE]);
  });

  test("every bucket of the dense runs is emitted, empty ones included", () => {
    const d: ExpoHistogramData = {
      ...handComputed,
      zeroCount: 0,
      count: 2,
      positive: { offset: 0, counts: [1, 0, 0, 1] },
      negative: EMPTY_SIDE,
    };
    expect(expoToClassicBuckets(d)).toEqual({ upperBounds: [0, 2, 4, 8, 16], cumulativeCounts: [0, 1, 1, 1, 2] });
  });

  test("cumulative counts equal the number of raw observations <= each bound", () => {
    const random = seededRandom(42);
    for (const maxSize of [4, 20, 160]) {
      const values: number[] = [];
      const h = new ExpoHistogram({ maxSize });
      for (let i = 0; i < 2000; i++) {
        const v = random() < 0.05 ? 0 : (random() < 0.4 ? -1 : 1) * Math.exp((random() - 0.5) * 30);
        values.push(v);
        h.record(v);
      }
      const d = h.toData();
      const { upperBounds, cumulativeCounts } = expoToClassicBuckets(d);
      for (let k = 1; k < upperBounds.length; k++) expect(upperBounds[k]).toBeGreaterThan(upperBounds[k - 1]);
      expect(cumulativeCounts[cumulativeCounts.length - 1]).toBe(d.count);
      for (let k = 0; k < upperBounds.length; k++) {
        expect(cumulativeCounts[k]).toBe(values.filter((v) => v <= upperBounds[k]).length);
      }
    }
  });
});
