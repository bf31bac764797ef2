/**
 * One pass over a decompressed remote-write 1.0 WriteRequest (PROTOCOLS.md §1.2): where every
 * TimeSeries sits, what it is called, what it carries, and whether its labels may be stored. The
 * request is never decoded into objects: the hub forwards the sender's own bytes for the series
 * it keeps (remote-write-decode.ts rebuildWriteRequest), so nothing is re-encoded and no value
 * ever passes through a JS number (stale NaN markers keep their bit pattern; see PROTOCOLS §1.1).
 *
 * Byte layout walked (field numbers from prompb; every known field must have its wire type):
 *   WriteRequest  1 timeseries (LEN)*   3 metadata (LEN)*   anything else: skipped, not forwarded
 *   TimeSeries    1 labels (LEN)*  2 samples (LEN)*  3 exemplars (LEN)*  4 histograms (LEN)*
 *   Label         1 name (LEN)  2 value (LEN)
 *   Sample        1 value (I64)  2 timestamp (VARINT)
 *   Exemplar      1 labels (LEN)*  2 value (I64)  3 timestamp (VARINT)
 *   Histogram     1,4,6,14,15 VARINT · 2,3,5,7 I64 · 8,11 BucketSpan{1,2 VARINT} ·
 *                 9,12 sint64 (packed or not) · 10,13,16 double (packed or not)
 *   MetricMetadata 1 type (VARINT)  2 family name, 4 help, 5 unit (LEN, UTF-8)
 * Any malformed protobuf anywhere → 400 "malformed_protobuf" for the whole request: upstream
 * would refuse all of it anyway, so forwarding part of it would only hide the problem.
 *
 * Series identity: the key of a TimeSeries is the bytes of its label fields (tags and lengths
 * included): unique, and the same for the same label set from any sender that encodes
 * canonically. Label fields are normally contiguous; when they are interleaved with samples, the
 * key is the concatenation of the label fields, so it does not change. Downstream, a series is
 * known by the 64-bit hash of those bytes (hashHi, hashLo).
 *
 * Cost per series (verdict-cache.ts): a series seen before costs one compare of its label bytes
 * against the cached copy (the entry is predicted from the previous series' entry, or found by
 * hash), one small object, and no string.
 * A label set not in the cache has its labels parsed and checked — names valid, sorted by byte
 * order and unique, values valid UTF-8, __name__ present, then the hub policy — where each label
 * (name + value) is itself judged once and cached by its raw bytes, so a new series made of
 * labels seen before skips the value checks. The cached series entry records the label count
 * and longest name / value, so the per-request (per-tenant) limits are checked against it
 * without parsing again. Exemplar labels are checked every time (they change per request):
 * valid name, valid UTF-8, not a forbidden name.
 * Measured (bench/hub-decode.bench.ts, 300 series × 8 labels per request, scan only, Bun / Node):
 * ~0.3 / 0.4 µs per series seen before; with decompression, per new series made of known labels
 * ~1.6 / 2.1 µs, and ~3 / 3.9 µs when one of its label values is new.
 */
import { Hash64 } from "../tenants/hash64";
import { Buffer } from "node:buffer";
import { err, ok, type Result } from "../../agent/core/result";
import { MalformedProtobufError, ProtobufReader, WIRE_I64, WIRE_LEN, WIRE_VARINT } from "../../agent/sources/otlp/protobuf-reader";
import type { CachedLabel, CachedSeries, HubSeriesPolicy, SeriesRejection } from "./hub-policy";
import { ingestError, type IngestError } from "./ingest-error";
import { compareBytes, isAscii, isMetricNameLabel, isValidLabelNameBytes, isValidUtf8 } from "./label-bytes";
import { labelBytesOf, type CacheEntry, type LabelBytes } from "./verdict-cache";

export interface ScanLimits {
  /** TimeSeries per request; more → 413. */
  maxSeries: number;
  /** Label fields per series, __name__ included; more → series rejected. */
  maxLabelsPerSeries: number;
  maxLabelNameBytes: number;
  maxLabelValueBytes: number;
}

