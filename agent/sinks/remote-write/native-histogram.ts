/**
 * OpenTelemetry exponential histogram → Prometheus native histogram (remote write `Histogram`),
 * following the OTel compatibility spec and Prometheus' otlptranslator (PROTOCOLS.md §2.1).
 *
 * - schema = scale clamped to [-4, 8]. Above 8 the buckets are merged by d = scale - 8 halvings.
 *   Below -4 there is no conversion (a bucket cannot be split): the conversion reports failure
 *   and the encoder sends that series as classic `le` buckets instead.
 * - Index shift: OTel bucket i covers (base^i, base^(i+1)], Prometheus bucket j covers
 *   (base^(j-1), base^j], so j = i + 1; with downscaling j = (i >> d) + 1 (shift in OTel space,
 *   then add one).
 * - Buckets are a sparse list: populated buckets only, a new span at every gap (the spec's
 *   worked examples; Prometheus accepts gap-filled spans too), first span offset = first index,
 *   later offsets = empty buckets skipped. Integer counts are delta-encoded (first absolute,
 *   then difference to the previous populated bucket, across spans).
 * - count is recomputed as zeroCount + Σ buckets, so Prometheus' exact check
 *   `count == zero_count + Σ buckets` holds by construction (ExpoHistogram keeps the same
 *   invariant; recomputing also protects against a sender's inconsistent count).
 * - Integer flavour when every count is an integer; otherwise (StatsD sample rates such as @0.3
 *   give fractional weights; or a count ≥ 2^52, past exact integer deltas) the float flavour
 *   with absolute counts, which Prometheus stores as a float histogram.
 * - zero_threshold: the histogram's own threshold, 0 included. Our zero bucket with threshold 0
 *   holds exact zeros only, and our regular buckets reach down to 2^-1022, so writing
 *   Prometheus' translator default 1e-128 would claim that populated regular buckets lie inside
 *   the zero bucket. The compat spec says to copy the threshold when set; the translator writes
 *   1e-128 only because OTLP lacked the field when it was written (a TODO in its code). A
 *   threshold > 0 (widened by merging OTLP points) may fall inside a merged bucket after
 *   downscaling; every observation in that bucket is still above the threshold (the finer
 *   buckets below it were folded into the zero bucket before), so the counts stay exact.
 * - min/max are dropped (no field); reset_hint stays UNKNOWN (a wrong NO corrupts Prometheus'
 *   counter-reset detection).
 *
 * Two forms of the same conversion: NativeHistogramBuilder fills reusable typed arrays (the
 * encoder's hot path: no allocation once warm, wire sizes computed on the way), and
 * toNativeHistogram copies a builder's result into plain arrays (tests, tools, benches).
 */
import { varintSize, zigzag } from "../../codec/protobuf-writer";
import type { ExpoBuckets, ExpoHistogramData } from "../../core/points";

export const NATIVE_MIN_SCHEMA = -4;
export const NATIVE_MAX_SCHEMA = 8;
/** Counts from here on cannot be delta-encoded exactly as JS numbers: send a float histogram. */
const MAX_EXACT_COUNT = 2 ** 52;

export interface NativeSpan {
  offset: number;
  length: number;
}

export interface NativeBuckets {
  spans: NativeSpan[];
  /** Populated buckets' counts, in index order (absolute). */
  counts: number[];
}

export interface NativeHistogram {
  schema: number;
  zeroThreshold: number;
  zeroCount: number;
  /** zeroCount + Σ positive + Σ negative. */
  count: number;
  sum: number;
  /** True when some count is not an integer: send count_float / *_counts. */
  isFloat: boolean;
  positive: NativeBuckets;
  negative: NativeBuckets;
}

/** The native form of `d` as plain arrays, or undefined when its scale is below -4. */
export function toNativeHistogram(d: ExpoHistogramData): NativeHistogram | undefined {
  const b = new NativeHistogramBuilder();
  if (!b.build(d)) return undefined;
  return {
    schema: b.schema,
    zeroThreshold: b.zeroThreshold,
    zeroCount: b.zeroCount,
    count: b.count,
    sum: b.sum,
    isFloat: b.isFloat,
    positive: b.positive.toBuckets(),
    negative: b.negative.toBuckets(),
  };
}

/** One sign's dense OTel buckets as Prometheus spans + counts, merged by `downscale` halvings. */
export function toNativeBuckets(b: ExpoBuckets, downscale: number): NativeBuckets {
  const run = new NativeBucketRun();
  run.fill(b, downscale);
  return run.toBuckets();
}

/** Delta encoding of absolute counts: first as is, then each minus the previous. */
export function toDeltas(counts: readonly number[]): number[] {
  const deltas: number[] = new Array(counts.length);
  let previous = 0;
  for (let i = 0; i < counts.length; i++) {
    deltas[i] = counts[i] - previous;
    previous = counts[i];
  }
  return deltas;
}

