/**
 * Writes one aggregated series as one OTLP data point message body (PROTOCOLS.md §2–3), without
 * the enclosing tag and length: otlp-encoder.ts sizes and frames it.
 *
 * Fields are written in field-number order with proto3 defaults skipped, so the bytes equal
 * what protobufjs (and Go) produce for the same message; fields with presence are written even
 * when zero (`as_double`, the optional `sum`/`min`/`max`, an empty attribute string value).
 *
 *   NumberDataPoint            start_time 2 · time 3 · as_double 4 · attributes 7
 *   HistogramDataPoint         start_time 2 · time 3 · count 4 · sum 5 (unless NaN) ·
 *                              bucket_counts 6 (packed fixed64) · explicit_bounds 7 · attributes 9
 *   ExponentialHistogramDataPoint
 *                              attributes 1 · start_time 2 · time 3 · count 4 · sum 5 (unless
 *                              NaN) · scale 6 · zero_count 7 · positive 8 · negative 9 ·
 *                              min 12 · max 13 (when finite) · zero_threshold 14
 *   Buckets                    offset 1 (sint32) · bucket_counts 2 (packed uint64)
 *
 * Times are fixed64 nanoseconds computed exactly (BigInt), never through a float: ms·1e6 is
 * past 2^53 for any current date. OTLP counts are integers; a StatsD sample rate can leave
 * fractional bucket counts in the aggregator, so bucket counts are rounded and `count`
 * recomputed from them (zero_count + Σ buckets), keeping the point self-consistent.
 */
import { ProtobufWriter, tagSize, utf8Length, varintSize } from "../../codec/protobuf-writer";
import type { SeriesSnapshot } from "../../aggregate/aggregator";
import type { ExplicitHistogramData, ExpoBuckets, ExpoHistogramData } from "../../core/points";

const TWO_POW_32 = 2 ** 32;
/** Largest ms timestamp whose nanoseconds fit in a uint64 (year 2554). */
const MAX_NANOS_MS = 18_446_744_073_709;

const NUMBER_POINT = { startTime: 2, time: 3, asDouble: 4, attributes: 7 } as const;
const HISTOGRAM_POINT = { startTime: 2, time: 3, count: 4, sum: 5, bucketCounts: 6, explicitBounds: 7, attributes: 9 } as const;
const EXPO_POINT = {
  attributes: 1,
  startTime: 2,
  time: 3,
  count: 4,
  sum: 5,
  scale: 6,
  zeroCount: 7,
  positive: 8,
  negative: 9,
  min: 12,
  max: 13,
  zeroThreshold: 14,
} as const;
const BUCKETS = { offset: 1, bucketCounts: 2 } as const;
const KEY_VALUE = { key: 1, value: 2 } as const;
const ANY_VALUE_STRING = 1;

/** The point times of one export, as fixed64 bytes (little-endian); undefined for 0 (unset). */
export interface PointTimes {
  startTime: Uint8Array | undefined;
  time: Uint8Array | undefined;
}

/** Exact fixed64 nanoseconds of a ms timestamp; throws for a value no caller should pass. */
export function nanosFixed64(timestampMs: number, what: string): Uint8Array | undefined {
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0 || timestampMs > MAX_NANOS_MS) {
    throw new Error(`BUG: ${what} must be whole non-negative ms that fit uint64 nanoseconds (got ${timestampMs})`);
  }
  if (timestampMs === 0) return undefined;
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(timestampMs) * 1_000_000n, true);
  return bytes;
}

/** Writes the data point body of `s` (its kind decides the message type). */
export function writeDataPoint(w: ProtobufWriter, s: SeriesSnapshot, times: PointTimes): void {
  switch (s.kind) {
    case "counter":
    case "gauge":
      return writeNumberPoint(w, s, times);
    case "explicit":
      return writeHistogramPoint(w, s, s.explicit ?? missing(s), times);
    case "expo":
      return writeExpoPoint(w, s, s.expo ?? missing(s), times);
  }
}

function missing(s: SeriesSnapshot): never {
  throw new Error(`BUG: ${s.kind} series ${s.name} has no histogram data`);
}

function writeNumberPoint(w: ProtobufWriter, s: SeriesSnapshot, times: PointTimes): void {
  writeTimes(w, NUMBER_POINT.startTime, NUMBER_POINT.time, times);
  w.doubleField(NUMBER_POINT.asDouble, s.value, true); // oneof member: 0 must be on the wire
  writeAttributes(w, NUMBER_POINT.attributes, s.labels);
}

