/**
 * How OTLP metric data maps onto our Point model; shared by the protobuf and the JSON decoder.
 *
 * - Names: metric names keep [a-zA-Z0-9_:], label names keep [a-zA-Z0-9_]; every other code
 *   point becomes one "_", and a leading digit gets a "_" prefix.
 * - Two attributes that sanitise to the same label name are joined with ";" in arrival order
 *   (as the Collector's Prometheus translator does), so no value is silently lost.
 * - A data point that cannot be represented is counted under a reason, never thrown; the
 *   request's other points are unaffected.
 */
import type { ExplicitHistogramData, ExpoHistogramData, Labels, Point, Temporality } from "../../core/points";

export type RejectReason =
  | "unsupported_type"
  | "non_string_attribute"
  | "missing_value"
  | "invalid_utf8"
  | "invalid_name"
  | "invalid_temporality"
  | "invalid_buckets";

export interface RejectedPoints {
  count: number;
  reasons: Record<string, number>;
  /** Distinct human-readable causes, capped at MAX_REJECT_MESSAGES. */
  messages: string[];
}

const REASON_TEXT: Record<RejectReason, string> = {
  unsupported_type: "summary metrics are not supported",
  non_string_attribute: "array, kvlist and bytes attribute values are not supported",
  missing_value: "data point has neither asDouble nor asInt",
  invalid_utf8: "a string field is not valid UTF-8",
  invalid_name: "empty metric or attribute name",
  invalid_temporality: "aggregation temporality is unspecified or unknown",
  invalid_buckets: "histogram buckets do not add up to count or do not match the bounds",
};

const MAX_REJECT_MESSAGES = 10;
const DATA_POINT_FLAG_NO_RECORDED_VALUE = 1;

/** Everything one decode call accumulates. */
export interface DecodeContext {
  readonly points: Point[];
  readonly rejected: RejectedPoints;
  readonly includeResourceAttributes: ReadonlySet<string>;
  /** Whether points carry their time_unix_nano as Point.timeMs (off: the key is never set). */
  readonly pointTimes: boolean;
}

export function createDecodeContext(includeResourceAttributes: ReadonlySet<string>, pointTimes = false): DecodeContext {
  return {
    points: [],
    rejected: { count: 0, reasons: {}, messages: [] },
    includeResourceAttributes,
    pointTimes,
  };
}

export function rejectPoints(ctx: DecodeContext, reason: RejectReason, count: number, metricName: string): void {
  if (count <= 0) return;
  const rejected = ctx.rejected;
  rejected.count += count;
  rejected.reasons[reason] = (rejected.reasons[reason] ?? 0) + count;
  if (rejected.messages.length < MAX_REJECT_MESSAGES) {
    const message = `metric "${metricName}": ${REASON_TEXT[reason]}`;
    if (!rejected.messages.includes(message)) rejected.messages.push(message);
  }
}

export function hasNoRecordedValue(flags: number): boolean {
  return (flags & DATA_POINT_FLAG_NO_RECORDED_VALUE) !== 0;
}

/** OTLP AggregationTemporality enum → ours; null for UNSPECIFIED or unknown values. */
export function toTemporality(value: number): Temporality | null {
  if (value === 1) return "delta";
  if (value === 2) return "cumulative";
  return null;
}

// --- names ---------------------------------------------------------------------------------

function isNameChar(c: number, allowColon: boolean): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 65 && c <= 90) || // A-Z
    (c >= 48 && c <= 57) || // 0-9
    c === 95 || // _
    (allowColon && c === 58) // :
  );
}

function sanitizeName(raw: string, allowColon: boolean): string {
  let isClean = true;
  for (let i = 0; i < raw.length; i++) {
    if (!isNameChar(raw.charCodeAt(i), allowColon)) {
      isClean = false;
      break;
    }
  }
  const name = isClean ? raw : raw.replace(allowColon ? /[^a-zA-Z0-9_:]/gu : /[^a-zA-Z0-9_]/gu, "_");
  const first = name.charCodeAt(0);
  return first >= 48 && first <= 57 ? `_${name}` : name;
}

export function sanitizeMetricName(raw: string): string {
  return sanitizeName(raw, true);
}

export function sanitizeLabelName(raw: string): string {
  return sanitizeName(raw, false);
}

// --- labels --------------------------------------------------------------------------------

