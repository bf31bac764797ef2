/**
 * Base-2 exponential histogram (OpenTelemetry data model, OTel indexing) that the aggregator
 * records observations into and merges OTLP points into.
 *
 * State: scale, zero bucket (|v| <= zeroThreshold, 0 unless widened by a merge), and one dense
 * bucket run per sign (negatives by |v|), plus count/sum/min/max.
 * Invariants:
 * - count === zeroCount + Σ positive + Σ negative (exact while counts stay integers < 2^53).
 * - Each sign spans at most maxSize buckets. A histogram starts at maxScale; when a new index
 *   would need more, both signs are downscaled together by the fewest halvings that fit (the
 *   SDK algorithm: index >> change). The one exception: downscaling never goes below minScale,
 *   and a run grows past maxSize rather than dropping data (never with the default -10, where
 *   two buckets cover every double).
 * - NaN and ±Inf are refused (record returns false) and touch nothing, sum/min/max included.
 * Storage: per sign a Float64Array plus an index offset, grown geometrically; record() allocates
 * nothing once the range is stable. Everything is in memory: persist with toData() + expoToJson().
 */
import type { ExpoBuckets, ExpoHistogramData } from "../core/points";
import { err, ok, type Result } from "../core/result";
import { highestIndex, lowerBoundary, lowestIndex, mapToIndex, MAX_SCALE, MIN_SCALE, upperBoundary } from "./expo-mapping";

export interface ExpoHistogramOptions {
  /** Buckets per sign, zero bucket not counted. Default 160; at least 2. */
  maxSize?: number;
  /** Scale an empty histogram starts at. Default 20 (MAX_SCALE). */
  maxScale?: number;
  /** Lowest scale bucket pressure may downscale to. Default -10 (MIN_SCALE). */
  minScale?: number;
}

export const DEFAULT_MAX_SIZE = 160;
const MIN_MAX_SIZE = 2;
const INITIAL_CAPACITY = 8;
/** Scales above this in merged data would make buckets narrower than an ulp. */
const MAX_DATA_SCALE = 52;

export class ExpoHistogram {
  private readonly maxSize: number;
  private readonly maxScale: number;
  private readonly minScale: number;
  private currentScale: number;
  private threshold = 0;
  private zeroTotal = 0;
  private countTotal = 0;
  private sumTotal = 0;
  private minSeen = Number.POSITIVE_INFINITY;
  private maxSeen = Number.NEGATIVE_INFINITY;
  private readonly positive = new BucketRun();
  private readonly negative = new BucketRun();

  constructor(opts: ExpoHistogramOptions = {}) {
    this.maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
    this.maxScale = opts.maxScale ?? MAX_SCALE;
    this.minScale = opts.minScale ?? MIN_SCALE;
    assertOptions(this.maxSize, this.maxScale, this.minScale);
    this.currentScale = this.maxScale;
  }

  /** A histogram holding `d` (a copy). Throws on malformed data: validate external input first. */
  static fromData(d: ExpoHistogramData, opts?: ExpoHistogramOptions): ExpoHistogram {
    const h = new ExpoHistogram(opts);
    if (Number.isInteger(d.scale)) h.currentScale = Math.max(Math.min(d.scale, h.maxScale), MIN_SCALE);
    if (!h.merge(d)) {
      const reason = describeInvalid(d) ?? `bucket indexes out of range at scale ${d.scale}`;
      throw new Error(`BUG: ExpoHistogram.fromData got invalid data: ${reason}`);
    }
    return h;
  }

  get scale(): number {
    return this.currentScale;
  }
  get zeroThreshold(): number {
    return this.threshold;
  }
  get zeroCount(): number {
    return this.zeroTotal;
  }
  get count(): number {
    return this.countTotal;
  }
  get sum(): number {
    return this.sumTotal;
  }
  /** +Inf when empty. */
  get min(): number {
    return this.minSeen;
  }
  /** -Inf when empty. */
  get max(): number {
    return this.maxSeen;
  }

  /**
   * Records `value` with `weight` (a count; keep it an integer for exact exported counts).
   * Returns false, changing nothing, for NaN/±Inf values and weights that are not finite and > 0.
   */
  record(value: number, weight = 1): boolean {
    if (!Number.isFinite(value) || !(weight > 0 && weight < Number.POSITIVE_INFINITY)) return false;
    this.countTotal += weight;
    this.sumTotal += value * weight;
    if (value < this.minSeen) this.minSeen = value;
    if (value > this.maxSeen) this.maxSeen = value;
    let run: BucketRun;
    if (value > this.threshold) run = this.positive;
    else if (value < -this.threshold) run = this.negative;
    else {
      this.zeroTotal += weight;
      return true;
    }
    // mapToIndex maps |value| itself: computing -value here would allocate a boxed double.
    const index = mapToIndex(value, this.currentScale);
    if (index >= run.start && index <= run.end) run.counts[index - run.base] += weight;
    else this.addOutsideRange(run, value, index, weight);
    return true;
  }

