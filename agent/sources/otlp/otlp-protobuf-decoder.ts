/**
 * ExportMetricsServiceRequest (protobuf) → Points in one pass over the bytes, without building
 * the intermediate message tree that protobufjs' generated decode() would (that alone costs
 * more per data point than this whole decoder; see README).
 *
 * Field numbers are those of proto/opentelemetry/proto/**.proto (upstream opentelemetry-proto).
 * Rules beyond plain protobuf decoding:
 * - Field order is free on the wire, so a Metric is scanned twice: first for its name and its
 *   data field, then the data is decoded; Sum / Histogram / ExponentialHistogram likewise read
 *   temporality and monotonicity before their data points. The extra pass only hops over
 *   length prefixes.
 * - If a Metric carries more than one data field, the last one wins (oneof semantics).
 * - A known field with a wire type its type cannot have is malformed input (repeated scalars
 *   accept packed and unpacked). Unknown fields are skipped.
 * - Sub-messages the mapping never reads (scope, exemplars, non-included resource attributes,
 *   array / kvlist values) are skipped by length without being parsed.
 * - Broken UTF-8 rejects only the data point (or metric) that uses the string.
 */
import type { ExpoBuckets, Labels, PointValue, Temporality } from "../../core/points";
import {
  addLabel,
  applyResourceLabels,
  checkExpoHistogram,
  checkExplicitHistogram,
  formatInt64,
  hasNoRecordedValue,
  nanosToMs,
  rejectPoints,
  sanitizeLabelName,
  sanitizeMetricName,
  toTemporality,
  type DecodeContext,
  type RejectReason,
} from "./otlp-mapping";
import { ProtobufReader, WIRE_I64, WIRE_LEN, WIRE_VARINT } from "./protobuf-reader";

// Metric.data oneof field numbers.
const GAUGE = 5;
const SUM = 7;
const HISTOGRAM = 9;
const EXPONENTIAL_HISTOGRAM = 10;
const SUMMARY = 11;

const enum AnyKind {
  Empty,
  String,
  Bool,
  Int,
  Double,
  NotString,
}

const enum NumberKind {
  None,
  Double,
  Int,
}

type ScalarType = "gauge" | "counter" | "updown";

/** Decodes `body` into ctx; throws MalformedProtobufError on malformed input. */
export function decodeProtobufMetrics(body: Uint8Array, utf8: TextDecoder, ctx: DecodeContext): void {
  new ProtobufMetricsDecoder(new ProtobufReader(body, utf8), ctx).decodeRequest();
}

class ProtobufMetricsDecoder {
  /** Result of the last decodeAnyValue(). */
  private attributeValue = "";
  /** Results of the last readKeyValue(); key null = invalid UTF-8, valueStart -1 = no value. */
  private kvKey: string | null = "";
  private kvValueStart = -1;
  private kvValueEnd = -1;
  /** Results of the last scanAggregation(). */
  private temporality: Temporality | null = null;
  private isMonotonic = false;
  /** Attribute key → label name, for keys that need sanitising ("http.method"). */
  private readonly labelNames = new Map<string, string>();

  constructor(
    private readonly r: ProtobufReader,
    private readonly ctx: DecodeContext,
  ) {}

