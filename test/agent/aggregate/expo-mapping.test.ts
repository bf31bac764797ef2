import { describe, expect, test } from "vitest";
// The reference implementation, pinned in package.json; its internals have no public export.
import { getMapping } from "@opentelemetry/sdk-metrics/build/src/aggregator/exponential-histogram/mapping/getMapping";
import {
  highestIndex,
  lowerBoundary,
  lowestIndex,
  mapToIndex,
  MAX_SCALE,
  MIN_SCALE,
  upperBoundary,
} from "../../../agent/aggregate/expo-mapping";
import {
  expectInEpsilon,
  nextDown,
  nextUp,
  randomNormalDouble,
  randomSubnormalDouble,
  seededRandom,
} from "./expo-helpers";

const MIN_NORMAL = 2 ** -1022;
const ALL_SCALES = Array.from({ length: MAX_SCALE - MIN_SCALE + 1 }, (_, i) => MIN_SCALE + i);
const EXPONENT_SCALES = ALL_SCALES.filter((s) => s <= 0);
const LOG_SCALES = ALL_SCALES.filter((s) => s > 0);
const SUBNORMALS = [MIN_NORMAL / 2, MIN_NORMAL / 3, MIN_NORMAL / 100, 2 ** -1050, 2 ** -1073, 1.0625 * 2 ** -1073, 2 ** -1074];

/** Boundary computed by repeated squaring / square roots (OTel JS tests' roundedBoundary). */
function squaredBoundary(scale: number, index: number): number {
  let result = 2 ** index;
  for (let i = scale; i < 0; i++) result = result * result;
  return result;
}
function rootBoundary(scale: number, index: number): number {
  while (scale > 0 && index < -1022) {
    index /= 2;
    scale--;
  }
  let result = 2 ** index;
  for (let i = scale; i > 0; i--) result = Math.sqrt(result);
  return result;
}