  /**
   * Adds `d` (e.g. an OTLP delta point) into this histogram: both go to the lower scale (further
   * down if the combined range exceeds maxSize), counts add per index, the zero threshold widens
   * to the larger one, min/max/sum combine. count grows by d's zeroCount + bucket counts (not
   * d.count, so the count invariant holds even for inconsistent senders).
   * Returns false, changing nothing, when `d` is malformed (see describeInvalid).
   */
  merge(d: ExpoHistogramData): boolean {
    if (describeInvalid(d) !== undefined) return false;
    const theirPositive = nonZeroRange(d.positive);
    const theirNegative = nonZeroRange(d.negative);
    const hasTheirBuckets = theirPositive !== undefined || theirNegative !== undefined;
    const hasOurBuckets = !this.positive.isEmpty() || !this.negative.isEmpty();
    // A histogram without buckets can take any scale, so it does not force the other one down.
    let target = hasOurBuckets || !hasTheirBuckets ? this.currentScale : this.maxScale;
    if (hasTheirBuckets) target = Math.min(target, d.scale);
    if (!indexesFit(d, theirPositive, theirNegative, target)) return false;

    const maxChange = Math.max(0, target - this.minScale);
    const change = Math.max(
      this.combinedChange(this.positive, d, theirPositive, target, maxChange),
      this.combinedChange(this.negative, d, theirNegative, target, maxChange),
    );
    target -= change;
    if (hasOurBuckets) this.downscale(this.currentScale - target);
    else this.currentScale = target;

    const addedPositive = this.addBuckets(this.positive, d.positive, d.scale - target);
    const addedNegative = this.addBuckets(this.negative, d.negative, d.scale - target);
    this.zeroTotal += d.zeroCount;
    const added = d.zeroCount + addedPositive + addedNegative;
    this.countTotal += added;
    this.sumTotal += d.sum;
    if (added > 0) {
      if (d.min < this.minSeen) this.minSeen = d.min;
      if (d.max > this.maxSeen) this.maxSeen = d.max;
    }
    const threshold = Math.max(this.threshold, d.zeroThreshold);
    if (threshold > 0) this.widenZeroThreshold(threshold);
    return true;
  }

  /**
   * Lowers the scale by `by` (>= 0), merging each 2^by adjacent buckets into one (index >> by).
   * Used by record/merge, and by exporters that need a coarser scale (Prometheus: <= 8).
   */
  downscale(by: number): void {
    if (by === 0) return;
    if (!Number.isInteger(by) || by < 0 || this.currentScale - by < MIN_SCALE) {
      throw new RangeError(`BUG: cannot downscale scale ${this.currentScale} by ${by} (min scale ${MIN_SCALE})`);
    }
    this.positive.downscale(by);
    this.negative.downscale(by);
    this.currentScale -= by;
  }

  /** A plain, independent copy with leading/trailing zero buckets trimmed. */
  toData(): ExpoHistogramData {
    return {
      scale: this.currentScale,
      zeroThreshold: this.threshold,
      zeroCount: this.zeroTotal,
      count: this.countTotal,
      sum: this.sumTotal,
      min: this.minSeen,
      max: this.maxSeen,
      positive: this.positive.toBuckets(),
      negative: this.negative.toBuckets(),
    };
  }

  /** Back to the empty state at maxScale with zero threshold 0; keeps the allocated storage. */
  reset(): void {
    this.currentScale = this.maxScale;
    this.threshold = 0;
    this.zeroTotal = 0;
    this.countTotal = 0;
    this.sumTotal = 0;
    this.minSeen = Number.POSITIVE_INFINITY;
    this.maxSeen = Number.NEGATIVE_INFINITY;
    this.positive.clear();
    this.negative.clear();
  }

