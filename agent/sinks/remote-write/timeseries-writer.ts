/**
 * Writes single `WriteRequest.timeseries` entries (field 1) by hand, sizes first so every length
 * prefix is written before its body and nothing is copied twice.
 *
 * Byte layout of one entry (prompb, PROTOCOLS.md §1.2; fields in number order, as protobufjs and
 * Go write them):
 *   0a len TimeSeries{
 *     (0a len Label{0a len name, 12 len value})*          pre-encoded, sorted (series-labels.ts)
 *     12 len Sample{09 value:double, 10 timestamp:int64}   float series, or
 *     22 len Histogram{…}                                  native histogram series
 *   }
 * proto3 defaults are left out (value +0, timestamp 0, schema 0, zero_threshold 0, …) except the
 * oneof members count_int/count_float and zero_count_int/zero_count_float, which are always
 * written because their presence says which flavour the histogram is (Prometheus writes them
 * the same way).
 *
 * Stale markers: the value bytes are the Prometheus stale NaN 0x7ff0000000000002, written as raw
 * little-endian bytes 02 00 00 00 00 00 f0 7f. Never through a JS number: Bun's engine (JSC)
 * canonicalises NaN payloads, so the marker would arrive as an ordinary NaN and be stored as a
 * value instead of ending the series.
 */
import { ProtobufWriter, tagSize, varintSize, zigzag } from "../../codec/protobuf-writer";
import type { NativeBucketRun, NativeHistogramBuilder } from "./native-histogram";

/** Prometheus' stale NaN, as it goes on the wire (little-endian). Never handed out: see below. */
const STALE_NAN_WIRE = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f);

/** A copy of the stale NaN's wire bytes (a copy, so no caller can corrupt every marker). */
export function staleNanBytes(): Uint8Array {
  return STALE_NAN_WIRE.slice();
}

const WRITE_REQUEST_TIMESERIES = 1;
const TIMESERIES_SAMPLES = 2;
const TIMESERIES_HISTOGRAMS = 4;
const SAMPLE_VALUE = 1;
const SAMPLE_TIMESTAMP = 2;
const HISTOGRAM = {
  countInt: 1,
  countFloat: 2,
  sum: 3,
  schema: 4,
  zeroThreshold: 5,
  zeroCountInt: 6,
  zeroCountFloat: 7,
  negativeSpans: 8,
  negativeDeltas: 9,
  negativeCounts: 10,
  positiveSpans: 11,
  positiveDeltas: 12,
  positiveCounts: 13,
  timestamp: 15,
} as const;
const SPAN_OFFSET = 1;
const SPAN_LENGTH = 2;

/** Bytes of a double field (tag + 8). */
const DOUBLE_FIELD = 9;

/** A value for a sample: a number, or the stale marker. */
export type SampleValue = number | typeof STALE;
export const STALE: unique symbol = Symbol("stale");

export class TimeSeriesWriter {
  private timestampMs = 0;
  /** Bytes of the timestamp field (tag + varint), 0 when the timestamp is 0. */
  private timestampFieldBytes = 0;

  constructor(private readonly out: ProtobufWriter) {}

  /** Sets the timestamp of everything written next (ms since epoch, a safe integer). */
  setTimestamp(timestampMs: number): void {
    this.timestampMs = timestampMs;
    this.timestampFieldBytes = timestampMs === 0 ? 0 : 1 + (timestampMs > 0 ? varintSize(timestampMs) : 10);
  }

  /**
   * A float series: labels are the concatenation of `labelRuns` (already-encoded Label fields).
   * Returns the bytes written.
   */
  writeSample(labelRuns: readonly Uint8Array[], value: SampleValue): number {
    const labelBytes = totalLength(labelRuns);
    const sampleBytes = (value === STALE || !Object.is(value, 0) ? DOUBLE_FIELD : 0) + this.timestampFieldBytes;
    const body = labelBytes + embeddedSize(sampleBytes);
    const start = this.out.length;
    this.out.lengthPrefix(WRITE_REQUEST_TIMESERIES, body);
    for (const run of labelRuns) this.out.writeRawBytes(run);
    this.out.lengthPrefix(TIMESERIES_SAMPLES, sampleBytes);
    if (value === STALE) this.out.fixed64BytesField(SAMPLE_VALUE, STALE_NAN_WIRE);
    else this.out.doubleField(SAMPLE_VALUE, value);
    this.out.int64Field(SAMPLE_TIMESTAMP, this.timestampMs);
    return this.checkWritten(start, body);
  }

  /** A float series whose labels are one run (the common case, kept allocation-free). */
  writeSampleWithLabels(labels: Uint8Array, value: number): number {
    const sampleBytes = (Object.is(value, 0) ? 0 : DOUBLE_FIELD) + this.timestampFieldBytes;
    const body = labels.length + embeddedSize(sampleBytes);
    const start = this.out.length;
    this.out.lengthPrefix(WRITE_REQUEST_TIMESERIES, body);
    this.out.writeRawBytes(labels);
    this.out.lengthPrefix(TIMESERIES_SAMPLES, sampleBytes);
    this.out.doubleField(SAMPLE_VALUE, value);
    this.out.int64Field(SAMPLE_TIMESTAMP, this.timestampMs);
    return this.checkWritten(start, body);
  }