describe("mapToIndex at scale <= 0 (OTel JS ExponentMapping vectors)", () => {
  // Ported from opentelemetry-js ExponentMapping.test.ts.
  const scale0: [number, number][] = [
    [Number.MAX_VALUE, 1023],
    [2 ** 1023, 1022],
    [1.0625 * 2 ** 1023, 1023],
    [2 ** 1022, 1021],
    [2 ** -1022, -1023],
    [1.0625 * 2 ** -1022, -1022],
    [2 ** -1021, -1022],
    [1.0625 * 2 ** -1021, -1021],
    [Number.MIN_VALUE, -1023],
    [4, 1],
    [3, 1],
    [2, 0],
    [1.5, 0],
    [1, -1],
    [0.75, -1],
    [0.51, -1],
    [0.5, -2],
    [0.26, -2],
    [0.25, -3],
    [0.126, -3],
    [0.125, -4],
  ];
  test.each(scale0)("scale 0 maps %d to %i", (value, expected) => {
    expect(mapToIndex(value, 0)).toBe(expected);
  });

  const minScale: [number, number][] = [
    [1.000001, 0],
    [1, -1],
    [Number.MAX_VALUE / 2, 0],
    [Number.MAX_VALUE, 0],
    [Number.MIN_VALUE, -1],
    [0.5, -1],
  ];
  test.each(minScale)("scale -10 maps %d to %i", (value, expected) => {
    expect(mapToIndex(value, -10)).toBe(expected);
  });

  const scaleMinus1: [number, number][] = [
    [17, 2], [16, 1], [15, 1], [9, 1], [8, 1], [5, 1], [4, 0], [3, 0], [2, 0], [1.5, 0], [1, -1],
    [0.75, -1], [0.5, -1], [0.25, -2], [0.2, -2], [0.13, -2], [0.125, -2], [0.1, -2], [0.0625, -3],
    [0.06, -3],
  ];
  test.each(scaleMinus1)("scale -1 maps %d to %i", (value, expected) => {
    expect(mapToIndex(value, -1)).toBe(expected);
  });

  const largestBelow2To1024 = Array.from({ length: 13 }, (_, x) => 0xf * 16 ** (-x - 1)).reduce((x, y) => x + y, 1) * 2 ** 1023;
  const scaleMinus4: [number, number][] = [
    [0x1, -1], [0x10, 0], [0x100, 0], [0x1000, 0], [0x10000, 0], [0x100000, 1], [0x1000000, 1],
    [0x10000000, 1], [0x100000000, 1], [0x1000000000, 2], [0x10000000000, 2], [0x100000000000, 2],
    [0x1000000000000, 2], [0x10000000000000, 3], [0x1000000000000000, 3], [2 ** 64, 3], [2 ** 68, 4],
    [2 ** 72, 4], [2 ** 76, 4], [2 ** 80, 4], [2 ** 84, 5],
    [1 / 0x1, -1], [1 / 0x10, -1], [1 / 0x100, -1], [1 / 0x1000, -1], [1 / 0x10000, -2],
    [1 / 0x100000, -2], [1 / 0x1000000, -2], [1 / 0x10000000, -2], [1 / 0x100000000, -3],
    [1 / 0x1000000000, -3], [1 / 0x10000000000, -3], [1 / 0x100000000000, -3],
    [1 / 0x1000000000000, -4], [1 / 0x10000000000000, -4], [2 ** -56, -4], [2 ** -60, -4],
    [2 ** -64, -5], [2 ** -68, -5],
    [largestBelow2To1024, 63], [2 ** 1023, 63], [2 ** 1019, 63], [2 ** 1009, 63], [2 ** 1008, 62],
    [2 ** 1007, 62], [2 ** 1000, 62], [2 ** 993, 62], [2 ** 992, 61], [2 ** 991, 61],
    [2 ** -1074, -64], [2 ** -1073, -64], [2 ** -1072, -64], [2 ** -1057, -64], [2 ** -1056, -64],
    [2 ** -1041, -64], [2 ** -1040, -64], [2 ** -1025, -64], [2 ** -1024, -64], [2 ** -1023, -64],
    [2 ** -1022, -64], [2 ** -1009, -64], [2 ** -1008, -64], [2 ** -1007, -63], [2 ** -993, -63],
    [2 ** -992, -63], [2 ** -991, -62], [2 ** -977, -62], [2 ** -976, -62], [2 ** -975, -61],
  ];
  test.each(scaleMinus4)("scale -4 maps %d to %i", (value, expected) => {
    expect(mapToIndex(value, -4)).toBe(expected);
  });

  test.each(EXPONENT_SCALES)("scale %i: MAX_VALUE maps to the top index, whose boundary is exact", (scale) => {
    const index = mapToIndex(Number.MAX_VALUE, scale);
    const top = ((1023 + 1) >> -scale) - 1;
    expect(index).toBe(top);
    expect(highestIndex(scale)).toBe(top);
    expect(lowerBoundary(index, scale)).toBe(squaredBoundary(scale, top));
    expect(() => lowerBoundary(index + 1, scale)).toThrow(/^BUG:/);
  });

  test.each(EXPONENT_SCALES)("scale %i: 2^-1022 and all subnormals map to the bottom index", (scale) => {
    const bottom = mapToIndex(MIN_NORMAL, scale);
    let expected = -1022 >> -scale;
    if (-1022 % (1 << -scale) === 0) expected--;
    expect(bottom).toBe(expected);
    expect(lowestIndex(scale)).toBe(expected);
    expect(lowerBoundary(bottom, scale)).toBe(squaredBoundary(scale, expected));
    expect(() => lowerBoundary(bottom - 1, scale)).toThrow(/^BUG:/);
    for (const v of SUBNORMALS) expect(mapToIndex(v, scale)).toBe(expected);
  });
});

