/**
 * Encodes an aggregator flush as OTLP/HTTP metrics export requests (PROTOCOLS.md §3): protobuf
 * `ExportMetricsServiceRequest` bodies, uncompressed, ready to POST to `/v1/metrics` with
 * OTLP_EXPORT_HEADERS (compressing and sending are the sink's job).
 *
 * Layout of every request:
 *   ExportMetricsServiceRequest
 *     resource_metrics 1: ResourceMetrics          exactly one
 *       resource 1: Resource{attributes}          the agent's identity labels (e.g. host)
 *       scope_metrics 2: ScopeMetrics             exactly one
 *         scope 1: InstrumentationScope{name "edge-agent"}
 *         metrics 2: Metric{name 1, <type>}       one per metric name (and kind), in order of
 *                                                 first appearance in `series`
 * What a series becomes (data point attributes = its labels; all points share the flush's
 * time and the agent's start time, as cumulative points must):
 *   counter    Sum 7 {data_points 1, aggregation_temporality 2 = CUMULATIVE, is_monotonic 3}
 *   gauge      Gauge 5 {data_points 1}
 *   explicit   Histogram 9 {data_points 1, aggregation_temporality 2 = CUMULATIVE}
 *   expo       ExponentialHistogram 10 {data_points 1, aggregation_temporality 2 = CUMULATIVE}
 * (data point bodies: otlp-data-points.ts). Names go out as the aggregator holds them
 * (`game_kills_total` stays `game_kills_total`).
 *
 * Splitting: a request closes before the data point that would take it past
 * `maxRequestBytes`; the next request repeats the resource, scope and the metric's name and
 * type around the remaining points. A data point is never split: one larger than the bound
 * goes out alone, over it. Sizes are computed exactly before writing (every length is known up
 * front), so bodies never need moving or trimming.
 *
 * Ordering: each series appears at most once per call, so splitting never puts two points of
 * one stream out of time order; requests come out in series order.
 */
import { ProtobufWriter, tagSize, varintSize } from "../../codec/protobuf-writer";
import type { SeriesSnapshot } from "../../aggregate/aggregator";
import { nanosFixed64, stringFieldSize, writeDataPoint, type PointTimes } from "./otlp-data-points";

export { isRetryableOtlpStatus } from "./otlp-status";

/** The headers the bodies need; the sender adds Content-Encoding when it gzips, and User-Agent. */
export const OTLP_EXPORT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Type": "application/x-protobuf",
});

export const OTLP_SCOPE_NAME = "edge-agent";
export const DEFAULT_MAX_REQUEST_BYTES = 1 << 20;

export interface OtlpExportOptions {
  /** Bound on one request's uncompressed protobuf bytes. Default 1 MiB. */
  maxRequestBytes?: number;
}

export interface OtlpExportRequest {
  /** Uncompressed ExportMetricsServiceRequest protobuf. */
  body: Uint8Array;
  /** Data points in the request. */
  points: number;
}

type Kind = SeriesSnapshot["kind"];

const REQUEST_RESOURCE_METRICS = 1;
const RESOURCE_METRICS = { resource: 1, scopeMetrics: 2 } as const;
const RESOURCE_ATTRIBUTES = 1;
const SCOPE_METRICS = { scope: 1, metrics: 2 } as const;
const SCOPE_NAME = 1;
const METRIC = { name: 1, gauge: 5, sum: 7, histogram: 9, exponentialHistogram: 10 } as const;
/** Sum, Gauge, Histogram and ExponentialHistogram all keep their points in field 1. */
const DATA_POINTS = 1;
const AGGREGATION_TEMPORALITY = 2;
const SUM_IS_MONOTONIC = 3;
const TEMPORALITY_CUMULATIVE = 2;

const TYPE_FIELD: Record<Kind, number> = {
  counter: METRIC.sum,
  gauge: METRIC.gauge,
  explicit: METRIC.histogram,
  expo: METRIC.exponentialHistogram,
};

/** Bytes of the Sum/Gauge/Histogram fields after the data points (temporality, monotonic). */
const TYPE_TRAILER_BYTES: Record<Kind, number> = {
  counter: 2 * (tagSize(AGGREGATION_TEMPORALITY) + 1),
  gauge: 0,
  explicit: tagSize(AGGREGATION_TEMPORALITY) + 1,
  expo: tagSize(AGGREGATION_TEMPORALITY) + 1,
};