  /** Slow path of record: the index extends the run, maybe past maxSize (then downscale). */
  private addOutsideRange(run: BucketRun, value: number, index: number, weight: number): void {
    if (this.positive.isEmpty() && this.negative.isEmpty() && this.currentScale !== this.maxScale) {
      // No buckets yet (e.g. only zeros so far): start at full resolution, like a new histogram.
      this.currentScale = this.maxScale;
      index = mapToIndex(value, this.currentScale);
    }
    // Loop, not once: at scale > 0 the mapping may differ by one from index >> change.
    while (!run.isEmpty()) {
      const change = scaleChangeFor(
        Math.min(index, run.start),
        Math.max(index, run.end),
        this.maxSize,
        this.currentScale - this.minScale,
      );
      if (change === 0) break;
      this.downscale(change);
      index = mapToIndex(value, this.currentScale);
    }
    run.include(index, this.maxSize);
    run.counts[index - run.base] += weight;
  }

  /** Halvings needed so our run and their non-zero range fit maxSize together at `target`. */
  private combinedChange(
    ours: BucketRun,
    d: ExpoHistogramData,
    theirs: IndexRange | undefined,
    target: number,
    maxChange: number,
  ): number {
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    if (!ours.isEmpty()) {
      const shift = this.currentScale - target;
      low = ours.start >> shift;
      high = ours.end >> shift;
    }
    if (theirs !== undefined) {
      const shift = d.scale - target;
      low = Math.min(low, shiftIndex(theirs.low, shift));
      high = Math.max(high, shiftIndex(theirs.high, shift));
    }
    if (low > high) return 0;
    return scaleChangeFor(low, high, this.maxSize, maxChange);
  }

  /** Adds their non-zero buckets, shifted down by `shift`; returns the count added. */
  private addBuckets(run: BucketRun, theirs: ExpoBuckets, shift: number): number {
    let added = 0;
    for (let j = 0; j < theirs.counts.length; j++) {
      const c = theirs.counts[j];
      if (c === 0) continue;
      const index = shiftIndex(theirs.offset + j, shift);
      run.include(index, this.maxSize);
      run.counts[index - run.base] += c;
      added += c;
    }
    return added;
  }

  /**
   * Folds every bucket reaching down to or below `threshold` into the zero bucket. A bucket that
   * straddles the threshold raises it to that bucket's upper boundary (as Prometheus does), so
   * the zero bucket stays [-threshold, threshold] exactly; repeat until neither sign moves it.
   */
  private widenZeroThreshold(threshold: number): void {
    for (let moved = true; moved; ) {
      moved = false;
      for (const run of [this.positive, this.negative]) {
        while (!run.isEmpty() && lowerBoundary(run.start, this.currentScale) < threshold) {
          const upper = upperBoundary(run.start, this.currentScale);
          this.zeroTotal += run.takeFirst();
          if (upper > threshold) {
            threshold = upper;
            moved = true;
          }
        }
      }
    }
    this.threshold = threshold;
  }
}

/**
 * Fewest halvings (index >> 1 each) after which [low, high] spans fewer than maxSize + 1
 * buckets, capped at maxChange (the OTel SDKs' `changeScale` / `scaleChange`).
 */
export function scaleChangeFor(low: number, high: number, maxSize: number, maxChange = MAX_SCALE - MIN_SCALE + 1): number {
  let change = 0;
  while (high - low >= maxSize && change < maxChange) {
    low >>= 1;
    high >>= 1;
    change++;
  }
  return change;
}

/**
 * One sign's buckets: the count of index i is counts[i - base] for start <= i <= end; empty
 * when start > end. Slots outside [start, end] are always zero.
 */
class BucketRun {
  counts = new Float64Array(0);
  base = 0;
  start = 0;
  end = -1;

  isEmpty(): boolean {
    return this.start > this.end;
  }

  /** Widens [start, end] to cover `index`, moving or growing the storage if needed. */
  include(index: number, maxSize: number): void {
    if (this.isEmpty()) {
      if (this.counts.length === 0) this.counts = new Float64Array(Math.min(INITIAL_CAPACITY, maxSize));
      this.base = index - (this.counts.length >> 1);
      this.start = this.end = index;
      return;
    }
    const start = Math.min(this.start, index);
    const end = Math.max(this.end, index);
    if (start < this.base || end >= this.base + this.counts.length) this.relocate(start, end, maxSize);
    this.start = start;
    this.end = end;
  }