/** [start, end) of a field in the request, tag and length prefix included. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ScannedSeries extends ByteRange {
  /** 64-bit hash of the label bytes (hash64.ts), stable across processes: the series' identity. */
  hashHi: number;
  hashLo: number;
  /** Metric name; "" when __name__ is missing or unreadable. */
  name: string;
  samples: number;
  histograms: number;
  exemplars: number;
  /** Why the series must not be stored; undefined = kept. */
  rejected: SeriesRejection | undefined;
  /** The series cache's object for these labels (shared by every request that has them). */
  cached: CachedSeries;
}

export interface ScanResult {
  series: ScannedSeries[];
  /** Totals over all series, rejected ones included. */
  samples: number;
  histograms: number;
  exemplars: number;
  rejectedSeries: number;
  /** MetricMetadata entries (field 3) that are well-formed, in request order. */
  metadata: ByteRange[];
  /** Bytes a rebuild does not carry: unknown top-level fields, metadata with broken UTF-8. */
  droppedBytes: number;
}

const EMPTY_INT32 = new Int32Array(0);
const TAG_TIMESERIES = 0x0a; // WriteRequest.timeseries = 1, LEN
const TAG_METADATA = 0x1a; // WriteRequest.metadata = 3, LEN
const TAG_LABELS = 0x0a; // TimeSeries.labels = 1
const TAG_SAMPLES = 0x12; // TimeSeries.samples = 2
const TAG_EXEMPLARS = 0x1a; // TimeSeries.exemplars = 3
const TAG_HISTOGRAMS = 0x22; // TimeSeries.histograms = 4
const TAG_LABEL_NAME = 0x0a;
const TAG_LABEL_VALUE = 0x12;
const TAG_SAMPLE_VALUE = 0x09; // Sample.value = 1, I64
const TAG_SAMPLE_TIMESTAMP = 0x10; // Sample.timestamp = 2, VARINT

// Only its constructor argument: the scanner validates UTF-8 itself and never decodes through it.
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

type SliceMethod = (this: Buffer, start: number, end: number) => string;
const bufferMethods = Buffer.prototype as unknown as Record<string, SliceMethod | undefined>;
/**
 * Buffer's latin1Slice / utf8Slice (Node and Bun both have them; Node's toString() calls them
 * after argument checks that cost ~5 % of a scan). Falls back to toString() elsewhere.
 */
const latin1Slice: SliceMethod = bufferMethods.latin1Slice ?? function (this: Buffer, start: number, end: number) {
  return this.toString("latin1", start, end);
};
const utf8Slice: SliceMethod = bufferMethods.utf8Slice ?? function (this: Buffer, start: number, end: number) {
  return this.toString("utf8", start, end);
};

/** Walks `buf` once; see the module comment. Never throws on any input. */
export function scanWriteRequest(buf: Uint8Array, limits: ScanLimits, policy: HubSeriesPolicy): Result<ScanResult, IngestError> {
  try {
    return new WriteRequestScanner(buf, limits, policy).scan();
  } catch (e) {
    if (e instanceof MalformedProtobufError) {
      return err(ingestError(400, "malformed_protobuf", `body is not a valid remote-write WriteRequest: ${e.message}`));
    }
    throw e;
  }
}