describe("mapToIndex at scale > 0 (OTel JS LogarithmMapping vectors)", () => {
  const scale1: [number, number][] = [
    [15, 7], [9, 6], [7, 5], [5, 4], [3, 3], [2.5, 2], [1.5, 1], [1.2, 0], [1, -1], [0.75, -1],
    [0.55, -2], [0.45, -3],
  ];
  test.each(scale1)("scale 1 maps %d to %i", (value, expected) => {
    expect(mapToIndex(value, 1)).toBe(expected);
  });

  test.each([1, 2, 3, 4, 10, 15])("scale %i: lowerBoundary maps back to its index or the one below", (scale) => {
    for (const index of [-100, -10, -1, 0, 1, 10, 100]) {
      const boundary = lowerBoundary(index, scale);
      const mapped = mapToIndex(boundary, scale);
      expect(mapped).toBeGreaterThanOrEqual(index - 1);
      expect(mapped).toBeLessThanOrEqual(index);
      expectInEpsilon(rootBoundary(scale, index), boundary, 1e-9);
    }
  });

  test.each(LOG_SCALES)("scale %i: MAX_VALUE maps to the top index, one base step below 2^1024", (scale) => {
    const index = mapToIndex(Number.MAX_VALUE, scale);
    const top = ((1023 + 1) << scale) - 1;
    expect(index).toBe(top);
    expect(highestIndex(scale)).toBe(top);
    const boundary = lowerBoundary(index, scale);
    const base = lowerBoundary(1, scale);
    expect(boundary).toBeLessThan(Number.MAX_VALUE);
    expectInEpsilon(base - 1, (Number.MAX_VALUE - boundary) / boundary, 1e-6);
    expect(() => lowerBoundary(index + 1, scale)).toThrow(/^BUG:/);
  });

  test.each(LOG_SCALES)("scale %i: 2^-1022 and all subnormals map to the bucket ending at 2^-1022", (scale) => {
    const bottom = mapToIndex(MIN_NORMAL, scale);
    const expected = (-1022 << scale) - 1;
    expect(bottom).toBe(expected);
    expect(lowestIndex(scale)).toBe(expected);
    expect(rootBoundary(scale, expected)).toBeLessThan(MIN_NORMAL);
    expect(rootBoundary(scale, expected + 1)).toBe(MIN_NORMAL);
    expectInEpsilon(MIN_NORMAL, lowerBoundary(bottom + 1, scale), 1e-6);
    expectInEpsilon(rootBoundary(scale, expected), lowerBoundary(bottom, scale), 1e-6);
    expect(() => lowerBoundary(bottom - 1, scale)).toThrow(/^BUG:/);
    for (const v of SUBNORMALS) expect(mapToIndex(v, scale)).toBe(expected);
  });

  test("like the JS SDK, a value just below a power of two can land one bucket high (±1 allowed)", () => {
    const justBelow = nextDown(2 ** 35);
    expect(mapToIndex(justBelow, 15)).toBe(35 << 15); // exact bucket would be (35 << 15) - 1
    expect(mapToIndex(2 ** 35, 15)).toBe((35 << 15) - 1);
    expect(mapToIndex(justBelow, 0)).toBe(34); // exact at scale <= 0
  });
});

describe("mapToIndex edge values (opentelemetry-go vectors)", () => {
  // TestExponentialHistogramDataPointRecordLimits: floor(log2(v) * 2^20).
  test("MAX_VALUE maps to 1073741823 at scale 20", () => {
    expect(mapToIndex(Number.MAX_VALUE, 20)).toBe(1073741823);
  });
  test("2^63 (Go's MaxInt64 as a float) maps to 66060287 at scale 20", () => {
    expect(mapToIndex(Number(2n ** 63n - 1n), 20)).toBe(66060287);
  });
  test("MIN_VALUE maps to the min-normal bucket at scale 20 (JS SDK; Go uses -1126170625)", () => {
    expect(mapToIndex(Number.MIN_VALUE, 20)).toBe(-1071644673);
  });
  test("negative values map by their magnitude", () => {
    for (const scale of ALL_SCALES) {
      for (const v of [1.5, 3, 1e-300, Number.MIN_VALUE, Number.MAX_VALUE, 2 ** 1023, 0.1]) {
        expect(mapToIndex(-v, scale)).toBe(mapToIndex(v, scale));
      }
    }
  });
});

