/** Shared helpers for the exponential histogram tests: seeded doubles and float neighbours. */
import { expect } from "vitest";

/** mulberry32: small seeded PRNG so failures reproduce. Returns [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const view = new DataView(new ArrayBuffer(8));

/** A positive finite double with uniformly random exponent (1..2046) and significand bits. */
export function randomNormalDouble(random: () => number): number {
  const biasedExponent = 1 + Math.floor(random() * 2046);
  const highSignificand = Math.floor(random() * 0x100000);
  view.setUint32(0, (biasedExponent << 20) | highSignificand);
  view.setUint32(4, Math.floor(random() * 0x100000000));
  return view.getFloat64(0);
}

/** A positive subnormal double. */
export function randomSubnormalDouble(random: () => number): number {
  view.setUint32(0, Math.floor(random() * 0x100000));
  view.setUint32(4, 1 + Math.floor(random() * 0xffffffff));
  return view.getFloat64(0);
}

/** The next double above / below a positive finite x. */
export function nextUp(x: number): number {
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + 1n);
  return view.getFloat64(0);
}
export function nextDown(x: number): number {
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) - 1n);
  return view.getFloat64(0);
}

/** OTel JS helpers.ts assertInEpsilon: relative error of expected vs actual below epsilon. */
export function expectInEpsilon(actual: number, expected: number, epsilon: number): void {
  expect(Number.isNaN(actual)).toBe(false);
  expect(Number.isNaN(expected)).toBe(false);
  expect(actual).not.toBe(0);
  expect(Math.abs(actual - expected) / Math.abs(actual)).toBeLessThan(epsilon);
}