/** The series of one Metric message, with their encoded data point bodies. */
interface MetricGroup {
  name: string;
  kind: Kind;
  nameFieldBytes: number;
  /** End offsets of this group's data point bodies in the points buffer. */
  pointEnds: number[];
  pointStarts: number[];
}

/** A run of one group's points inside one request. */
interface Segment {
  group: MetricGroup;
  first: number;
  end: number;
  /** Bytes of the Sum/Gauge/… message body: point fields + trailer. */
  typeBodyBytes: number;
}

/**
 * The flush's series as one or more export requests (none when `series` is empty).
 * `resource` becomes the resource attributes; `timestampMs` each point's time and
 * `startTimeMs` (the start of the agent's cumulative streams) its start time.
 */
export function encodeOtlpExport(
  series: readonly SeriesSnapshot[],
  resource: readonly [string, string][],
  timestampMs: number,
  startTimeMs: number,
  options: OtlpExportOptions = {},
): OtlpExportRequest[] {
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  if (!(Number.isInteger(maxRequestBytes) && maxRequestBytes > 0)) {
    throw new Error(`BUG: maxRequestBytes must be a positive integer (got ${maxRequestBytes})`);
  }
  const times: PointTimes = { time: nanosFixed64(timestampMs, "timestampMs"), startTime: nanosFixed64(startTimeMs, "startTimeMs") };
  const pointsWriter = new ProtobufWriter(Math.min(maxRequestBytes, 64 << 10));
  const groups = encodePointsByMetric(series, pointsWriter, times);
  if (groups.length === 0) return [];
  const envelope = encodeEnvelope(resource);
  const points = pointsWriter.view();
  const out = new ProtobufWriter(Math.min(maxRequestBytes, 64 << 10));
  return planRequests(groups, envelope, maxRequestBytes).map((segments) => writeRequest(out, envelope, segments, points));
}

/** Groups series by metric name and kind (first appearance order), writing each point body. */
function encodePointsByMetric(series: readonly SeriesSnapshot[], w: ProtobufWriter, times: PointTimes): MetricGroup[] {
  const byKey = new Map<string, MetricGroup>();
  const groups: MetricGroup[] = [];
  for (const s of series) {
    const key = `${s.kind}\u0000${s.name}`;
    let group = byKey.get(key);
    if (group === undefined) {
      group = { name: s.name, kind: s.kind, nameFieldBytes: stringFieldSize(METRIC.name, s.name), pointStarts: [], pointEnds: [] };
      byKey.set(key, group);
      groups.push(group);
    }
    group.pointStarts.push(w.length);
    writeDataPoint(w, s, times);
    group.pointEnds.push(w.length);
  }
  return groups;
}

/** The resource field of ResourceMetrics and the scope field of ScopeMetrics, pre-encoded. */
interface Envelope {
  resourceField: Uint8Array;
  scopeField: Uint8Array;
}

function encodeEnvelope(resource: readonly [string, string][]): Envelope {
  const attributes = new ProtobufWriter();
  for (const [key, value] of resource) {
    const kv = new ProtobufWriter().stringField(1, key);
    const anyValue = new ProtobufWriter();
    if (value === "") anyValue.lengthPrefix(1, 0);
    else anyValue.stringField(1, value);
    kv.bytesField(2, anyValue.finish());
    attributes.bytesField(RESOURCE_ATTRIBUTES, kv.finish());
  }
  const resourceField = new ProtobufWriter().bytesField(RESOURCE_METRICS.resource, attributes.finish()).finish();
  const scope = new ProtobufWriter().stringField(SCOPE_NAME, OTLP_SCOPE_NAME).finish();
  const scopeField = new ProtobufWriter().bytesField(SCOPE_METRICS.scope, scope).finish();
  return { resourceField, scopeField };
}

// ---------------------------------------------------------------------------------------------
// Sizes

function lengthDelimitedSize(field: number, bodyBytes: number): number {
  return tagSize(field) + varintSize(bodyBytes) + bodyBytes;
}

function metricBodySize(group: MetricGroup, typeBodyBytes: number): number {
  return group.nameFieldBytes + lengthDelimitedSize(TYPE_FIELD[group.kind], typeBodyBytes);
}

function scopeMetricsBodySize(metricsBytes: number, envelope: Envelope): number {
  return envelope.scopeField.length + metricsBytes;
}

