import { describe, expect, test } from "vitest";
import { ExpoHistogram } from "../../../../agent/aggregate/expo-histogram";
import type { ExpoHistogramData } from "../../../../agent/core/points";
import {
  NativeHistogramBuilder,
  toDeltas,
  toNativeBuckets,
  toNativeHistogram,
} from "../../../../agent/sinks/remote-write/native-histogram";
import { seededRandom } from "../../aggregate/expo-helpers";

function expo(partial: Partial<ExpoHistogramData>): ExpoHistogramData {
  return {
    scale: 0,
    zeroThreshold: 0,
    zeroCount: 0,
    count: 0,
    sum: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
    positive: { offset: 0, counts: [] },
    negative: { offset: 0, counts: [] },
    ...partial,
  };
}

describe("toNativeBuckets", () => {
  test("the remote-write spec example: {-2:3, -1:5, 2:1, 4:3, 5:2} → spans [[-2,2],[2,1],[1,2]], deltas [3,2,-4,2,-1]", () => {
    // Prometheus indexes -2..5 are OTel indexes -3..4 (OTel index = Prometheus index - 1).
    const b = toNativeBuckets({ offset: -3, counts: [3, 5, 0, 0, 1, 0, 3, 2] }, 0);
    expect(b.spans).toEqual([
      { offset: -2, length: 2 },
      { offset: 2, length: 1 },
      { offset: 1, length: 2 },
    ]);
    expect(toDeltas(b.counts)).toEqual([3, 2, -4, 2, -1]);
  });

  test("the OTel compat spec example: offset 3, counts 10,0,0,20,5,2 → spans {4,1},{2,3}, deltas 10,10,-15,-3", () => {
    const b = toNativeBuckets({ offset: 3, counts: [10, 0, 0, 20, 5, 2] }, 0);
    expect(b.spans).toEqual([
      { offset: 4, length: 1 },
      { offset: 2, length: 3 },
    ]);
    expect(toDeltas(b.counts)).toEqual([10, 10, -15, -3]);
  });

  test("leading and trailing empty buckets are not sent", () => {
    const b = toNativeBuckets({ offset: 10, counts: [0, 0, 4, 0] }, 0);
    expect(b.spans).toEqual([{ offset: 13, length: 1 }]);
    expect(b.counts).toEqual([4]);
  });

  test("no populated bucket gives no span", () => {
    expect(toNativeBuckets({ offset: 5, counts: [0, 0] }, 0)).toEqual({ spans: [], counts: [] });
    expect(toNativeBuckets({ offset: 0, counts: [] }, 3)).toEqual({ spans: [], counts: [] });
  });

  test("downscaling shifts in OTel space, then adds one: promIdx = (otelIdx >> d) + 1", () => {
    // d = 2: OTel -5 >> 2 = -2 → Prometheus -1; -4..-1 → -1 → 0; 0..3 → 0 → 1.
    const b = toNativeBuckets({ offset: -5, counts: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, 2);
    expect(b.spans).toEqual([{ offset: -1, length: 3 }]);
    expect(b.counts).toEqual([1, 14, 30]);
  });
});

describe("toNativeHistogram", () => {
  test("scale 20 goes out at schema 8 with every count kept", () => {
    const h = new ExpoHistogram({ maxScale: 20 });
    for (const v of [1.00001, 1.00002, 1.00005]) h.record(v);
    h.record(1.00002, 3);
    const d = h.toData();
    expect(d.scale).toBe(20);
    const n = toNativeHistogram(d)!;
    expect(n.schema).toBe(8);
    // All in the first bucket above 1 at schema 8: (1, 2^(1/256)] = Prometheus index 1.
    expect(n.positive).toEqual({ spans: [{ offset: 1, length: 1 }], counts: [6] });
    expect(n.count).toBe(6);
  });

  test("scale 20 → 8 merges each 2^12 OTel buckets, across the sign of the index", () => {
    // OTel 4094..4098 >> 12 = 0,0,1,1,1 → Prometheus 1,1,2,2,2; -4097..-4095 >> 12 = -2,-1,-1.
    const d = expo({ scale: 20, count: 21, positive: { offset: 4094, counts: [1, 2, 3, 4, 5] }, negative: { offset: -4097, counts: [1, 2, 3] } });
    const n = toNativeHistogram(d)!;
    expect(n.schema).toBe(8);
    expect(n.positive).toEqual({ spans: [{ offset: 1, length: 2 }], counts: [3, 12] });
    expect(n.negative).toEqual({ spans: [{ offset: -1, length: 2 }], counts: [1, 5] });
    expect(n.count).toBe(21);
  });

  test("negative buckets mirror the positive ones by |v|", () => {
    const h = new ExpoHistogram({ maxScale: 0 });
    for (const v of [-1, -3, -3, -100, 5]) h.record(v);
    const n = toNativeHistogram(h.toData())!;
    expect(n.schema).toBe(0);
    // |v| 1 → OTel -1 → Prometheus 0; 3 → 1 → 2; 100 → 6 → 7.
    expect(n.negative.spans).toEqual([
      { offset: 0, length: 1 },
      { offset: 1, length: 1 },
      { offset: 4, length: 1 },
    ]);
    expect(n.negative.counts).toEqual([1, 2, 1]);
    expect(n.positive.spans).toEqual([{ offset: 3, length: 1 }]);
    expect(n.count).toBe(5);
  });

  test("the zero bucket keeps its count and threshold (0: exact zeros only)", () => {
    const h = new ExpoHistogram();
    for (const v of [0, 0, -0, 4]) h.record(v);
    const n = toNativeHistogram(h.toData())!;
    expect(n.zeroCount).toBe(3);
    expect(n.zeroThreshold).toBe(0);
    expect(n.count).toBe(4);
    const widened = toNativeHistogram(expo({ scale: 1, zeroThreshold: 0.25, zeroCount: 2, count: 3, positive: { offset: 0, counts: [1] } }))!;
    expect(widened.zeroThreshold).toBe(0.25);
    expect(widened.zeroCount).toBe(2);
  });

  test("count is recomputed as zero count + Σ buckets even when the input's count disagrees", () => {
    const n = toNativeHistogram(expo({ scale: 0, zeroCount: 1, count: 99, positive: { offset: 0, counts: [2, 3] }, negative: { offset: 1, counts: [4] } }))!;
    expect(n.count).toBe(10);
  });

  test("fractional counts make a float histogram", () => {
    const h = new ExpoHistogram();
    h.record(3, 10 / 3); // StatsD @0.3
    h.record(0, 0.5);
    const n = toNativeHistogram(h.toData())!;
    expect(n.isFloat).toBe(true);
    expect(n.count).toBeCloseTo(10 / 3 + 0.5, 12);
    expect(toNativeHistogram(expo({ scale: 0, zeroCount: 1, count: 1 }))!.isFloat).toBe(false);
  });

  test("counts from 2^52 on make a float histogram (integer deltas would lose precision)", () => {
    expect(toNativeHistogram(expo({ scale: 0, count: 2 ** 52, positive: { offset: 0, counts: [2 ** 52] } }))!.isFloat).toBe(true);
    expect(toNativeHistogram(expo({ scale: 0, count: 2 ** 52, zeroCount: 2 ** 51, positive: { offset: 0, counts: [2 ** 51] } }))!.isFloat).toBe(true);
    expect(toNativeHistogram(expo({ scale: 0, count: 2 ** 51, positive: { offset: 0, counts: [2 ** 51] } }))!.isFloat).toBe(false);
  });

  test.each([-4, -3, 0, 8])("scale %i converts at the same schema", (scale) => {
    expect(toNativeHistogram(expo({ scale, positive: { offset: 0, counts: [1] }, count: 1 }))!.schema).toBe(scale);
  });

  test.each([-5, -10])("scale %i has no native form (buckets cannot be split)", (scale) => {
    expect(toNativeHistogram(expo({ scale, positive: { offset: 0, counts: [1] }, count: 1 }))).toBeUndefined();
    expect(new NativeHistogramBuilder().build(expo({ scale }))).toBe(false);
  });

  test("a builder reused for smaller histograms forgets the previous one's buckets", () => {
    const b = new NativeHistogramBuilder();
    const big = new ExpoHistogram();
    for (let i = 1; i <= 200; i++) big.record(i * 1.37);
    expect(b.build(big.toData())).toBe(true);
    expect(b.positive.bucketCount).toBeGreaterThan(32); // grew its storage
    expect(b.build(expo({ scale: 2, positive: { offset: 7, counts: [5] }, count: 5 }))).toBe(true);
    expect(b.positive.bucketCount).toBe(1);
    expect(b.positive.spanCount).toBe(1);
    expect(b.negative.bucketCount).toBe(0);
    expect(b.count).toBe(5);
  });
});

describe("property: native buckets carry exactly the histogram's counts at schema min(scale, 8)", () => {
  test("random histograms of random values", () => {
    const random = seededRandom(7);
    const seen = { above8: 0, below4: 0, inRange: 0 };
    for (let round = 0; round < 300; round++) {
      // Three kinds of input: narrow ranges at fine scales (> 8), ordinary ones, and huge ranges
      // squeezed into a few buckets (scales below -4).
      const kind = round % 3;
      const maxSize = kind === 2 ? 2 + Math.floor(random() * 3) : 2 + Math.floor(random() * 200);
      const h = new ExpoHistogram({ maxSize, maxScale: kind === 0 ? 20 : Math.floor(random() * 21) });
      const spread = kind === 0 ? random() * 0.3 : kind === 1 ? random() * 40 : 200 + random() * 1800; // binades
      const n = 1 + Math.floor(random() * 400);
      for (let i = 0; i < n; i++) {
        const r = random();
        const magnitude = 2 ** ((random() - 0.5) * spread);
        h.record(r < 0.05 ? 0 : r < 0.3 ? -magnitude : magnitude, 1 + Math.floor(random() * 3));
      }
      const d = h.toData();
      const native = toNativeHistogram(d);
      if (d.scale < -4) {
        expect(native).toBeUndefined();
        seen.below4++;
        continue;
      }
      if (d.scale > 8) seen.above8++;
      else seen.inRange++;
      expect(native).toBeDefined();
      const expected = ExpoHistogram.fromData(d, { maxScale: 20, maxSize: 1000 });
      if (d.scale > 8) expected.downscale(d.scale - 8);
      const e = expected.toData();
      expect(native!.schema).toBe(Math.min(d.scale, 8));
      for (const [side, buckets] of [
        [native!.positive, e.positive],
        [native!.negative, e.negative],
      ] as const) {
        const want = new Map<number, number>();
        buckets.counts.forEach((c, j) => c !== 0 && want.set(buckets.offset + j + 1, c));
        const got = new Map<number, number>();
        let index = 0;
        let k = 0;
        for (const span of side.spans) {
          index += span.offset;
          for (let j = 0; j < span.length; j++) got.set(index++, side.counts[k++]);
        }
        expect(k).toBe(side.counts.length);
        expect(got).toEqual(want);
      }
      expect(native!.count).toBe(d.count);
      expect(native!.zeroCount).toBe(d.zeroCount);
      expect(native!.sum).toBe(d.sum);
    }
    expect(seen.above8).toBeGreaterThan(50);
    expect(seen.below4).toBeGreaterThan(20);
    expect(seen.inRange).toBeGreaterThan(50);
  });
});