  /** A native histogram series, from a builder holding the converted histogram. */
  writeHistogram(labels: Uint8Array, h: NativeHistogramBuilder): number {
    const histogramBytes = this.histogramSize(h);
    const body = labels.length + embeddedSize(histogramBytes);
    const start = this.out.length;
    const w = this.out;
    w.lengthPrefix(WRITE_REQUEST_TIMESERIES, body);
    w.writeRawBytes(labels);
    w.lengthPrefix(TIMESERIES_HISTOGRAMS, histogramBytes);
    if (h.isFloat) w.doubleField(HISTOGRAM.countFloat, h.count, true);
    else w.varintField(HISTOGRAM.countInt, h.count, true);
    w.doubleField(HISTOGRAM.sum, h.sum);
    w.sint32Field(HISTOGRAM.schema, h.schema);
    w.doubleField(HISTOGRAM.zeroThreshold, h.zeroThreshold);
    if (h.isFloat) w.doubleField(HISTOGRAM.zeroCountFloat, h.zeroCount, true);
    else w.varintField(HISTOGRAM.zeroCountInt, h.zeroCount, true);
    this.writeBuckets(h.negative, h.isFloat, HISTOGRAM.negativeSpans, HISTOGRAM.negativeDeltas, HISTOGRAM.negativeCounts);
    this.writeBuckets(h.positive, h.isFloat, HISTOGRAM.positiveSpans, HISTOGRAM.positiveDeltas, HISTOGRAM.positiveCounts);
    w.int64Field(HISTOGRAM.timestamp, this.timestampMs);
    return this.checkWritten(start, body);
  }

  /**
   * The stale marker of a native histogram series: an integer histogram with count 0, no
   * buckets and sum = stale NaN. This is what Prometheus' TSDB stores when a native series goes
   * stale (`histogram.Histogram{Sum: StaleNaN}`) and what its own remote-write sender forwards;
   * receivers recognise it by the sum alone (schema and buckets don't matter, and a NaN sum
   * relaxes the count check to count ≥ Σ buckets).
   */
  writeStaleHistogram(labels: Uint8Array): number {
    const histogramBytes = 2 + DOUBLE_FIELD + 2 + this.timestampFieldBytes;
    const body = labels.length + embeddedSize(histogramBytes);
    const start = this.out.length;
    const w = this.out;
    w.lengthPrefix(WRITE_REQUEST_TIMESERIES, body);
    w.writeRawBytes(labels);
    w.lengthPrefix(TIMESERIES_HISTOGRAMS, histogramBytes);
    w.varintField(HISTOGRAM.countInt, 0, true);
    w.fixed64BytesField(HISTOGRAM.sum, STALE_NAN_WIRE);
    w.varintField(HISTOGRAM.zeroCountInt, 0, true);
    w.int64Field(HISTOGRAM.timestamp, this.timestampMs);
    return this.checkWritten(start, body);
  }

  private histogramSize(h: NativeHistogramBuilder): number {
    let n = h.isFloat ? DOUBLE_FIELD : 1 + varintSize(h.count);
    if (!Object.is(h.sum, 0)) n += DOUBLE_FIELD;
    if (h.schema !== 0) n += 1 + varintSize(zigzag(h.schema));
    if (!Object.is(h.zeroThreshold, 0)) n += DOUBLE_FIELD;
    n += h.isFloat ? DOUBLE_FIELD : 1 + varintSize(h.zeroCount);
    n += bucketsSize(h.negative, h.isFloat, HISTOGRAM.negativeSpans, HISTOGRAM.negativeDeltas);
    n += bucketsSize(h.positive, h.isFloat, HISTOGRAM.positiveSpans, HISTOGRAM.positiveDeltas);
    return n + this.timestampFieldBytes;
  }

  private writeBuckets(b: NativeBucketRun, isFloat: boolean, spansField: number, deltasField: number, countsField: number): void {
    const w = this.out;
    for (let i = 0; i < b.spanCount; i++) {
      const offset = b.spanOffsets[i];
      const length = b.spanLengths[i];
      w.lengthPrefix(spansField, spanSize(offset, length));
      w.sint32Field(SPAN_OFFSET, offset);
      w.varintField(SPAN_LENGTH, length);
    }
    if (isFloat) w.packedDoubleField(countsField, b.counts, 0, b.bucketCount);
    else w.packedVarintField(deltasField, b.zigzagDeltas, 0, b.bucketCount, b.deltaBytes);
  }

  private checkWritten(start: number, body: number): number {
    const written = this.out.length - start;
    if (written !== tagSize(WRITE_REQUEST_TIMESERIES) + varintSize(body) + body) {
      throw new Error(`BUG: TimeSeries size ${body} computed, ${written} bytes written`);
    }
    return written;
  }
}

/** Bytes of an embedded message field (tag < 16) holding `bodyBytes`. */
function embeddedSize(bodyBytes: number): number {
  return 1 + varintSize(bodyBytes) + bodyBytes;
}

function totalLength(runs: readonly Uint8Array[]): number {
  let n = 0;
  for (const r of runs) n += r.length;
  return n;
}

function spanSize(offset: number, length: number): number {
  return (offset === 0 ? 0 : 1 + varintSize(zigzag(offset))) + (length === 0 ? 0 : 1 + varintSize(length));
}

function bucketsSize(b: NativeBucketRun, isFloat: boolean, spansField: number, deltasField: number): number {
  let n = 0;
  for (let i = 0; i < b.spanCount; i++) {
    const size = spanSize(b.spanOffsets[i], b.spanLengths[i]);
    n += tagSize(spansField) + varintSize(size) + size;
  }
  if (b.bucketCount === 0) return n;
  const payload = isFloat ? b.bucketCount * 8 : b.deltaBytes;
  return n + tagSize(deltasField) + varintSize(payload) + payload;
}