function resourceMetricsBodySize(scopeMetricsBody: number, envelope: Envelope): number {
  return envelope.resourceField.length + lengthDelimitedSize(RESOURCE_METRICS.scopeMetrics, scopeMetricsBody);
}

function requestSize(metricsBytes: number, envelope: Envelope): number {
  const resourceMetricsBody = resourceMetricsBodySize(scopeMetricsBodySize(metricsBytes, envelope), envelope);
  return lengthDelimitedSize(REQUEST_RESOURCE_METRICS, resourceMetricsBody);
}

function pointFieldSize(group: MetricGroup, i: number): number {
  return lengthDelimitedSize(DATA_POINTS, group.pointEnds[i] - group.pointStarts[i]);
}

// ---------------------------------------------------------------------------------------------
// Planning and writing

/** Cuts the groups into requests of at most `maxBytes` (a lone oversized point excepted). */
function planRequests(groups: readonly MetricGroup[], envelope: Envelope, maxBytes: number): Segment[][] {
  const requests: Segment[][] = [];
  let current: Segment[] = [];
  /** Bytes of the closed Metric fields of the current request. */
  let closedMetricsBytes = 0;
  const closeSegment = (segment: Segment): void => {
    current.push(segment);
    closedMetricsBytes += lengthDelimitedSize(SCOPE_METRICS.metrics, metricBodySize(segment.group, segment.typeBodyBytes));
  };
  for (const group of groups) {
    let segment: Segment | undefined;
    for (let i = 0; i < group.pointEnds.length; i++) {
      const typeBodyBytes = (segment?.typeBodyBytes ?? TYPE_TRAILER_BYTES[group.kind]) + pointFieldSize(group, i);
      const metricField = lengthDelimitedSize(SCOPE_METRICS.metrics, metricBodySize(group, typeBodyBytes));
      const hasPoints = segment !== undefined || current.length > 0;
      if (hasPoints && requestSize(closedMetricsBytes + metricField, envelope) > maxBytes) {
        if (segment !== undefined) closeSegment(segment);
        requests.push(current);
        current = [];
        closedMetricsBytes = 0;
        segment = undefined;
      }
      segment ??= { group, first: i, end: i, typeBodyBytes: TYPE_TRAILER_BYTES[group.kind] };
      segment.end = i + 1;
      segment.typeBodyBytes += pointFieldSize(group, i);
    }
    if (segment !== undefined) closeSegment(segment);
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

function writeRequest(w: ProtobufWriter, envelope: Envelope, segments: readonly Segment[], points: Uint8Array): OtlpExportRequest {
  w.reset();
  let metricsBytes = 0;
  let pointCount = 0;
  for (const s of segments) {
    metricsBytes += lengthDelimitedSize(SCOPE_METRICS.metrics, metricBodySize(s.group, s.typeBodyBytes));
    pointCount += s.end - s.first;
  }
  const scopeMetricsBody = scopeMetricsBodySize(metricsBytes, envelope);
  w.lengthPrefix(REQUEST_RESOURCE_METRICS, resourceMetricsBodySize(scopeMetricsBody, envelope));
  w.writeRawBytes(envelope.resourceField);
  w.lengthPrefix(RESOURCE_METRICS.scopeMetrics, scopeMetricsBody);
  w.writeRawBytes(envelope.scopeField);
  for (const s of segments) writeMetric(w, s, points);
  const expected = requestSize(metricsBytes, envelope);
  if (w.length !== expected) throw new Error(`BUG: OTLP request took ${w.length} bytes, ${expected} planned`);
  return { body: w.finish(), points: pointCount };
}

function writeMetric(w: ProtobufWriter, s: Segment, points: Uint8Array): void {
  const { group } = s;
  w.lengthPrefix(SCOPE_METRICS.metrics, metricBodySize(group, s.typeBodyBytes));
  w.stringField(METRIC.name, group.name);
  w.lengthPrefix(TYPE_FIELD[group.kind], s.typeBodyBytes);
  for (let i = s.first; i < s.end; i++) {
    const start = group.pointStarts[i];
    const end = group.pointEnds[i];
    w.lengthPrefix(DATA_POINTS, end - start);
    w.writeRawBytes(points.subarray(start, end));
  }
  if (group.kind !== "gauge") w.varintField(AGGREGATION_TEMPORALITY, TEMPORALITY_CUMULATIVE);
  if (group.kind === "counter") w.varintField(SUM_IS_MONOTONIC, 1);
}