  /** Re-centres the occupied slots in storage big enough for [start, end] (doubling, <= maxSize). */
  private relocate(start: number, end: number, maxSize: number): void {
    const needed = end - start + 1;
    let capacity = this.counts.length;
    if (capacity < needed) {
      while (capacity < needed) capacity *= 2;
      capacity = Math.max(Math.min(capacity, maxSize), needed);
    }
    const base = start - ((capacity - needed) >> 1);
    const from = this.start - this.base;
    const to = this.end - this.base + 1;
    const dest = this.start - base;
    if (capacity !== this.counts.length) {
      const grown = new Float64Array(capacity);
      grown.set(this.counts.subarray(from, to), dest);
      this.counts = grown;
    } else {
      this.counts.copyWithin(dest, from, to);
      // Zero the slots the move vacated (those outside the destination range).
      if (dest < from) this.counts.fill(0, Math.max(from, dest + to - from), to);
      else this.counts.fill(0, from, Math.min(to, dest));
    }
    this.base = base;
  }

  /** Merges each 2^by adjacent buckets in place: bucket i moves to i >> by (never rightwards). */
  downscale(by: number): void {
    if (this.isEmpty()) return;
    const counts = this.counts;
    const base = this.base >> by;
    for (let i = this.start; i <= this.end; i++) {
      const c = counts[i - this.base];
      if (c === 0) continue;
      counts[i - this.base] = 0;
      counts[(i >> by) - base] += c;
    }
    this.base = base;
    this.start >>= by;
    this.end >>= by;
  }

  /** Removes and returns the first bucket's count, then skips any zero buckets after it. */
  takeFirst(): number {
    const c = this.counts[this.start - this.base];
    this.counts[this.start - this.base] = 0;
    this.start++;
    while (this.start <= this.end && this.counts[this.start - this.base] === 0) this.start++;
    if (this.isEmpty()) this.clear();
    return c;
  }

  clear(): void {
    if (!this.isEmpty()) this.counts.fill(0, this.start - this.base, this.end - this.base + 1);
    this.start = 0;
    this.end = -1;
  }

  toBuckets(): ExpoBuckets {
    let first = this.start;
    let last = this.end;
    while (first <= last && this.counts[first - this.base] === 0) first++;
    while (last >= first && this.counts[last - this.base] === 0) last--;
    if (first > last) return { offset: 0, counts: [] };
    return { offset: first, counts: Array.from(this.counts.subarray(first - this.base, last - this.base + 1)) };
  }
}

interface IndexRange {
  low: number;
  high: number;
}

/** Indexes of the first and last non-zero bucket, or undefined when all are zero. */
function nonZeroRange(b: ExpoBuckets): IndexRange | undefined {
  let first = 0;
  let last = b.counts.length - 1;
  while (first <= last && b.counts[first] === 0) first++;
  while (last >= first && b.counts[last] === 0) last--;
  return first > last ? undefined : { low: b.offset + first, high: b.offset + last };
}

/** floor(index / 2^shift) for any safe integer and shift >= 0 (`>>` wraps past 31 bits). */
function shiftIndex(index: number, shift: number): number {
  return shift === 0 ? index : Math.floor(index / 2 ** shift);
}

/** Whether d's buckets land on valid indexes once brought down to `scale`. */
function indexesFit(d: ExpoHistogramData, pos: IndexRange | undefined, neg: IndexRange | undefined, scale: number): boolean {
  const shift = d.scale - scale;
  const low = lowestIndex(scale);
  const high = highestIndex(scale);
  for (const r of [pos, neg]) {
    if (r !== undefined && (shiftIndex(r.low, shift) < low || shiftIndex(r.high, shift) > high)) return false;
  }
  return true;
}

/** Why `d` is not a usable histogram, naming the field and value; undefined when it is. */
export function describeInvalid(d: ExpoHistogramData): string | undefined {
  if (!Number.isInteger(d.scale) || d.scale < MIN_SCALE || d.scale > MAX_DATA_SCALE) {
    return `scale must be an integer in [${MIN_SCALE}, ${MAX_DATA_SCALE}] (got ${d.scale})`;
  }
  if (!isCount(d.zeroThreshold)) return `zeroThreshold must be a finite number >= 0 (got ${d.zeroThreshold})`;
  if (!isCount(d.zeroCount)) return `zeroCount must be a finite number >= 0 (got ${d.zeroCount})`;
  for (const field of ["count", "sum", "min", "max"] as const) {
    if (typeof d[field] !== "number") return `${field} must be a number (got ${String(d[field])})`;
  }
  for (const side of ["positive", "negative"] as const) {
    const b = d[side];
    if (typeof b !== "object" || b === null || !Array.isArray(b.counts)) return `${side} must be {offset, counts[]}`;
    if (!Number.isSafeInteger(b.offset)) return `${side}.offset must be an integer (got ${b.offset})`;
    for (let j = 0; j < b.counts.length; j++) {
      if (!isCount(b.counts[j])) return `${side}.counts[${j}] must be a finite number >= 0 (got ${b.counts[j]})`;
    }
  }
  return undefined;
}