/** Converts histograms into reusable storage; read the fields after a successful build(). */
export class NativeHistogramBuilder {
  schema = 0;
  zeroThreshold = 0;
  zeroCount = 0;
  count = 0;
  sum = 0;
  isFloat = false;
  readonly positive = new NativeBucketRun();
  readonly negative = new NativeBucketRun();

  /** Converts `d`; false (nothing usable) when its scale is below -4. */
  build(d: ExpoHistogramData): boolean {
    if (d.scale < NATIVE_MIN_SCHEMA) return false;
    this.schema = Math.min(d.scale, NATIVE_MAX_SCHEMA);
    const downscale = d.scale - this.schema;
    this.positive.fill(d.positive, downscale);
    this.negative.fill(d.negative, downscale);
    this.zeroThreshold = d.zeroThreshold;
    this.zeroCount = d.zeroCount;
    this.count = d.zeroCount + this.positive.total + this.negative.total;
    this.sum = d.sum;
    this.isFloat = !Number.isInteger(d.zeroCount) || this.count >= MAX_EXACT_COUNT || this.positive.needsFloat || this.negative.needsFloat;
    return true;
  }
}

/** One sign's sparse buckets: spans, absolute counts, and the zigzag deltas ready to write. */
export class NativeBucketRun {
  spanCount = 0;
  spanOffsets = new Int32Array(0);
  spanLengths = new Int32Array(0);
  bucketCount = 0;
  counts = new Float64Array(0);
  /** zigzag(count - previous count): the sint64 deltas' varint values. */
  zigzagDeltas = new Float64Array(0);
  /** Σ varint bytes of zigzagDeltas (meaningful for integer counts). */
  deltaBytes = 0;
  total = 0;
  /** Some count is fractional or too big for exact integer deltas (≥ 2^52). */
  needsFloat = false;
  /**
   * Dense OTel buckets → Prometheus spans + counts, merged by `downscale` halvings. One pass,
   * written out flat (no per-bucket calls) because JSC does not inline as eagerly as V8.
   */
  fill(b: ExpoBuckets, downscale: number): void {
    const dense = b.counts;
    const n = dense.length;
    // At most one native bucket and one span per dense bucket: size the storage once.
    if (this.counts.length < n) {
      this.counts = new Float64Array(n);
      this.zigzagDeltas = new Float64Array(n);
    }
    if (this.spanOffsets.length < n) {
      this.spanOffsets = new Int32Array(n);
      this.spanLengths = new Int32Array(n);
    }
    const counts = this.counts;
    const zigzagDeltas = this.zigzagDeltas;
    const spanOffsets = this.spanOffsets;
    const spanLengths = this.spanLengths;
    let bucketCount = 0;
    let spanCount = 0;
    let deltaBytes = 0;
    let total = 0;
    let needsFloat = false;
    let lastIndex = 0; // Prometheus index of the last bucket appended
    let current = 0; // Prometheus index of the bucket being summed
    let sum = 0;
    let hasCurrent = false;
    for (let j = 0; j <= n; j++) {
      let index = 0;
      let c = 0;
      if (j < n) {
        c = dense[j];
        if (c === 0) continue;
        index = shiftDown(b.offset + j, downscale) + 1;
        if (hasCurrent && index === current) {
          sum += c;
          continue;
        }
      }
      if (hasCurrent) {
        // Append bucket `current` with population `sum`.
        if (bucketCount === 0) {
          spanOffsets[0] = current;
          spanLengths[0] = 1;
          spanCount = 1;
        } else if (current === lastIndex + 1) {
          spanLengths[spanCount - 1]++;
        } else {
          spanOffsets[spanCount] = current - lastIndex - 1;
          spanLengths[spanCount] = 1;
          spanCount++;
        }
        lastIndex = current;
        const zz = zigzag(sum - (bucketCount === 0 ? 0 : counts[bucketCount - 1]));
        counts[bucketCount] = sum;
        zigzagDeltas[bucketCount] = zz;
        deltaBytes += zz < 0x80 ? 1 : varintSize(zz);
        total += sum;
        if (Math.floor(sum) !== sum || sum >= MAX_EXACT_COUNT) needsFloat = true;
        bucketCount++;
      }
      if (j === n) break;
      current = index;
      sum = c;
      hasCurrent = true;
    }
    this.bucketCount = bucketCount;
    this.spanCount = spanCount;
    this.deltaBytes = deltaBytes;
    this.total = total;
    this.needsFloat = needsFloat;
  }

  toBuckets(): NativeBuckets {
    const spans: NativeSpan[] = [];
    for (let i = 0; i < this.spanCount; i++) spans.push({ offset: this.spanOffsets[i], length: this.spanLengths[i] });
    return { spans, counts: Array.from(this.counts.subarray(0, this.bucketCount)) };
  }
}

/** floor(index / 2^by): an arithmetic shift that stays right for any int32 index and by ≥ 0. */
function shiftDown(index: number, by: number): number {
  if (by === 0) return index;
  if (by < 32) return index >> by;
  return index < 0 ? -1 : 0;
}