/** Adds a sanitised label; a clash with an earlier attribute joins the values with ";". */
export function addLabel(labels: Labels, name: string, value: string): void {
  const existing = labels[name];
  if (existing === undefined) {
    labels[name] = value; // the common case: one inline-cached store
    return;
  }
  // Defined but maybe inherited: "constructor", "toString", "__proto__" … are valid label names.
  const merged = Object.hasOwn(labels, name) ? `${existing};${value}` : value;
  if (name === "__proto__") {
    // A plain assignment would set the prototype instead of adding a key.
    Object.defineProperty(labels, name, { value: merged, enumerable: true, writable: true, configurable: true });
  } else {
    labels[name] = merged;
  }
}

/** Own label test that stays on the fast path for names that are not Object.prototype members. */
export function hasLabel(labels: Labels, name: string): boolean {
  return labels[name] !== undefined && Object.hasOwn(labels, name);
}

/**
 * Copies the included resource attributes into the labels of ctx.points[firstPoint…]; data
 * point attributes win. When an included resource attribute was unusable, all of the
 * resource's points are rejected instead.
 */
export function applyResourceLabels(
  ctx: DecodeContext,
  firstPoint: number,
  resourceLabels: ReadonlyArray<readonly [string, string]>,
  resourceReject: RejectReason | null,
): void {
  const points = ctx.points;
  if (resourceReject !== null) {
    for (let i = firstPoint; i < points.length; i++) rejectPoints(ctx, resourceReject, 1, points[i].name);
    points.length = firstPoint;
    return;
  }
  if (resourceLabels.length === 0) return;
  for (let i = firstPoint; i < points.length; i++) {
    const labels = points[i].labels;
    for (const [name, value] of resourceLabels) {
      if (!hasLabel(labels, name)) addLabel(labels, name, value);
    }
  }
}

// --- values --------------------------------------------------------------------------------

const TWO_POW_32 = 4294967296;

/** Exact decimal string of an int64 given as unsigned 32-bit halves. */
export function formatInt64(lo: number, hi: number): string {
  const signedHi = hi | 0;
  if (signedHi >= -0x200000 && signedHi < 0x200000) return String(signedHi * TWO_POW_32 + lo);
  return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
}

/** Unix nanoseconds (fixed64 halves) → whole milliseconds; undefined for 0 (unset). */
export function nanosToMs(lo: number, hi: number): number | undefined {
  if (lo === 0 && hi === 0) return undefined;
  // hi·2^32 ns = hi·4294 ms + hi·967296 ns; every partial stays below 2^53, so this is exact.
  return hi * 4294 + Math.floor((hi * 967296 + lo) / 1e6);
}

/**
 * Unix nanoseconds as a JSON number (an integer ≥ 0) → whole milliseconds, exact for every
 * integer double below 2^64; undefined for 0. Split into 32-bit halves like a fixed64, so
 * nanosToMs does the exact part: floor(nanos / 2^32) and the remainder are exact in doubles.
 */
export function numberNanosToMs(nanos: number): number | undefined {
  if (nanos === 0) return undefined;
  const hi = Math.floor(nanos / TWO_POW_32);
  return nanosToMs(nanos - hi * TWO_POW_32, hi);
}

/** Decimal unix nanoseconds → whole milliseconds; undefined for 0 (unset). */
export function decimalNanosToMs(nanos: string): number | undefined {
  if (nanos.length <= 6) return Number(nanos) === 0 ? undefined : 0;
  return Number(nanos.slice(0, -6));
}

// --- histograms ----------------------------------------------------------------------------

/**
 * Checks an explicit histogram against the OTLP rules; an empty bucket list (count and sum
 * only) becomes a single (-Inf, +Inf] bucket.
 */
export function checkExplicitHistogram(data: ExplicitHistogramData): RejectReason | null {
  const { bounds, counts } = data;
  if (counts.length === 0 && bounds.length === 0) {
    counts.push(data.count);
    return null;
  }
  if (counts.length !== bounds.length + 1) return "invalid_buckets";
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i];
    if (Number.isNaN(bound) || (i > 0 && !(bound > bounds[i - 1]))) return "invalid_buckets";
  }
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  return total === data.count ? null : "invalid_buckets";
}

export function checkExpoHistogram(data: ExpoHistogramData): RejectReason | null {
  let total = data.zeroCount;
  const positive = data.positive.counts;
  const negative = data.negative.counts;
  for (let i = 0; i < positive.length; i++) total += positive[i];
  for (let i = 0; i < negative.length; i++) total += negative[i];
  if (total !== data.count) return "invalid_buckets";
  return Number.isInteger(data.scale) ? null : "invalid_buckets";
}
