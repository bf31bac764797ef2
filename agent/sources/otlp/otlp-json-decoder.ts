/**
 * ExportMetricsServiceRequest (OTLP/JSON) → Points.
 *
 * OTLP/JSON is proto3 JSON with these deviations (opentelemetry-proto docs/specification.md):
 * keys are lowerCamelCase only, enums are integers (enum names are accepted as well), 64-bit
 * integers are decimal strings (numbers accepted too), unknown fields are ignored. As in proto3
 * JSON, `null` means "not set", and doubles may be "NaN", "Infinity" or "-Infinity".
 *
 * A value of the wrong JSON type (a string where an object belongs, "abc" as a count) makes the
 * whole request malformed, like a wire-type error in protobuf: the decoder throws
 * MalformedJsonError, which decodeOtlpMetrics turns into OTLP_BAD_JSON. Per-point problems are
 * rejections, exactly as in the protobuf decoder. Strings holding lone surrogates (valid JSON
 * escapes, but not encodable as UTF-8) count as invalid UTF-8.
 */
import type { ExpoBuckets, Labels, PointValue, Temporality } from "../../core/points";
import {
  addLabel,
  applyResourceLabels,
  checkExpoHistogram,
  checkExplicitHistogram,
  decimalNanosToMs,
  hasNoRecordedValue,
  numberNanosToMs,
  rejectPoints,
  sanitizeLabelName,
  sanitizeMetricName,
  toTemporality,
  type DecodeContext,
  type RejectReason,
} from "./otlp-mapping";

export class MalformedJsonError extends Error {
  override readonly name = "MalformedJsonError";
}

type JsonObject = Record<string, unknown>;

const NO_ITEMS: readonly unknown[] = [];
const LONE_SURROGATE = /[\uD800-\uDFFF]/u; // with /u, a valid surrogate pair is one code point
const INTEGER = /^-?\d+$/;
const TEMPORALITY_NAMES: Record<string, number> = {
  AGGREGATION_TEMPORALITY_UNSPECIFIED: 0,
  AGGREGATION_TEMPORALITY_DELTA: 1,
  AGGREGATION_TEMPORALITY_CUMULATIVE: 2,
};
const TWO_POW_64 = 2 ** 64;
const DATA_FIELDS = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"] as const;

type ScalarType = "gauge" | "counter" | "updown";

/** Decodes an already parsed JSON document into ctx; throws MalformedJsonError on bad shapes. */
export function decodeJsonMetrics(document: unknown, ctx: DecodeContext): void {
  const request = asObject(document, "request");
  if (request === undefined) fail("request", "an object");
  for (const resourceMetrics of asArray(request.resourceMetrics, "resourceMetrics")) {
    decodeResourceMetrics(asObject(resourceMetrics, "resourceMetrics[]"), ctx);
  }
}

function decodeResourceMetrics(resourceMetrics: JsonObject | undefined, ctx: DecodeContext): void {
  if (resourceMetrics === undefined) return;
  const firstPoint = ctx.points.length;
  for (const scopeMetrics of asArray(resourceMetrics.scopeMetrics, "scopeMetrics")) {
    const scope = asObject(scopeMetrics, "scopeMetrics[]");
    if (scope === undefined) continue;
    for (const metric of asArray(scope.metrics, "metrics")) decodeMetric(asObject(metric, "metrics[]"), ctx);
  }
  const resourceLabels: Array<[string, string]> = [];
  const resourceReject = decodeResource(asObject(resourceMetrics.resource, "resource"), ctx, resourceLabels);
  applyResourceLabels(ctx, firstPoint, resourceLabels, resourceReject);
}

