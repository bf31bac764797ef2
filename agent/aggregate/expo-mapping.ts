/**
 * Base-2 exponential bucket mapping (OpenTelemetry data model): value ↔ bucket index at a scale.
 *
 * At scale s the base is 2^(2^-s); bucket i covers (base^i, base^(i+1)] (lower-exclusive,
 * upper-inclusive). Scales run from MIN_SCALE (-10) to MAX_SCALE (20); every index fits int32.
 *
 * The results equal the OpenTelemetry JS SDK (`ExponentMapping` / `LogarithmMapping`) for every
 * positive double, so our buckets line up with SDK-produced histograms:
 * - scale <= 0 is exact: the IEEE-754 exponent, minus one for exact powers of two (2^k sits on
 *   the upper edge of bucket k-1), shifted right by -scale.
 * - scale > 0 is `floor(ln(v) · 2^s / ln 2)`, with exact powers of two special-cased. Like the SDK
 *   it can land one bucket high for values within an ulp or two of a bucket boundary (e.g.
 *   2^35·(1-2^-53) at scale 15); the data model allows that ±1.
 * - Subnormals (< 2^-1022) all map to the bucket that holds 2^-1022 (SDK behaviour; the Go SDK
 *   maps them by their true logarithm instead).
 * - Values above the last boundary below 2^1024 clamp to the top index.
 *
 * Hot path: `mapToIndex` reads the float's bits through one module-level scratch buffer (a
 * synchronous write-then-read, so sharing it is safe) and allocates nothing.
 */

export const MIN_SCALE = -10;
export const MAX_SCALE = 20;

const EXPONENT_BIAS = 1023;
const MIN_NORMAL_EXPONENT = -1022;
const MAX_NORMAL_EXPONENT = 1023;
/** Smallest positive normal double, 2^-1022. */
const MIN_NORMAL = 2 ** MIN_NORMAL_EXPONENT;
const EXPONENT_MASK = 0x7ff00000;
const HIGH_SIGNIFICAND_MASK = 0x000fffff;
/** Biased exponent of [2^1023, 2^1024), the top binade of finite doubles. */
const TOP_BIASED_EXPONENT = 0x7fe;

const scratchFloat = new Float64Array(1);
const scratchWords = new Uint32Array(scratchFloat.buffer);
scratchFloat[0] = 1; // 0x3ff00000_00000000: tells which 32-bit word holds sign and exponent
const HIGH_WORD = scratchWords[1] === 0x3ff00000 ? 1 : 0;
const LOW_WORD = 1 - HIGH_WORD;

/** log2(e)·2^s and ln(2)·2^-s per scale, indexed by scale - MIN_SCALE (as the SDK computes them). */
const SCALE_FACTORS = new Float64Array(MAX_SCALE - MIN_SCALE + 1);
const INVERSE_FACTORS = new Float64Array(MAX_SCALE - MIN_SCALE + 1);
for (let s = MIN_SCALE; s <= MAX_SCALE; s++) {
  SCALE_FACTORS[s - MIN_SCALE] = Math.LOG2E * 2 ** s;
  INVERSE_FACTORS[s - MIN_SCALE] = Math.LN2 * 2 ** -s;
}

/**
 * Bucket index of |value| at `scale`. Preconditions (unchecked, hot path): value finite and not
 * zero; scale an integer in [MIN_SCALE, MAX_SCALE]. Negative values map by their magnitude
 * directly (the sign bit is ignored), so callers need not allocate -value.
 */
export function mapToIndex(value: number, scale: number): number {
  scratchFloat[0] = value;
  const high = scratchWords[HIGH_WORD];
  const biasedExponent = (high & EXPONENT_MASK) >>> 20;
  // Subnormals and the top binade need extra care; keeping them out of line keeps this function
  // small enough for V8 to inline into record(), so no boxed double is allocated per call.
  if (biasedExponent === 0 || biasedExponent === TOP_BIASED_EXPONENT) return mapEdgeToIndex(Math.abs(value), scale);
  const isPowerOfTwo = (high & HIGH_SIGNIFICAND_MASK) === 0 && scratchWords[LOW_WORD] === 0;
  if (scale <= 0) return (biasedExponent - EXPONENT_BIAS - (isPowerOfTwo ? 1 : 0)) >> -scale;
  // log() is inexact at powers of two, which are bucket boundaries at every scale.
  if (isPowerOfTwo) return ((biasedExponent - EXPONENT_BIAS) << scale) - 1;
  return Math.floor(Math.log(Math.abs(value)) * SCALE_FACTORS[scale - MIN_SCALE]);
}