describe("exact powers of two", () => {
  test.each(ALL_SCALES)("scale %i: 2^e is the upper edge of its bucket for every normal e", (scale) => {
    const wrong: string[] = [];
    for (let e = -1022; e <= 1023; e++) {
      const expected = scale > 0 ? (e << scale) - 1 : (e - 1) >> -scale;
      const at = mapToIndex(2 ** e, scale);
      if (at !== expected) wrong.push(`2^${e} -> ${at}, want ${expected}`);
      const above = mapToIndex(nextUp(2 ** e), scale);
      // At scale > 0 log() cannot resolve one ulp above 2^e: the SDK may keep it in the bucket
      // below. At scale <= 0, 2^e is a bucket boundary only when e is a multiple of 2^-scale.
      const allowed = scale > 0 ? [expected, expected + 1] : [e % (1 << -scale) === 0 ? expected + 1 : expected];
      if (!allowed.includes(above)) wrong.push(`nextUp(2^${e}) -> ${above}, want ${allowed.join(" or ")}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe("mapToIndex against lowerBoundary for random doubles", () => {
  const random = seededRandom(20240817);
  const samples: number[] = [];
  for (let i = 0; i < 3000; i++) samples.push(randomNormalDouble(random));
  for (let i = 0; i < 200; i++) samples.push(randomSubnormalDouble(random));
  for (let e = -1022; e <= 1023; e += 7) samples.push(2 ** e, nextUp(2 ** e), nextDown(2 ** e));
  samples.push(Number.MIN_VALUE, MIN_NORMAL, nextDown(MIN_NORMAL), Number.MAX_VALUE, nextDown(Number.MAX_VALUE), 1, 0.1, 1e9);

  test.each(ALL_SCALES)("scale %i: index is an int32 in range and brackets the value", (scale) => {
    const low = lowestIndex(scale);
    const high = highestIndex(scale);
    // log/exp are inexact, so at scale > 0 a value within ~1e-13 (relative) of a boundary may sit
    // one bucket off, exactly as in the SDK; at scale <= 0 the bracket is exact.
    const slack = scale > 0 ? 1e-12 : 0;
    const wrong: string[] = [];
    for (const v of samples) {
      const index = mapToIndex(v, scale);
      if ((index | 0) !== index || index < low || index > high) wrong.push(`${v} -> ${index}: out of range`);
      else if (v < MIN_NORMAL) {
        if (index !== low) wrong.push(`subnormal ${v} -> ${index}, want ${low}`);
      } else if (!(lowerBoundary(index, scale) < v * (1 + slack) && v <= upperBoundary(index, scale) * (1 + slack))) {
        wrong.push(`${v} -> ${index}: outside (${lowerBoundary(index, scale)}, ${upperBoundary(index, scale)}]`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test.each(ALL_SCALES)("scale %i: values next to every sampled boundary bracket correctly", (scale) => {
    const low = lowestIndex(scale);
    const high = highestIndex(scale);
    for (let k = 0; k < 300; k++) {
      const index = low + 1 + Math.floor(random() * (high - low - 1));
      const boundary = lowerBoundary(index, scale);
      if (scale <= 0) {
        expect(mapToIndex(boundary, scale)).toBe(index - 1);
        expect(mapToIndex(nextUp(boundary), scale)).toBe(index);
      } else {
        expect(Math.abs(mapToIndex(boundary, scale) - (index - 1))).toBeLessThanOrEqual(1);
        expect(Math.abs(mapToIndex(nextUp(boundary), scale) - index)).toBeLessThanOrEqual(1);
      }
    }
  });

  test.each(ALL_SCALES)("scale %i: equals the OpenTelemetry JS SDK for every sample", (scale) => {
    const reference = getMapping(scale);
    const differing = samples.filter((v) => mapToIndex(v, scale) !== reference.mapToIndex(v));
    expect(differing).toEqual([]);
    const low = lowestIndex(scale);
    const high = highestIndex(scale);
    for (const index of [low, low + 1, high - 1, high, -1, 0, 1]) {
      if (index >= low && index <= high) expect(lowerBoundary(index, scale)).toBe(reference.lowerBoundary(index));
    }
    for (let k = 0; k < 200; k++) {
      const index = low + Math.floor(random() * (high - low + 1));
      expect(lowerBoundary(index, scale)).toBe(reference.lowerBoundary(index));
    }
  });
});

describe("lowerBoundary and upperBoundary", () => {
  test("reject scales outside [-10, 20] as a bug", () => {
    expect(() => lowerBoundary(0, MIN_SCALE - 1)).toThrow(/^BUG:/);
    expect(() => lowerBoundary(0, MAX_SCALE + 1)).toThrow(/^BUG:/);
  });
  test("upperBoundary of the top bucket is MAX_VALUE, elsewhere the next lower boundary", () => {
    for (const scale of ALL_SCALES) {
      expect(upperBoundary(highestIndex(scale), scale)).toBe(Number.MAX_VALUE);
      expect(upperBoundary(-1, scale)).toBe(lowerBoundary(0, scale));
    }
  });
  test("scale 0 boundaries are powers of two; index 0 is (1, 2]", () => {
    expect(lowerBoundary(0, 0)).toBe(1);
    expect(upperBoundary(0, 0)).toBe(2);
    expect(lowerBoundary(-4, 0)).toBe(1 / 16);
    expect(lowerBoundary(1, -4)).toBe(65536);
  });
});