function decodeResource(resource: JsonObject | undefined, ctx: DecodeContext, out: Array<[string, string]>): RejectReason | null {
  if (resource === undefined || ctx.includeResourceAttributes.size === 0) return null;
  let reject: RejectReason | null = null;
  for (const item of asArray(resource.attributes, "resource.attributes")) {
    const attribute = asObject(item, "resource.attributes[]");
    if (attribute === undefined) continue;
    const key = asString(attribute.key, "key");
    if (LONE_SURROGATE.test(key)) continue; // cannot name an included attribute
    const name = sanitizeLabelName(key);
    if (!ctx.includeResourceAttributes.has(name)) continue;
    const value = decodeAnyValue(asObject(attribute.value, "value"));
    if (value.reject !== null) reject = value.reject;
    else out.push([name, value.text]);
  }
  return reject;
}

// --- attributes ----------------------------------------------------------------------------

interface AttributeValue {
  text: string;
  reject: RejectReason | null;
}

function decodeAnyValue(value: JsonObject | undefined): AttributeValue {
  if (value === undefined) return { text: "", reject: null };
  if (value.stringValue != null) {
    const text = asString(value.stringValue, "stringValue");
    return LONE_SURROGATE.test(text) ? { text: "", reject: "invalid_utf8" } : { text, reject: null };
  }
  if (value.boolValue != null) {
    if (typeof value.boolValue !== "boolean") fail("boolValue", "a boolean");
    return { text: value.boolValue ? "true" : "false", reject: null };
  }
  if (value.intValue != null) return { text: formatJsonInt(value.intValue, "intValue"), reject: null };
  if (value.doubleValue != null) return { text: String(asDouble(value.doubleValue, "doubleValue")), reject: null };
  if (value.arrayValue != null || value.kvlistValue != null || value.bytesValue != null) {
    return { text: "", reject: "non_string_attribute" };
  }
  return { text: "", reject: null };
}

function decodePointAttributes(attributes: unknown, labels: Labels): RejectReason | null {
  for (const item of asArray(attributes, "attributes")) {
    const attribute = asObject(item, "attributes[]");
    if (attribute === undefined) continue;
    const key = asString(attribute.key, "key");
    if (LONE_SURROGATE.test(key)) return "invalid_utf8";
    const name = sanitizeLabelName(key);
    if (name === "") return "invalid_name";
    const value = decodeAnyValue(asObject(attribute.value, "value"));
    if (value.reject !== null) return value.reject;
    addLabel(labels, name, value.text);
  }
  return null;
}

// --- metric --------------------------------------------------------------------------------

function decodeMetric(metric: JsonObject | undefined, ctx: DecodeContext): void {
  if (metric === undefined) return;
  const dataField = findDataField(metric);
  if (dataField === undefined) return;
  const data = asObject(metric[dataField], dataField)!;
  const dataPoints = asArray(data.dataPoints, `${dataField}.dataPoints`);
  const rawName = metric.name == null ? "" : asString(metric.name, "name");
  if (LONE_SURROGATE.test(rawName)) return rejectPoints(ctx, "invalid_utf8", dataPoints.length, "<invalid UTF-8>");
  const name = sanitizeMetricName(rawName);
  if (name === "") return rejectPoints(ctx, "invalid_name", dataPoints.length, "");
  if (dataField === "summary") return rejectPoints(ctx, "unsupported_type", dataPoints.length, name);
  if (dataField === "gauge") return decodeNumberPoints(dataPoints, name, "gauge", "cumulative", ctx); // temporality unused

  const temporality = toTemporality(asEnum(data.aggregationTemporality, "aggregationTemporality"));
  if (temporality === null) return rejectPoints(ctx, "invalid_temporality", dataPoints.length, name);
  if (dataField === "sum") {
    const isMonotonic = data.isMonotonic == null ? false : asBoolean(data.isMonotonic, "isMonotonic");
    return decodeNumberPoints(dataPoints, name, isMonotonic ? "counter" : "updown", temporality, ctx);
  }
  for (const item of dataPoints) {
    const point = asObject(item, "dataPoints[]");
    if (point === undefined) continue;
    if (dataField === "histogram") decodeHistogramPoint(point, name, temporality, ctx);
    else decodeExpoPoint(point, name, temporality, ctx);
  }
}