  decodeRequest(): void {
    const r = this.r;
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN);
        const outer = this.enter();
        this.decodeResourceMetrics();
        r.limit = outer;
      } else {
        r.skip(tag);
      }
    }
  }

  /** Narrows the reader to the length-delimited field just tagged; returns the limit to restore. */
  private enter(): number {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    return outer;
  }

  private skipLengthDelimited(): void {
    this.r.pos = this.r.lengthDelimitedEnd();
  }

  // --- resource ----------------------------------------------------------------------------

  private decodeResourceMetrics(): void {
    const r = this.r;
    const firstPoint = this.ctx.points.length;
    const resourceLabels: Array<[string, string]> = [];
    let resourceReject: RejectReason | null = null;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1: {
          r.expect(tag, WIRE_LEN);
          if (this.ctx.includeResourceAttributes.size === 0) {
            this.skipLengthDelimited();
            break;
          }
          const outer = this.enter();
          resourceReject = this.decodeResource(resourceLabels) ?? resourceReject;
          r.limit = outer;
          break;
        }
        case 2: {
          r.expect(tag, WIRE_LEN);
          const outer = this.enter();
          this.decodeScopeMetrics();
          r.limit = outer;
          break;
        }
        default:
          r.skip(tag);
      }
    }
    applyResourceLabels(this.ctx, firstPoint, resourceLabels, resourceReject);
  }

  /** Collects the included resource attributes; returns why they are unusable, if they are. */
  private decodeResource(out: Array<[string, string]>): RejectReason | null {
    const r = this.r;
    let reject: RejectReason | null = null;
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag >>> 3 !== 1) {
        r.skip(tag);
        continue;
      }
      r.expect(tag, WIRE_LEN);
      const outer = this.enter();
      this.readKeyValue();
      r.limit = outer;
      // A key that is not valid UTF-8 cannot name an included attribute: ignored like the rest.
      if (this.kvKey === null) continue;
      const name = sanitizeLabelName(this.kvKey);
      if (!this.ctx.includeResourceAttributes.has(name)) continue;
      const valueReject = this.decodeKeyValueValue();
      if (valueReject !== null) reject = valueReject;
      else out.push([name, this.attributeValue]);
    }
    return reject;
  }

  // --- attributes --------------------------------------------------------------------------

  /** KeyValue: reads the key and remembers where the value is; the value is decoded on demand. */
  private readKeyValue(): void {
    const r = this.r;
    this.kvKey = "";
    this.kvValueStart = -1;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1:
          r.expect(tag, WIRE_LEN);
          this.kvKey = r.string();
          break;
        case 2: {
          r.expect(tag, WIRE_LEN);
          const end = r.lengthDelimitedEnd();
          this.kvValueStart = r.pos;
          this.kvValueEnd = end;
          r.pos = end;
          break;
        }
        default:
          r.skip(tag);
      }
    }
  }

  /** Decodes the AnyValue found by readKeyValue() into attributeValue. */
  private decodeKeyValueValue(): RejectReason | null {
    if (this.kvValueStart < 0) {
      this.attributeValue = "";
      return null;
    }
    const r = this.r;
    const pos = r.pos;
    const limit = r.limit;
    r.pos = this.kvValueStart;
    r.limit = this.kvValueEnd;
    const reject = this.decodeAnyValue();
    r.pos = pos;
    r.limit = limit;
    return reject;
  }

  private decodeAnyValue(): RejectReason | null {
    const r = this.r;
    let kind = AnyKind.Empty;
    let stringStart = 0;
    let stringEnd = 0;
    let lo = 0;
    let hi = 0;
    let double = 0;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1:
          r.expect(tag, WIRE_LEN);
          stringEnd = r.lengthDelimitedEnd();
          stringStart = r.pos;
          r.pos = stringEnd;
          kind = AnyKind.String;
          break;
        case 2:
        case 3:
          r.expect(tag, WIRE_VARINT);
          r.varint64();
          lo = r.lo;
          hi = r.hi;
          kind = tag >>> 3 === 2 ? AnyKind.Bool : AnyKind.Int;
          break;
        case 4:
          r.expect(tag, WIRE_I64);
          double = r.double();
          kind = AnyKind.Double;
          break;
        case 5: // array_value
        case 6: // kvlist_value
        case 7: // bytes_value
          r.expect(tag, WIRE_LEN);
          this.skipLengthDelimited();
          kind = AnyKind.NotString;
          break;
        default:
          r.skip(tag);
      }
    }
    switch (kind) {
      case AnyKind.String: {
        const value = r.stringAt(stringStart, stringEnd);
        if (value === null) return "invalid_utf8";
        this.attributeValue = value;
        return null;
      }
      case AnyKind.Bool:
        this.attributeValue = lo !== 0 || hi !== 0 ? "true" : "false";
        return null;
      case AnyKind.Int:
        this.attributeValue = formatInt64(lo, hi);
        return null;
      case AnyKind.Double:
        this.attributeValue = String(double);
        return null;
      case AnyKind.NotString:
        return "non_string_attribute";
      default:
        this.attributeValue = "";
        return null;
    }
  }

  /** Decodes one data point attribute (the reader is narrowed to it) into labels. */
  private decodePointAttribute(labels: Labels): RejectReason | null {
    this.readKeyValue();
    if (this.kvKey === null) return "invalid_utf8";
    const name = this.labelNameOf(this.kvKey);
    if (name === "") return "invalid_name";
    const reject = this.decodeKeyValueValue();
    if (reject !== null) return reject;
    addLabel(labels, name, this.attributeValue);
    return null;
  }

  private labelNameOf(key: string): string {
    let name = this.labelNames.get(key);
    if (name === undefined) {
      name = sanitizeLabelName(key);
      this.labelNames.set(key, name);
    }
    return name;
  }

  /** Attributes field of a data point: decoded unless the point is already rejected. */
  private decodeAttributeField(labels: Labels, reject: RejectReason | null): RejectReason | null {
    if (reject !== null) {
      this.skipLengthDelimited();
      return reject;
    }
    const r = this.r;
    const outer = this.enter();
    const result = this.decodePointAttribute(labels);
    r.limit = outer;
    return result;
  }

  // --- scope and metric --------------------------------------------------------------------

  private decodeScopeMetrics(): void {
    const r = this.r;
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag >>> 3 === 2) {
        r.expect(tag, WIRE_LEN);
        const outer = this.enter();
        this.decodeMetric();
        r.limit = outer;
      } else {
        r.skip(tag);
      }
    }
  }

  private decodeMetric(): void {
    const r = this.r;
    const end = r.limit;
    let nameStart = 0;
    let nameEnd = 0;
    let dataField = 0;
    let dataStart = 0;
    let dataEnd = 0;
    while (r.hasMore()) {
      const tag = r.tag();
      const field = tag >>> 3;
      if (field === 1) {
        r.expect(tag, WIRE_LEN);
        nameEnd = r.lengthDelimitedEnd();
        nameStart = r.pos;
        r.pos = nameEnd;
      } else if (field === GAUGE || field === SUM || field === HISTOGRAM || field === EXPONENTIAL_HISTOGRAM || field === SUMMARY) {
        r.expect(tag, WIRE_LEN);
        dataEnd = r.lengthDelimitedEnd();
        dataStart = r.pos;
        dataField = field;
        r.pos = dataEnd;
      } else {
        r.skip(tag);
      }
    }
    if (dataField === 0) return;
    r.pos = dataStart;
    r.limit = dataEnd;
    this.decodeMetricData(r.stringAt(nameStart, nameEnd), dataField);
    r.pos = end;
    r.limit = end;
  }

  private decodeMetricData(rawName: string | null, dataField: number): void {
    if (rawName === null) return this.rejectAllDataPoints("invalid_utf8", "<invalid UTF-8>");
    const name = sanitizeMetricName(rawName);
    if (name === "") return this.rejectAllDataPoints("invalid_name", "");
    if (dataField === SUMMARY) return this.rejectAllDataPoints("unsupported_type", name);
    if (dataField === GAUGE) return this.decodeNumberDataPoints(name, "gauge", "cumulative"); // temporality unused

    this.scanAggregation();
    const temporality = this.temporality;
    if (temporality === null) return this.rejectAllDataPoints("invalid_temporality", name);
    if (dataField === SUM) return this.decodeNumberDataPoints(name, this.isMonotonic ? "counter" : "updown", temporality);
    this.forEachDataPoint(dataField === HISTOGRAM ? () => this.decodeHistogramPoint(name, temporality) : () => this.decodeExpoPoint(name, temporality));
  }

  /** Sum / Histogram / ExponentialHistogram: reads fields 2 and 3, leaves pos where it was. */
  private scanAggregation(): void {
    const r = this.r;
    const start = r.pos;
    let temporality = 0;
    let isMonotonic = false;
    while (r.hasMore()) {
      const tag = r.tag();
      const field = tag >>> 3;
      if (field === 2 || field === 3) {
        r.expect(tag, WIRE_VARINT);
        const value = r.uint32();
        if (field === 2) temporality = value;
        else isMonotonic = value !== 0 || r.hi !== 0;
      } else if (field === 1) {
        r.expect(tag, WIRE_LEN);
        this.skipLengthDelimited();
      } else {
        r.skip(tag);
      }
    }
    r.pos = start;
    this.temporality = toTemporality(temporality);
    this.isMonotonic = isMonotonic;
  }

  /** Calls decodePoint for each data_points entry (field 1) with the reader narrowed to it. */
  private forEachDataPoint(decodePoint: () => void): void {
    const r = this.r;
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN);
        const outer = this.enter();
        decodePoint();
        r.limit = outer;
      } else {
        r.skip(tag);
      }
    }
  }

  private rejectAllDataPoints(reason: RejectReason, name: string): void {
    const r = this.r;
    let count = 0;
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN);
        count++;
      }
      r.skip(tag);
    }
    rejectPoints(this.ctx, reason, count, name);
  }

  // --- data points -------------------------------------------------------------------------

  private decodeNumberDataPoints(name: string, type: ScalarType, temporality: Temporality): void {
    // Not forEachDataPoint(): no closure per metric on the hottest path.
    const r = this.r;
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN);
        const outer = this.enter();
        this.decodeNumberPoint(name, type, temporality);
        r.limit = outer;
      } else {
        r.skip(tag);
      }
    }
  }

  private decodeNumberPoint(name: string, type: ScalarType, temporality: Temporality): void {
    const r = this.r;
    const labels: Labels = {};
    let reject: RejectReason | null = null;
    let startLo = 0;
    let startHi = 0;
    let timeLo = 0;
    let timeHi = 0;
    let valueKind = NumberKind.None;
    let value = 0;
    let flags = 0;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 7:
          r.expect(tag, WIRE_LEN);
          reject = this.decodeAttributeField(labels, reject);
          break;
        case 2:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          startLo = r.lo;
          startHi = r.hi;
          break;
        case 3: // time_unix_nano
          r.expect(tag, WIRE_I64);
          r.fixed64();
          timeLo = r.lo;
          timeHi = r.hi;
          break;
        case 4:
          r.expect(tag, WIRE_I64);
          value = r.double();
          valueKind = NumberKind.Double;
          break;
        case 6:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          value = r.int64Number();
          valueKind = NumberKind.Int;
          break;
        case 5: // exemplars
          r.expect(tag, WIRE_LEN);
          this.skipLengthDelimited();
          break;
        case 8:
          r.expect(tag, WIRE_VARINT);
          flags = r.uint32();
          break;
        default:
          r.skip(tag);
      }
    }
    if (hasNoRecordedValue(flags)) return;
    if (reject === null && valueKind === NumberKind.None) reject = "missing_value";
    if (reject !== null) return rejectPoints(this.ctx, reject, 1, name);
    const pointValue: PointValue = type === "gauge" ? { type, value } : { type, temporality, value };
    this.pushPoint(name, labels, startLo, startHi, timeLo, timeHi, pointValue);
  }

  private decodeHistogramPoint(name: string, temporality: Temporality): void {
    const r = this.r;
    const labels: Labels = {};
    let reject: RejectReason | null = null;
    let startLo = 0;
    let startHi = 0;
    let timeLo = 0;
    let timeHi = 0;
    let count = 0;
    let sum = Number.NaN;
    const counts: number[] = [];
    const bounds: number[] = [];
    let flags = 0;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 9:
          r.expect(tag, WIRE_LEN);
          reject = this.decodeAttributeField(labels, reject);
          break;
        case 2:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          startLo = r.lo;
          startHi = r.hi;
          break;
        case 4:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          count = r.uint64Number();
          break;
        case 5:
          r.expect(tag, WIRE_I64);
          sum = r.double();
          break;
        case 6:
          this.readRepeatedFixed64(tag, counts);
          break;
        case 7:
          this.readRepeatedDouble(tag, bounds);
          break;
        case 3: // time_unix_nano
          r.expect(tag, WIRE_I64);
          r.fixed64();
          timeLo = r.lo;
          timeHi = r.hi;
          break;
        case 11: // min: not part of ExplicitHistogramData
        case 12: // max
          r.expect(tag, WIRE_I64);
          r.fixed64();
          break;
        case 8: // exemplars
          r.expect(tag, WIRE_LEN);
          this.skipLengthDelimited();
          break;
        case 10:
          r.expect(tag, WIRE_VARINT);
          flags = r.uint32();
          break;
        default:
          r.skip(tag);
      }
    }
    if (hasNoRecordedValue(flags)) return;
    const data = { bounds, counts, count, sum };
    reject ??= checkExplicitHistogram(data);
    if (reject !== null) return rejectPoints(this.ctx, reject, 1, name);
    this.pushPoint(name, labels, startLo, startHi, timeLo, timeHi, { type: "explicit", temporality, data });
  }

  private decodeExpoPoint(name: string, temporality: Temporality): void {
    const r = this.r;
    const labels: Labels = {};
    let reject: RejectReason | null = null;
    let startLo = 0;
    let startHi = 0;
    let timeLo = 0;
    let timeHi = 0;
    const data = {
      scale: 0,
      zeroThreshold: 0,
      zeroCount: 0,
      count: 0,
      sum: Number.NaN,
      min: Number.POSITIVE_INFINITY,
      max: Number.NEGATIVE_INFINITY,
      positive: { offset: 0, counts: [] as number[] },
      negative: { offset: 0, counts: [] as number[] },
    };
    let flags = 0;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1:
          r.expect(tag, WIRE_LEN);
          reject = this.decodeAttributeField(labels, reject);
          break;
        case 2:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          startLo = r.lo;
          startHi = r.hi;
          break;
        case 3: // time_unix_nano
          r.expect(tag, WIRE_I64);
          r.fixed64();
          timeLo = r.lo;
          timeHi = r.hi;
          break;
        case 4:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          data.count = r.uint64Number();
          break;
        case 5:
          r.expect(tag, WIRE_I64);
          data.sum = r.double();
          break;
        case 6:
          r.expect(tag, WIRE_VARINT);
          data.scale = r.sint32();
          break;
        case 7:
          r.expect(tag, WIRE_I64);
          r.fixed64();
          data.zeroCount = r.uint64Number();
          break;
        case 8:
        case 9: {
          r.expect(tag, WIRE_LEN);
          const outer = this.enter();
          this.decodeBuckets(tag >>> 3 === 8 ? data.positive : data.negative);
          r.limit = outer;
          break;
        }
        case 10:
          r.expect(tag, WIRE_VARINT);
          flags = r.uint32();
          break;
        case 11: // exemplars
          r.expect(tag, WIRE_LEN);
          this.skipLengthDelimited();
          break;
        case 12:
          r.expect(tag, WIRE_I64);
          data.min = r.double();
          break;
        case 13:
          r.expect(tag, WIRE_I64);
          data.max = r.double();
          break;
        case 14:
          r.expect(tag, WIRE_I64);
          data.zeroThreshold = r.double();
          break;
        default:
          r.skip(tag);
      }
    }
    if (hasNoRecordedValue(flags)) return;
    reject ??= checkExpoHistogram(data);
    if (reject !== null) return rejectPoints(this.ctx, reject, 1, name);
    this.pushPoint(name, labels, startLo, startHi, timeLo, timeHi, { type: "expo", temporality, data });
  }

  /**
   * Start and time are fixed64 halves (exact ms by nanosToMs, no BigInt). timeMs only when asked
   * for (ctx.pointTimes), so the agent's points keep their one shape.
   */
  private pushPoint(name: string, labels: Labels, startLo: number, startHi: number, timeLo: number, timeHi: number, value: PointValue): void {
    const startTimeMs = nanosToMs(startLo, startHi);
    this.ctx.points.push(
      this.ctx.pointTimes ? { name, labels, startTimeMs, timeMs: nanosToMs(timeLo, timeHi), value } : { name, labels, startTimeMs, value },
    );
  }

  /** ExponentialHistogramDataPoint.Buckets{offset sint32 = 1, bucket_counts repeated uint64 = 2}. */
  private decodeBuckets(into: ExpoBuckets): void {
    const r = this.r;
    while (r.hasMore()) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1:
          r.expect(tag, WIRE_VARINT);
          into.offset = r.sint32();
          break;
        case 2:
          if ((tag & 7) === WIRE_LEN) {
            const outer = this.enter();
            while (r.hasMore()) {
              r.varint64();
              into.counts.push(r.uint64Number());
            }
            r.limit = outer;
          } else {
            r.expect(tag, WIRE_VARINT);
            r.varint64();
            into.counts.push(r.uint64Number());
          }
          break;
        default:
          r.skip(tag);
      }
    }
  }

  // --- repeated scalars (packed or not) ----------------------------------------------------

  private readRepeatedFixed64(tag: number, into: number[]): void {
    const r = this.r;
    if ((tag & 7) !== WIRE_LEN) {
      r.expect(tag, WIRE_I64);
      r.fixed64();
      into.push(r.uint64Number());
      return;
    }
    const outer = this.packedEnter(8);
    while (r.hasMore()) {
      r.fixed64();
      into.push(r.uint64Number());
    }
    r.limit = outer;
  }

  private readRepeatedDouble(tag: number, into: number[]): void {
    const r = this.r;
    if ((tag & 7) !== WIRE_LEN) {
      r.expect(tag, WIRE_I64);
      into.push(r.double());
      return;
    }
    const outer = this.packedEnter(8);
    while (r.hasMore()) into.push(r.double());
    r.limit = outer;
  }

  private packedEnter(elementBytes: number): number {
    const r = this.r;
    const outer = this.enter();
    if ((r.limit - r.pos) % elementBytes !== 0) r.fail(`packed field length is not a multiple of ${elementBytes}`);
    return outer;
  }
}