function isCount(x: unknown): boolean {
  return typeof x === "number" && Number.isFinite(x) && x >= 0;
}

function assertOptions(maxSize: number, maxScale: number, minScale: number): void {
  if (!Number.isInteger(maxSize) || maxSize < MIN_MAX_SIZE) {
    throw new RangeError(`BUG: ExpoHistogram maxSize must be an integer >= ${MIN_MAX_SIZE} (got ${maxSize})`);
  }
  if (!Number.isInteger(maxScale) || maxScale < MIN_SCALE || maxScale > MAX_SCALE) {
    throw new RangeError(`BUG: ExpoHistogram maxScale must be an integer in [${MIN_SCALE}, ${MAX_SCALE}] (got ${maxScale})`);
  }
  if (!Number.isInteger(minScale) || minScale < MIN_SCALE || minScale > maxScale) {
    throw new RangeError(`BUG: ExpoHistogram minScale must be an integer in [${MIN_SCALE}, maxScale] (got ${minScale})`);
  }
}

// ---- JSON persistence ---------------------------------------------------------------------

/** A number that survives JSON: non-finite values become the strings "Infinity", "-Infinity", "NaN". */
export type JsonSafeNumber = number | "Infinity" | "-Infinity" | "NaN";

/** ExpoHistogramData with its possibly non-finite fields (sum, min, max) made JSON-safe. */
export interface ExpoHistogramJson extends Omit<ExpoHistogramData, "sum" | "min" | "max"> {
  sum: JsonSafeNumber;
  min: JsonSafeNumber;
  max: JsonSafeNumber;
}

export interface ExpoJsonError {
  code: "EXPO_JSON_INVALID";
  message: string;
}

/**
 * JSON-safe form of `d` (JSON.stringify would turn the empty histogram's min = +Inf into null,
 * and an overflowed sum likewise).
 */
export function expoToJson(d: ExpoHistogramData): ExpoHistogramJson {
  return {
    scale: d.scale,
    zeroThreshold: d.zeroThreshold,
    zeroCount: d.zeroCount,
    count: d.count,
    sum: toJsonSafe(d.sum),
    min: toJsonSafe(d.min),
    max: toJsonSafe(d.max),
    positive: { offset: d.positive.offset, counts: d.positive.counts.slice() },
    negative: { offset: d.negative.offset, counts: d.negative.counts.slice() },
  };
}

/** Parses what expoToJson produced (after a JSON round trip); names the bad field on error. */
export function expoFromJson(json: unknown): Result<ExpoHistogramData, ExpoJsonError> {
  if (typeof json !== "object" || json === null) return invalidJson(`expected an object (got ${String(json)})`);
  const j = json as Record<string, unknown>;
  const numbers: Record<"sum" | "min" | "max", number> = { sum: 0, min: 0, max: 0 };
  for (const field of ["sum", "min", "max"] as const) {
    const n = fromJsonSafe(j[field]);
    if (n === undefined) return invalidJson(`${field} must be a number or "Infinity"/"-Infinity"/"NaN" (got ${JSON.stringify(j[field])})`);
    numbers[field] = n;
  }
  const d = {
    scale: j.scale,
    zeroThreshold: j.zeroThreshold,
    zeroCount: j.zeroCount,
    count: j.count,
    ...numbers,
    positive: copyBuckets(j.positive),
    negative: copyBuckets(j.negative),
  } as ExpoHistogramData;
  const problem = describeInvalid(d);
  if (problem !== undefined) return invalidJson(problem);
  return ok(d);
}

function toJsonSafe(x: number): JsonSafeNumber {
  if (Number.isFinite(x)) return x;
  if (Number.isNaN(x)) return "NaN";
  return x > 0 ? "Infinity" : "-Infinity";
}

function fromJsonSafe(x: unknown): number | undefined {
  if (typeof x === "number") return x;
  if (x === "Infinity") return Number.POSITIVE_INFINITY;
  if (x === "-Infinity") return Number.NEGATIVE_INFINITY;
  if (x === "NaN") return Number.NaN;
  return undefined;
}

function copyBuckets(x: unknown): unknown {
  if (typeof x !== "object" || x === null) return x;
  const b = x as Record<string, unknown>;
  return { offset: b.offset, counts: Array.isArray(b.counts) ? b.counts.slice() : b.counts };
}

function invalidJson(message: string): { ok: false; error: ExpoJsonError } {
  return err({ code: "EXPO_JSON_INVALID", message: `expo histogram json: ${message}` });
}