/** The one data field of a Metric (a oneof: two set fields is malformed). */
function findDataField(metric: JsonObject): (typeof DATA_FIELDS)[number] | undefined {
  let found: (typeof DATA_FIELDS)[number] | undefined;
  for (const field of DATA_FIELDS) {
    if (metric[field] == null) continue;
    if (found !== undefined) fail(field, `the only data field (${found} is set too)`);
    found = field;
  }
  return found;
}

// --- data points ---------------------------------------------------------------------------

function decodeNumberPoints(dataPoints: readonly unknown[], name: string, type: ScalarType, temporality: Temporality, ctx: DecodeContext): void {
  for (const item of dataPoints) {
    const point = asObject(item, "dataPoints[]");
    if (point === undefined || isNoRecordedValue(point)) continue;
    const labels: Labels = {};
    let reject = decodePointAttributes(point.attributes, labels);
    let value = 0;
    if (point.asDouble != null) value = asDouble(point.asDouble, "asDouble");
    else if (point.asInt != null) value = asInteger(point.asInt, "asInt");
    else reject ??= "missing_value";
    if (reject !== null) {
      rejectPoints(ctx, reject, 1, name);
      continue;
    }
    const pointValue: PointValue = type === "gauge" ? { type, value } : { type, temporality, value };
    pushPoint(ctx, point, name, labels, pointValue);
  }
}

function decodeHistogramPoint(point: JsonObject, name: string, temporality: Temporality, ctx: DecodeContext): void {
  if (isNoRecordedValue(point)) return;
  const labels: Labels = {};
  const data = {
    bounds: asArray(point.explicitBounds, "explicitBounds").map((b) => asDouble(b, "explicitBounds[]")),
    counts: asArray(point.bucketCounts, "bucketCounts").map((c) => asUint64(c, "bucketCounts[]")),
    count: point.count == null ? 0 : asUint64(point.count, "count"),
    sum: point.sum == null ? Number.NaN : asDouble(point.sum, "sum"),
  };
  const reject = decodePointAttributes(point.attributes, labels) ?? checkExplicitHistogram(data);
  if (reject !== null) return rejectPoints(ctx, reject, 1, name);
  pushPoint(ctx, point, name, labels, { type: "explicit", temporality, data });
}

function decodeExpoPoint(point: JsonObject, name: string, temporality: Temporality, ctx: DecodeContext): void {
  if (isNoRecordedValue(point)) return;
  const labels: Labels = {};
  const data = {
    scale: point.scale == null ? 0 : asInt32(point.scale, "scale"),
    zeroThreshold: point.zeroThreshold == null ? 0 : asDouble(point.zeroThreshold, "zeroThreshold"),
    zeroCount: point.zeroCount == null ? 0 : asUint64(point.zeroCount, "zeroCount"),
    count: point.count == null ? 0 : asUint64(point.count, "count"),
    sum: point.sum == null ? Number.NaN : asDouble(point.sum, "sum"),
    min: point.min == null ? Number.POSITIVE_INFINITY : asDouble(point.min, "min"),
    max: point.max == null ? Number.NEGATIVE_INFINITY : asDouble(point.max, "max"),
    positive: decodeBuckets(asObject(point.positive, "positive"), "positive"),
    negative: decodeBuckets(asObject(point.negative, "negative"), "negative"),
  };
  const reject = decodePointAttributes(point.attributes, labels) ?? checkExpoHistogram(data);
  if (reject !== null) return rejectPoints(ctx, reject, 1, name);
  pushPoint(ctx, point, name, labels, { type: "expo", temporality, data });
}

function decodeBuckets(buckets: JsonObject | undefined, path: string): ExpoBuckets {
  if (buckets === undefined) return { offset: 0, counts: [] };
  return {
    offset: buckets.offset == null ? 0 : asInt32(buckets.offset, `${path}.offset`),
    counts: asArray(buckets.bucketCounts, `${path}.bucketCounts`).map((c) => asUint64(c, `${path}.bucketCounts[]`)),
  };
}