class WriteRequestScanner {
  private readonly r: ProtobufReader;
  /** buf as a Buffer (latin1 / UTF-8 slices, compares) and a DataView (hashing); no copies. */
  private readonly source: LabelBytes;
  /** [start, end) of each label field of the series being scanned. */
  private labelFields = new Int32Array(64);
  /** [nameStart, nameEnd, valueStart, valueEnd] per label, filled by parseLabels(). */
  private labelParts = EMPTY_INT32;
  /** Cache entries of the previous series / label in this request: their successors are tried first. */
  private lastEntry: CacheEntry<CachedSeries> | undefined;
  private readonly hasher = new Hash64();
  private lastLabel: CacheEntry<CachedLabel> | undefined;
  /** Result of the last readLabel(). */
  private nameStart = 0;
  private nameEnd = 0;
  private valueStart = 0;
  private valueEnd = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly limits: ScanLimits,
    private readonly policy: HubSeriesPolicy,
  ) {
    this.r = new ProtobufReader(buf, STRICT_UTF8);
    this.source = labelBytesOf(buf);
  }

  scan(): Result<ScanResult, IngestError> {
    const r = this.r;
    const total = this.buf.length;
    const maxSeries = this.limits.maxSeries;
    const series: ScannedSeries[] = [];
    const metadata: ByteRange[] = [];
    let samples = 0;
    let histograms = 0;
    let exemplars = 0;
    let rejectedSeries = 0;
    let droppedBytes = 0;
    while (r.pos < total) {
      const start = r.pos;
      const tag = r.tag();
      if (tag === TAG_TIMESERIES) {
        if (series.length >= maxSeries) {
          return err(ingestError(413, "too_many_series", `request has more than ${maxSeries} series, the limit per request (maxSeriesPerRequest)`));
        }
        const end = r.lengthDelimitedEnd();
        r.limit = end;
        const s = this.scanTimeSeries(start, end);
        r.pos = end;
        r.limit = total;
        series.push(s);
        samples += s.samples;
        histograms += s.histograms;
        exemplars += s.exemplars;
        if (s.rejected !== undefined) rejectedSeries++;
      } else if (tag === TAG_METADATA) {
        const end = r.lengthDelimitedEnd();
        r.limit = end;
        const isReadable = this.scanMetadata();
        r.limit = total;
        if (isReadable) metadata.push({ start, end });
        else droppedBytes += end - start;
      } else {
        const field = tag >>> 3;
        if (field === 1 || field === 3) r.fail(`WriteRequest field ${field} has wire type ${tag & 7}, expected 2`);
        r.skip(tag);
        droppedBytes += r.pos - start;
      }
    }
    return ok({ series, samples, histograms, exemplars, rejectedSeries, metadata, droppedBytes });
  }

  // --- TimeSeries ----------------------------------------------------------------------------

  /** r is narrowed to the TimeSeries payload [.., end); `start` is where its tag is. */
  private scanTimeSeries(start: number, end: number): ScannedSeries {
    const r = this.r;
    const payloadStart = r.pos;
    // The labels the cache predicts, matched in place: no walking of the label fields.
    let known = this.predictedLabels(payloadStart, end);
    let labelCount = 0;
    let labelsTo = -1;
    let isContiguous = true;
    let samples = 0;
    let histograms = 0;
    let exemplars = 0;
    let exemplarRejection: SeriesRejection | undefined;
    const buf = this.buf;
    while (r.pos < end) {
      const fieldStart = r.pos;
      if (known !== undefined && buf[fieldStart] === TAG_LABELS) {
        // A label field after the samples (interleaved labels): the series' key is all its label
        // fields joined, not the prediction. Start this series again the long way (rare).
        known = undefined;
        r.pos = payloadStart;
        samples = histograms = exemplars = 0;
        exemplarRejection = undefined;
        continue;
      }
      // Fast path: a label field with a 1-byte length (labels under 128 bytes), read inline.
      if (buf[fieldStart] === TAG_LABELS && fieldStart + 1 < end && buf[fieldStart + 1] < 0x80) {
        const fieldEnd = fieldStart + 2 + buf[fieldStart + 1];
        if (fieldEnd > end) r.fail(`label of ${buf[fieldStart + 1]} bytes overruns its series at byte ${fieldStart}`);
        if (labelCount > 0 && fieldStart !== labelsTo) isContiguous = false;
        this.addLabelField(labelCount, fieldStart, fieldEnd);
        labelCount++;
        labelsTo = fieldEnd;
        r.pos = fieldEnd;
        continue;
      }
      if (buf[fieldStart] === TAG_SAMPLES && this.skipPlainSample(fieldStart, end)) {
        samples++;
        continue;
      }
      const tag = r.tag();
      if (tag === TAG_LABELS) {
        const fieldEnd = r.lengthDelimitedEnd();
        if (labelCount > 0 && fieldStart !== labelsTo) isContiguous = false;
        this.addLabelField(labelCount, fieldStart, fieldEnd);
        labelCount++;
        labelsTo = fieldEnd;
        r.pos = fieldEnd;
      } else if (tag === TAG_SAMPLES) {
        this.scanSample();
        samples++;
      } else if (tag === TAG_HISTOGRAMS) {
        this.scanHistogram();
        histograms++;
      } else if (tag === TAG_EXEMPLARS) {
        const rejected = this.scanExemplar();
        exemplarRejection ??= rejected;
        exemplars++;
      } else {
        const field = tag >>> 3;
        if (field >= 1 && field <= 4) r.fail(`TimeSeries field ${field} has wire type ${tag & 7}, expected 2`);
        r.skip(tag);
      }
    }

    let entry: CacheEntry<CachedSeries>;
    if (known !== undefined) {
      entry = known;
      this.lastEntry = known;
    } else {
      entry = this.cachedEntry(labelCount, labelsTo, isContiguous);
    }
    const verdict = entry.value;
    const rejected = this.checkLimits(verdict) ?? verdict.rejected ?? exemplarRejection;
    return { start, end, hashHi: verdict.hashHi, hashLo: verdict.hashLo, name: verdict.name, samples, histograms, exemplars, rejected, cached: verdict };
  }

  /**
   * The cache's predicted entry (the one that followed the previous series' entry last time)
   * when the series' payload starts with exactly its label bytes and no label field follows
   * them; r.pos is then moved past them. Byte-for-byte equal bytes are the same complete label
   * fields, so they need not be walked: senders that repeat their series in the same order
   * (our agents; a Prometheus shard mostly) skip the label walk for almost every series.
   */
  private predictedLabels(from: number, end: number): CacheEntry<CachedSeries> | undefined {
    const cache = this.policy.seriesCache;
    const length = cache.predictedLength(this.lastEntry);
    if (length <= 0) return undefined;
    const to = from + length;
    if (to > end || (to < end && this.buf[to] === TAG_LABELS)) return undefined;
    const entry = cache.confirmPredicted(this.source, from, this.lastEntry);
    if (entry !== undefined) this.r.pos = to;
    return entry;
  }

  /** The cache entry of the label fields just scanned, judging them on a miss. */
  private cachedEntry(labelCount: number, labelsTo: number, isContiguous: boolean): CacheEntry<CachedSeries> {
    const cache = this.policy.seriesCache;
    let source = this.source;
    let from = labelCount === 0 ? 0 : this.labelFields[0];
    let to = labelCount === 0 ? 0 : labelsTo;
    if (!isContiguous) {
      source = this.joinLabelFields(labelCount);
      from = 0;
      to = source.bytes.length;
    }
    const after = this.lastEntry;
    let entry = cache.get(source, from, to, after);
    if (entry === undefined) {
      const verdict = this.judgeLabels(labelCount);
      this.hasher.hash(latin1Slice.call(source.bytes, from, to));
      verdict.hashHi = this.hasher.hi;
      verdict.hashLo = this.hasher.lo;
      entry = cache.add(source, from, to, verdict, after);
    }
    this.lastEntry = entry;
    return entry;
  }

  private addLabelField(index: number, start: number, end: number): void {
    if (2 * index + 2 > this.labelFields.length) {
      const grown = new Int32Array(this.labelFields.length * 2);
      grown.set(this.labelFields);
      this.labelFields = grown;
    }
    this.labelFields[2 * index] = start;
    this.labelFields[2 * index + 1] = end;
  }

  /** The label fields copied together (interleaved labels: rare). */
  private joinLabelFields(labelCount: number): LabelBytes {
    const fields = this.labelFields;
    let length = 0;
    for (let i = 0; i < labelCount; i++) length += fields[2 * i + 1] - fields[2 * i];
    const joined = new Uint8Array(length);
    let at = 0;
    for (let i = 0; i < labelCount; i++) {
      joined.set(this.buf.subarray(fields[2 * i], fields[2 * i + 1]), at);
      at += fields[2 * i + 1] - fields[2 * i];
    }
    return labelBytesOf(joined);
  }

  /** The per-request limits against a (possibly cached) label set. */
  private checkLimits(entry: CachedSeries): SeriesRejection | undefined {
    const limits = this.limits;
    if (entry.labelCount > limits.maxLabelsPerSeries) {
      return { reason: "too_many_labels", message: `series has ${entry.labelCount} labels, more than the limit of ${limits.maxLabelsPerSeries} per series` };
    }
    if (entry.longestNameBytes > limits.maxLabelNameBytes) {
      return { reason: "label_name_too_long", message: `a label name has ${entry.longestNameBytes} bytes, more than the limit of ${limits.maxLabelNameBytes}` };
    }
    if (entry.longestValueBytes > limits.maxLabelValueBytes) {
      return { reason: "value_too_long", message: `a label value has ${entry.longestValueBytes} bytes, more than the limit of ${limits.maxLabelValueBytes}` };
    }
    return undefined;
  }

  // --- labels (only for label sets not in the cache) ----------------------------------------

  /**
   * Judges the label fields recorded by scanTimeSeries (a label set not in the series cache);
   * r.limit is the series' end. Per label, its verdict comes from the label cache or is made and
   * cached (judgeLabel); then, in this order, the first problem wins: per label in order its
   * bytes (valid name, valid UTF-8) and its order (sorted, unique); __name__ present; the
   * policy (metric name, label count, then each label in order).
   */
  private judgeLabels(labelCount: number): CachedSeries {
    this.parseLabels(labelCount);
    const buf = this.buf;
    const parts = this.labelParts;
    let malformed: SeriesRejection | undefined;
    let labelRejected: SeriesRejection | undefined;
    let metricNameRejected: SeriesRejection | undefined;
    let name = "";
    let hasMetricName = false;
    let nonEmpty = 0;
    let longestNameBytes = 0;
    let longestValueBytes = 0;
    for (let i = 0; i < labelCount; i++) {
      const ns = parts[4 * i];
      const ne = parts[4 * i + 1];
      if (ne - ns > longestNameBytes) longestNameBytes = ne - ns;
      if (parts[4 * i + 3] - parts[4 * i + 2] > longestValueBytes) longestValueBytes = parts[4 * i + 3] - parts[4 * i + 2];
      const label = this.judgeLabel(i);
      if (label.isMetricName) {
        hasMetricName = true;
        name = label.metricName;
        metricNameRejected = label.rejected;
      } else if (!label.isEmptyValue) {
        nonEmpty++;
      }
      if (malformed !== undefined) continue;
      if (label.malformed !== undefined) {
        malformed = label.malformed;
        continue;
      }
      if (i > 0) {
        const order = compareBytes(buf, parts[4 * (i - 1)], parts[4 * (i - 1) + 1], ns, ne);
        if (order >= 0) {
          malformed =
            order === 0
              ? { reason: "duplicate_label", message: `label ${this.describeName(ns, ne)} appears twice` }
              : { reason: "unsorted_labels", message: `labels are not sorted by name: ${this.describeName(parts[4 * (i - 1)], parts[4 * (i - 1) + 1])} comes before ${this.describeName(ns, ne)}` };
          continue;
        }
      }
      if (!label.isMetricName) labelRejected ??= label.rejected;
    }
    let rejected = malformed;
    if (rejected === undefined && !hasMetricName) rejected = { reason: "missing_metric_name", message: "series has no __name__ label" };
    rejected ??= metricNameRejected ?? this.policy.checkLabelCount(nonEmpty) ?? labelRejected;
    return { name, labelCount, longestNameBytes, longestValueBytes, rejected, hashHi: 0, hashLo: 0, memoOwner: undefined, memoSec: 0 };
  }

  /** The verdict on label i, from the label cache or judged and cached now. */
  private judgeLabel(i: number): CachedLabel {
    const cache = this.policy.labelCache;
    const from = this.labelFields[2 * i];
    const to = this.labelFields[2 * i + 1];
    let entry = cache.get(this.source, from, to, this.lastLabel);
    if (entry === undefined) {
      const parts = this.labelParts;
      entry = cache.add(this.source, from, to, this.judgeLabelBytes(parts[4 * i], parts[4 * i + 1], parts[4 * i + 2], parts[4 * i + 3]), this.lastLabel);
    }
    this.lastLabel = entry;
    return entry.value;
  }

  private judgeLabelBytes(ns: number, ne: number, vs: number, ve: number): CachedLabel {
    const buf = this.buf;
    const isMetricName = isMetricNameLabel(buf, ns, ne);
    const verdict: CachedLabel = { malformed: undefined, rejected: undefined, isMetricName, metricName: "", isEmptyValue: vs === ve };
    if (!isValidLabelNameBytes(buf, ns, ne)) {
      verdict.malformed = { reason: "invalid_label_name", message: `label ${this.describeName(ns, ne)} is not a valid label name` };
    } else if (!isValidUtf8(buf, vs, ve)) {
      verdict.malformed = { reason: "invalid_utf8", message: `label ${this.describeName(ns, ne)} value is not valid UTF-8` };
    } else if (isMetricName) {
      verdict.metricName = this.utf8(vs, ve);
      verdict.rejected = this.policy.checkMetricName(verdict.metricName);
    } else {
      verdict.rejected = this.policy.checkLabel(this.latin1(ns, ne), this.utf8(vs, ve));
    }
    return verdict;
  }

  private parseLabels(labelCount: number): void {
    if (4 * labelCount > this.labelParts.length) this.labelParts = new Int32Array(Math.max(128, 4 * labelCount));
    const r = this.r;
    const savedPos = r.pos;
    for (let i = 0; i < labelCount; i++) {
      r.pos = this.labelFields[2 * i];
      r.tag();
      this.readLabel();
      this.labelParts[4 * i] = this.nameStart;
      this.labelParts[4 * i + 1] = this.nameEnd;
      this.labelParts[4 * i + 2] = this.valueStart;
      this.labelParts[4 * i + 3] = this.valueEnd;
    }
    r.pos = savedPos;
  }

  /** Label{name, value} whose tag was just read: sets nameStart … valueEnd (empty when absent). */
  private readLabel(): void {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    let nameStart = r.pos;
    let nameEnd = r.pos;
    let valueStart = r.pos;
    let valueEnd = r.pos;
    while (r.pos < end) {
      const tag = r.tag();
      if (tag === TAG_LABEL_NAME) {
        nameEnd = r.lengthDelimitedEnd();
        nameStart = r.pos;
        r.pos = nameEnd;
      } else if (tag === TAG_LABEL_VALUE) {
        valueEnd = r.lengthDelimitedEnd();
        valueStart = r.pos;
        r.pos = valueEnd;
      } else {
        const field = tag >>> 3;
        if (field === 1 || field === 2) r.fail(`Label field ${field} has wire type ${tag & 7}, expected 2`);
        r.skip(tag);
      }
    }
    r.limit = outer;
    this.nameStart = nameStart;
    this.nameEnd = nameEnd;
    this.valueStart = valueStart;
    this.valueEnd = valueEnd;
  }

  // --- samples, histograms, exemplars ---------------------------------------------------------

  /**
   * Fast path for the usual sample field at `at`: 1-byte length, then `09 <8 bytes>` and/or
   * `10 <varint>` in that order, nothing else. Moves r past it and returns true; returns false
   * (r untouched) for anything else, which scanSample() then reads the general way.
   */
  private skipPlainSample(at: number, limit: number): boolean {
    const buf = this.buf;
    const length = buf[at + 1];
    if (!(length < 0x80)) return false;
    const end = at + 2 + length;
    if (end > limit) return false;
    let p = at + 2;
    if (p < end && buf[p] === TAG_SAMPLE_VALUE) p += 9;
    if (p < end && buf[p] === TAG_SAMPLE_TIMESTAMP) {
      const varintEnd = p + 11;
      p++;
      while (p < end && p < varintEnd && buf[p] >= 0x80) p++;
      p++; // the varint's last byte
      if (p > varintEnd) return false;
    }
    if (p !== end) return false;
    this.r.pos = end;
    return true;
  }

  private scanSample(): void {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    while (r.pos < end) {
      const tag = r.tag();
      if (tag !== TAG_SAMPLE_VALUE && tag !== TAG_SAMPLE_TIMESTAMP) {
        const field = tag >>> 3;
        if (field === 1) r.expect(tag, WIRE_I64);
        if (field === 2) r.expect(tag, WIRE_VARINT);
      }
      r.skip(tag);
    }
    r.limit = outer;
  }

  private scanHistogram(): void {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    while (r.pos < end) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1: // count_int
        case 4: // schema
        case 6: // zero_count_int
        case 14: // reset_hint
        case 15: // timestamp
          r.expect(tag, WIRE_VARINT);
          r.varint64();
          break;
        case 2: // count_float
        case 3: // sum
        case 5: // zero_threshold
        case 7: // zero_count_float
          r.expect(tag, WIRE_I64);
          r.skip(tag);
          break;
        case 8: // negative_spans
        case 11: // positive_spans
          r.expect(tag, WIRE_LEN);
          this.scanBucketSpan();
          break;
        case 9: // negative_deltas
        case 12: // positive_deltas
          if ((tag & 7) === WIRE_LEN) this.scanPackedVarints();
          else {
            r.expect(tag, WIRE_VARINT);
            r.varint64();
          }
          break;
        case 10: // negative_counts
        case 13: // positive_counts
        case 16: // custom_values
          if ((tag & 7) === WIRE_LEN) this.scanPackedFixed64();
          else {
            r.expect(tag, WIRE_I64);
            r.skip(tag);
          }
          break;
        default:
          r.skip(tag);
      }
    }
    r.limit = outer;
  }

  private scanBucketSpan(): void {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    while (r.pos < end) {
      const tag = r.tag();
      const field = tag >>> 3;
      if (field === 1 || field === 2) r.expect(tag, WIRE_VARINT);
      r.skip(tag);
    }
    r.limit = outer;
  }

  private scanPackedVarints(): void {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    while (r.pos < end) r.varint64();
    r.limit = outer;
  }

  private scanPackedFixed64(): void {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    if ((end - r.pos) % 8 !== 0) r.fail(`packed double field of ${end - r.pos} bytes is not a multiple of 8`);
    r.pos = end;
  }

  /** Exemplar: structure, plus its labels (valid name and UTF-8, not forbidden). */
  private scanExemplar(): SeriesRejection | undefined {
    const r = this.r;
    const end = r.lengthDelimitedEnd();
    const outer = r.limit;
    r.limit = end;
    let rejected: SeriesRejection | undefined;
    while (r.pos < end) {
      const tag = r.tag();
      switch (tag >>> 3) {
        case 1: {
          r.expect(tag, WIRE_LEN);
          this.readLabel();
          rejected ??= this.checkExemplarLabel();
          break;
        }
        case 2:
          r.expect(tag, WIRE_I64);
          r.skip(tag);
          break;
        case 3:
          r.expect(tag, WIRE_VARINT);
          r.varint64();
          break;
        default:
          r.skip(tag);
      }
    }
    r.limit = outer;
    return rejected;
  }

  private checkExemplarLabel(): SeriesRejection | undefined {
    const { nameStart, nameEnd, valueStart, valueEnd } = this;
    if (!isValidLabelNameBytes(this.buf, nameStart, nameEnd)) {
      return { reason: "invalid_label_name", message: `exemplar label ${this.describeName(nameStart, nameEnd)} is not a valid label name` };
    }
    if (!isValidUtf8(this.buf, valueStart, valueEnd)) {
      return { reason: "invalid_utf8", message: `exemplar label ${this.describeName(nameStart, nameEnd)} value is not valid UTF-8` };
    }
    return this.policy.checkExemplarLabelName(this.latin1(nameStart, nameEnd));
  }

  // --- metadata ------------------------------------------------------------------------------

  /** MetricMetadata; false when a string in it is not valid UTF-8 (the entry is then dropped). */
  private scanMetadata(): boolean {
    const r = this.r;
    const end = r.limit;
    let isReadable = true;
    while (r.pos < end) {
      const tag = r.tag();
      const field = tag >>> 3;
      if (field === 1) {
        r.expect(tag, WIRE_VARINT);
        r.varint64();
      } else if (field === 2 || field === 4 || field === 5) {
        r.expect(tag, WIRE_LEN);
        const stringEnd = r.lengthDelimitedEnd();
        if (!isValidUtf8(this.buf, r.pos, stringEnd)) isReadable = false;
        r.pos = stringEnd;
      } else {
        r.skip(tag);
      }
    }
    return isReadable;
  }

  // --- text ----------------------------------------------------------------------------------

  private latin1(start: number, end: number): string {
    return start === end ? "" : latin1Slice.call(this.source.bytes, start, end);
  }

  /** buf[start, end) already checked to be valid UTF-8. */
  private utf8(start: number, end: number): string {
    return isAscii(this.buf, start, end) ? this.latin1(start, end) : utf8Slice.call(this.source.bytes, start, end);
  }

  /** A label name for a message: JSON-quoted when it is readable text, else its size. */
  private describeName(start: number, end: number): string {
    if (end - start <= 128 && isValidUtf8(this.buf, start, end)) return JSON.stringify(this.utf8(start, end));
    return `(a ${end - start}-byte name)`;
  }
}