/** mapToIndex for subnormals and values >= 2^1023 (the SDK's min-normal and max-float cases). */
function mapEdgeToIndex(value: number, scale: number): number {
  if (value < MIN_NORMAL) return lowestIndex(scale);
  // value is in [2^1023, MAX_VALUE]: 2^1023 is the lower edge of the top binade.
  if (scale <= 0) return (value === 2 ** MAX_NORMAL_EXPONENT ? MAX_NORMAL_EXPONENT - 1 : MAX_NORMAL_EXPONENT) >> -scale;
  if (value === 2 ** MAX_NORMAL_EXPONENT) return (MAX_NORMAL_EXPONENT << scale) - 1;
  const index = Math.floor(Math.log(value) * SCALE_FACTORS[scale - MIN_SCALE]);
  const top = highestIndex(scale);
  return index >= top ? top : index;
}

/** Smallest index `mapToIndex` returns at `scale` (the bucket subnormals fall into). */
export function lowestIndex(scale: number): number {
  if (scale > 0) return (MIN_NORMAL_EXPONENT << scale) - 1;
  // 2^-1022 is the upper edge of its bucket unless that bucket starts exactly at 2^-1022.
  const shift = -scale;
  return (MIN_NORMAL_EXPONENT >> shift) - (shift < 2 ? 1 : 0);
}

/** Largest index `mapToIndex` returns at `scale` (the bucket Number.MAX_VALUE falls into). */
export function highestIndex(scale: number): number {
  if (scale > 0) return ((MAX_NORMAL_EXPONENT + 1) << scale) - 1;
  return MAX_NORMAL_EXPONENT >> -scale;
}

/**
 * Lower (exclusive) boundary of bucket `index` at `scale`, as the SDK computes it. Defined for
 * lowestIndex(scale) <= index <= highestIndex(scale); anything else is a caller bug.
 */
export function lowerBoundary(index: number, scale: number): number {
  assertIndexInRange(index, scale);
  if (scale <= 0) return 2 ** (index << -scale);
  const scaleFactor = SCALE_FACTORS[scale - MIN_SCALE];
  // Near both ends exp() of the direct formula would overflow or lose the normal range, so the
  // SDK computes one power of two closer to 1 and rescales.
  if (index === highestIndex(scale)) return 2 * Math.exp((index - (1 << scale)) / scaleFactor);
  const minNormalIndex = MIN_NORMAL_EXPONENT << scale;
  if (index === minNormalIndex) return MIN_NORMAL;
  if (index === minNormalIndex - 1) return Math.exp((index + (1 << scale)) / scaleFactor) / 2;
  return Math.exp(index * INVERSE_FACTORS[scale - MIN_SCALE]);
}

/**
 * Upper (inclusive) boundary of bucket `index`: the next bucket's lower boundary, or
 * Number.MAX_VALUE for the top bucket (its true edge, 2^1024, is not a finite double and no
 * finite value lies above MAX_VALUE).
 */
export function upperBoundary(index: number, scale: number): number {
  if (index === highestIndex(scale)) return Number.MAX_VALUE;
  return lowerBoundary(index + 1, scale);
}

function assertIndexInRange(index: number, scale: number): void {
  if (!Number.isInteger(scale) || scale < MIN_SCALE || scale > MAX_SCALE) {
    throw new RangeError(`BUG: exponential histogram scale must be an integer in [${MIN_SCALE}, ${MAX_SCALE}] (got ${scale})`);
  }
  const low = lowestIndex(scale);
  const high = highestIndex(scale);
  if (!Number.isInteger(index) || index < low || index > high) {
    throw new RangeError(`BUG: bucket index at scale ${scale} must be in [${low}, ${high}] (got ${index})`);
  }
}