/** timeMs only when asked for (ctx.pointTimes), so the agent's points keep their one shape. */
function pushPoint(ctx: DecodeContext, point: JsonObject, name: string, labels: Labels, value: PointValue): void {
  ctx.points.push(
    ctx.pointTimes ? { name, labels, startTimeMs: startTimeMs(point), timeMs: timeMs(point), value } : { name, labels, startTimeMs: startTimeMs(point), value },
  );
}

function isNoRecordedValue(point: JsonObject): boolean {
  return point.flags != null && hasNoRecordedValue(asInt32(point.flags, "flags"));
}

function startTimeMs(point: JsonObject): number | undefined {
  const nanos = point.startTimeUnixNano;
  if (nanos == null) return undefined;
  if (typeof nanos === "number") {
    if (!Number.isInteger(nanos) || nanos < 0) fail("startTimeUnixNano", "a non-negative integer");
    return nanos === 0 ? undefined : Math.floor(nanos / 1e6);
  }
  if (typeof nanos !== "string" || !/^\d+$/.test(nanos)) fail("startTimeUnixNano", "a decimal string");
  return decimalNanosToMs(nanos);
}

/** timeUnixNano: a decimal string (or a number) below 2^64 → exact whole ms; 0 / absent → undefined. */
function timeMs(point: JsonObject): number | undefined {
  const nanos = point.timeUnixNano;
  if (nanos == null) return undefined;
  if (typeof nanos === "number") {
    if (!Number.isInteger(nanos) || nanos < 0 || nanos >= TWO_POW_64) fail("timeUnixNano", "an integer in [0, 2^64)");
    return numberNanosToMs(nanos);
  }
  if (typeof nanos !== "string" || !/^\d+$/.test(nanos)) fail("timeUnixNano", "a decimal string");
  const ms = decimalNanosToMs(nanos);
  return ms === 0 && Number(nanos) === 0 ? undefined : ms; // "0000000" is unset too
}

// --- JSON value accessors ------------------------------------------------------------------

function fail(path: string, expected: string): never {
  throw new MalformedJsonError(`${path} must be ${expected}`);
}

/** Object or undefined for null / absent. */
function asObject(value: unknown, path: string): JsonObject | undefined {
  if (value == null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) fail(path, "an object");
  return value as JsonObject;
}

/** Array, empty for null / absent. */
function asArray(value: unknown, path: string): readonly unknown[] {
  if (value == null) return NO_ITEMS;
  if (!Array.isArray(value)) fail(path, "an array");
  return value;
}

function asString(value: unknown, path: string): string {
  if (value == null) return "";
  if (typeof value !== "string") fail(path, "a string");
  return value;
}

function asBoolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") fail(path, "a boolean");
  return value;
}

/** proto3 JSON double: a number, a numeric string, "NaN", "Infinity" or "-Infinity". */
function asDouble(value: unknown, path: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "") {
    const n = Number(value);
    if (!Number.isNaN(n) || value === "NaN") return n;
  }
  return fail(path, "a number");
}

/** Integer attribute value (number or decimal string) as its exact decimal text. */
function formatJsonInt(value: unknown, path: string): string {
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  if (typeof value === "string" && INTEGER.test(value)) return BigInt(value).toString();
  return fail(path, "an integer or a decimal string");
}

/** 64-bit integer (number or decimal string) as a number; exact below 2^53. */
function asInteger(value: unknown, path: string): number {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (typeof value === "string" && INTEGER.test(value)) return Number(value);
  return fail(path, "an integer or a decimal string");
}

function asUint64(value: unknown, path: string): number {
  const n = asInteger(value, path);
  if (n < 0) fail(path, "non-negative");
  return n;
}

function asInt32(value: unknown, path: string): number {
  const n = asInteger(value, path);
  if (n < -2147483648 || n > 4294967295) fail(path, "a 32-bit integer");
  return n;
}

function asEnum(value: unknown, path: string): number {
  if (value == null) return 0;
  if (typeof value === "string" && Object.hasOwn(TEMPORALITY_NAMES, value)) return TEMPORALITY_NAMES[value];
  return asInt32(value, path);
}