function writeHistogramPoint(w: ProtobufWriter, s: SeriesSnapshot, d: ExplicitHistogramData, times: PointTimes): void {
  writeTimes(w, HISTOGRAM_POINT.startTime, HISTOGRAM_POINT.time, times);
  const counts = d.counts.map(roundCount);
  const count = counts.length === 0 ? roundCount(d.count) : counts.reduce((a, b) => a + b, 0);
  writeFixed64Field(w, HISTOGRAM_POINT.count, count);
  if (!Number.isNaN(d.sum)) w.doubleField(HISTOGRAM_POINT.sum, d.sum, true);
  if (counts.length > 0) w.bytesField(HISTOGRAM_POINT.bucketCounts, fixed64Bytes(counts)); // packed
  w.packedDoubleField(HISTOGRAM_POINT.explicitBounds, d.bounds);
  writeAttributes(w, HISTOGRAM_POINT.attributes, s.labels);
}

function writeExpoPoint(w: ProtobufWriter, s: SeriesSnapshot, d: ExpoHistogramData, times: PointTimes): void {
  const positive = d.positive.counts.map(roundCount);
  const negative = d.negative.counts.map(roundCount);
  const zeroCount = roundCount(d.zeroCount);
  const count = zeroCount + sumOf(positive) + sumOf(negative);
  writeAttributes(w, EXPO_POINT.attributes, s.labels);
  writeTimes(w, EXPO_POINT.startTime, EXPO_POINT.time, times);
  writeFixed64Field(w, EXPO_POINT.count, count);
  if (!Number.isNaN(d.sum)) w.doubleField(EXPO_POINT.sum, d.sum, true);
  w.sint32Field(EXPO_POINT.scale, d.scale);
  writeFixed64Field(w, EXPO_POINT.zeroCount, zeroCount);
  writeBuckets(w, EXPO_POINT.positive, d.positive, positive);
  writeBuckets(w, EXPO_POINT.negative, d.negative, negative);
  if (Number.isFinite(d.min)) w.doubleField(EXPO_POINT.min, d.min, true);
  if (Number.isFinite(d.max)) w.doubleField(EXPO_POINT.max, d.max, true);
  w.doubleField(EXPO_POINT.zeroThreshold, d.zeroThreshold);
}

/** A Buckets message; left out when there are no buckets (the offset means nothing then). */
function writeBuckets(w: ProtobufWriter, field: number, buckets: ExpoBuckets, counts: readonly number[]): void {
  if (counts.length === 0) return;
  const offsetBytes = buckets.offset === 0 ? 0 : tagSize(BUCKETS.offset) + varintSize(zigzag32(buckets.offset));
  let countBytes = 0;
  for (const c of counts) countBytes += varintSize(c);
  w.lengthPrefix(field, offsetBytes + tagSize(BUCKETS.bucketCounts) + varintSize(countBytes) + countBytes);
  w.sint32Field(BUCKETS.offset, buckets.offset);
  w.packedVarintField(BUCKETS.bucketCounts, counts, 0, counts.length, countBytes);
}

function writeTimes(w: ProtobufWriter, startField: number, timeField: number, times: PointTimes): void {
  if (times.startTime !== undefined) w.fixed64BytesField(startField, times.startTime);
  if (times.time !== undefined) w.fixed64BytesField(timeField, times.time);
}

/** KeyValue{key, AnyValue{string_value}} per label; the value is written even when empty. */
function writeAttributes(w: ProtobufWriter, field: number, labels: readonly (readonly [string, string])[]): void {
  for (const [key, value] of labels) {
    const valueBytes = utf8Length(value);
    const anyValueBytes = tagSize(ANY_VALUE_STRING) + varintSize(valueBytes) + valueBytes;
    w.lengthPrefix(field, stringFieldSize(KEY_VALUE.key, key) + tagSize(KEY_VALUE.value) + varintSize(anyValueBytes) + anyValueBytes);
    w.stringField(KEY_VALUE.key, key);
    w.lengthPrefix(KEY_VALUE.value, anyValueBytes);
    if (valueBytes === 0) w.lengthPrefix(ANY_VALUE_STRING, 0);
    else w.stringField(ANY_VALUE_STRING, value);
  }
}

/** Bytes of a string field as ProtobufWriter.stringField writes it ("" is skipped). */
export function stringFieldSize(field: number, value: string): number {
  const n = utf8Length(value);
  return n === 0 ? 0 : tagSize(field) + varintSize(n) + n;
}

/** A fixed64 field from a count; 0 is skipped (proto3 default). */
function writeFixed64Field(w: ProtobufWriter, field: number, value: number): void {
  if (value !== 0) w.fixed64BytesField(field, fixed64Bytes([value]));
}

/** Non-negative integers below 2^64 as 8 little-endian bytes each (both halves exact). */
function fixed64Bytes(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    view.setUint32(i * 8, values[i] % TWO_POW_32, true);
    view.setUint32(i * 8 + 4, Math.floor(values[i] / TWO_POW_32), true);
  }
  return bytes;
}

/** An OTLP count: a non-negative integer (fractional weights from sample rates are rounded). */
function roundCount(value: number): number {
  return value > 0 ? Math.min(Math.round(value), Number.MAX_SAFE_INTEGER) : 0;
}

function sumOf(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

function zigzag32(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}
