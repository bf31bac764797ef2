/**
 * Encodes an aggregator flush as Prometheus remote-write 1.0 requests (PROTOCOLS.md §1–2):
 * protobuf `prometheus.WriteRequest` written by hand, then Snappy block compression. The bodies
 * are ready to POST with REMOTE_WRITE_HEADERS (sending is the sink's job).
 *
 * What a series becomes (every TimeSeries carries its full label set: series labels + identity
 * labels + `__name__`, see series-labels.ts; all at the flush's timestamp, unless a snapshot
 * brings its own `timestampMs` — a relay forwarding senders' times; the agent never sets it):
 *   counter, gauge         one Sample
 *   expo, "native" mode    one native Histogram (native-histogram.ts) — unless its scale is
 *                          below -4, which no native schema can hold (buckets cannot be split):
 *                          that series goes out as classic buckets and is counted in
 *                          `classicFallbacks`
 *   expo, "classic" mode   `x_bucket{le}` cumulative at every exponential bucket boundary
 *   explicit (both modes)  (classic-buckets.ts) or at the explicit bounds, then
 *                          `x_bucket{le="+Inf"}` = `x_count` = count, and `x_sum`
 *                          (PRW 1.0 has no native form for explicit buckets)
 * Stale markers (encodeStaleMarkers) end expired series: the stale NaN on each float series and
 * the stale native histogram on native series (timeseries-writer.ts).
 *
 * Series that cannot be sent (invalid metric or label name, a histogram with its own `le`
 * label) are left out and listed in `dropped`; the rest of the flush still goes. Requests are
 * bounded by `maxRequestBytes` (uncompressed) and `maxSamplesPerRequest` (request-batcher.ts).
 *
 * The agent never loads protobufjs for this: the generated prompb module beside this file is
 * the reference codec for tests and benches only.
 */
import type { SeriesKind, SeriesSnapshot } from "../../aggregate/aggregator";
import { expoToClassicBuckets } from "../../aggregate/classic-buckets";
import type { ExplicitHistogramData, ExpoHistogramData } from "../../core/points";
import { err, ok, type Result } from "../../core/result";
import { NativeHistogramBuilder, NATIVE_MIN_SCHEMA } from "./native-histogram";
import { RequestBatcher, type EncodedWriteRequest } from "./request-batcher";
import {
  classicRunsOf,
  LabelTemplates,
  prepareIdentityLabels,
  type IdentityLabels,
  type LabelPair,
  type LabelTemplate,
} from "./series-labels";
import { STALE, TimeSeriesWriter, type SampleValue } from "./timeseries-writer";

export type { EncodedWriteRequest } from "./request-batcher";
export { staleNanBytes } from "./timeseries-writer";

export type HistogramMode = "native" | "classic";

/**
 * The headers the bodies need (PRW 1.0, must not be overridable by users); the sender adds
 * `User-Agent: <name>/<version>`.
 */
export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "Content-Encoding": "snappy",
  "Content-Type": "application/x-protobuf",
  "X-Prometheus-Remote-Write-Version": "0.1.0",
});

export interface WriteRequestEncoderOptions {
  /** How exponential histograms go out; "classic" for stores without native histograms. */
  histograms: HistogramMode;
  /** Bound on one request's uncompressed protobuf bytes. Default 1 MiB. */
  maxRequestBytes?: number;
  /** Bound on samples + histograms per request. Default 2,000 (Prometheus' max_samples_per_send). */
  maxSamplesPerRequest?: number;
}

export const DEFAULT_MAX_REQUEST_BYTES = 1 << 20;
export const DEFAULT_MAX_SAMPLES_PER_REQUEST = 2_000;

export interface DroppedSeries {
  name: string;
  labels: readonly LabelPair[];
  reason: string;
}

export interface FlushEncoding {
  requests: EncodedWriteRequest[];
  /** Series left out, with the reason; the caller counts them and logs once. */
  dropped: DroppedSeries[];
  /** Exponential histograms sent as classic buckets because their scale is below -4. */
  classicFallbacks: number;
  /** Series whose label set had to be encoded (not cached from an earlier flush): new series. */
  labelSetsEncoded: number;
}

export type EncodeError =
  | { code: "REMOTE_WRITE_INVALID_IDENTITY"; message: string }
  | { code: "REMOTE_WRITE_INVALID_TIMESTAMP"; message: string };

/** An expired series. `last`, its last flushed snapshot, lets histograms mark every `le` stale. */
export interface StaleSeries {
  name: string;
  labels: readonly LabelPair[];
  kind: SeriesKind;
  last?: SeriesSnapshot;
}

/**
 * A series snapshot that may carry its own sample timestamp (integer ms since the epoch),
 * overriding the flush's. The aggregator's snapshots never have one, so the agent's bodies are
 * the same as without it. A snapshot whose own timestamp is not a safe integer is dropped.
 */
export type TimedSeriesSnapshot = SeriesSnapshot & { timestampMs?: number };

export interface WriteRequestEncoder {
  /** The flush's series at `timestampMs` (or their own, see TimedSeriesSnapshot), as one or more request bodies. */
  encodeFlush(series: readonly TimedSeriesSnapshot[], identity: readonly LabelPair[], timestampMs: number): Result<FlushEncoding, EncodeError>;
  /**
   * Stale markers for expired series at `timestampMs` (later than their last sample). Without
   * `last`, a classic histogram's finite `le` buckets are not marked (they go stale in the
   * store after its lookback window); `_sum`, `_count` and `le="+Inf"` always are.
   */
  encodeStaleMarkers(expired: readonly StaleSeries[], identity: readonly LabelPair[], timestampMs: number): Result<FlushEncoding, EncodeError>;
}

/** Why `options` are unusable, naming the field and value; undefined when they are fine. */
export function describeInvalidOptions(options: WriteRequestEncoderOptions): string | undefined {
  if (options.histograms !== "native" && options.histograms !== "classic") {
    return `histograms must be "native" or "classic" (got ${JSON.stringify(options.histograms)})`;
  }
  const { maxRequestBytes, maxSamplesPerRequest } = options;
  if (maxRequestBytes !== undefined && !(Number.isInteger(maxRequestBytes) && maxRequestBytes > 0)) {
    return `maxRequestBytes must be a positive integer (got ${maxRequestBytes})`;
  }
  if (maxSamplesPerRequest !== undefined && !(Number.isInteger(maxSamplesPerRequest) && maxSamplesPerRequest > 0)) {
    return `maxSamplesPerRequest must be a positive integer (got ${maxSamplesPerRequest})`;
  }
  return undefined;
}

/** An encoder keeping per-series encoded labels and its buffers across flushes (not reentrant). */
export function createWriteRequestEncoder(options: WriteRequestEncoderOptions): WriteRequestEncoder {
  const invalid = describeInvalidOptions(options);
  if (invalid !== undefined) throw new Error(`BUG: invalid remote-write encoder options: ${invalid}`);
  return new Encoder(options);
}

/** One-off encoding with a fresh encoder (tests, tools); sinks keep one encoder instead. */
export function encodeWriteRequests(
  series: readonly TimedSeriesSnapshot[],
  identity: readonly LabelPair[],
  timestampMs: number,
  options: WriteRequestEncoderOptions,
): Result<FlushEncoding, EncodeError> {
  return createWriteRequestEncoder(options).encodeFlush(series, identity, timestampMs);
}

class Encoder implements WriteRequestEncoder {
  private readonly templates = new LabelTemplates();
  private readonly batcher: RequestBatcher;
  private readonly timeSeries: TimeSeriesWriter;
  private readonly isNative: boolean;
  private readonly native = new NativeHistogramBuilder();
  private lastIdentity: IdentityLabels | undefined;

  constructor(options: WriteRequestEncoderOptions) {
    this.isNative = options.histograms === "native";
    this.batcher = new RequestBatcher(
      options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
      options.maxSamplesPerRequest ?? DEFAULT_MAX_SAMPLES_PER_REQUEST,
    );
    this.timeSeries = new TimeSeriesWriter(this.batcher.writer);
  }

  encodeFlush(series: readonly TimedSeriesSnapshot[], identityInput: readonly LabelPair[], timestampMs: number): Result<FlushEncoding, EncodeError> {
    const prepared = this.prepare(identityInput, timestampMs);
    if (!prepared.ok) return prepared;
    const identity = prepared.value;
    const dropped: DroppedSeries[] = [];
    let classicFallbacks = 0;
    let currentMs = timestampMs;
    for (const s of series) {
      const ownMs = s.timestampMs ?? timestampMs;
      if (ownMs !== currentMs) {
        if (!Number.isSafeInteger(ownMs)) {
          dropped.push({ name: s.name, labels: s.labels, reason: `timestampMs must be an integer number of ms (got ${ownMs})` });
          continue;
        }
        this.timeSeries.setTimestamp(ownMs);
        currentMs = ownMs;
      }
      const t = this.templates.templateOf(s.name, s.labels, identity);
      if (t.invalid !== undefined) {
        dropped.push({ name: s.name, labels: s.labels, reason: t.invalid });
        continue;
      }
      if (s.kind === "counter" || s.kind === "gauge") {
        this.batcher.beginGroup(1);
        this.timeSeries.writeSampleWithLabels(t.all, s.value);
        this.batcher.addSeries(1, 1, 0);
        this.batcher.endGroup();
        continue;
      }
      if (s.kind === "expo" && this.isNative) {
        if (this.native.build(s.expo!)) {
          this.batcher.beginGroup(1);
          this.timeSeries.writeHistogram(t.all, this.native);
          this.batcher.addSeries(1, 0, 1);
          this.batcher.endGroup();
          continue;
        }
        classicFallbacks++; // scale < -4: no native schema is coarse enough
      }
      if (t.hasOwnLe) {
        dropped.push({ name: s.name, labels: s.labels, reason: `histogram has its own "le" label, which its classic buckets need` });
        continue;
      }
      const { upperBounds, cumulativeCounts, count, sum } = classicBucketsOf(s);
      this.writeClassic(t, upperBounds, (k) => cumulativeCounts[k], count, sum);
    }
    this.templates.endFlush();
    return ok({ requests: this.batcher.finish(), dropped, classicFallbacks, labelSetsEncoded: this.templates.takeBuiltCount() });
  }

  encodeStaleMarkers(expired: readonly StaleSeries[], identityInput: readonly LabelPair[], timestampMs: number): Result<FlushEncoding, EncodeError> {
    const prepared = this.prepare(identityInput, timestampMs);
    if (!prepared.ok) return prepared;
    const identity = prepared.value;
    const dropped: DroppedSeries[] = [];
    let classicFallbacks = 0;
    for (const e of expired) {
      const t = this.templates.templateOf(e.name, e.labels, identity);
      if (t.invalid !== undefined) {
        dropped.push({ name: e.name, labels: e.labels, reason: t.invalid });
        continue;
      }
      if (e.kind === "counter" || e.kind === "gauge" || e.kind === "set") {
        this.batcher.beginGroup(1);
        this.timeSeries.writeSample([t.all], STALE);
        this.batcher.addSeries(1, 1, 0);
        this.batcher.endGroup();
        continue;
      }
      const lastExpo = e.last?.kind === "expo" ? e.last.expo : undefined;
      if (e.kind === "expo" && this.isNative) {
        if (lastExpo === undefined || lastExpo.scale >= NATIVE_MIN_SCHEMA) {
          this.batcher.beginGroup(1);
          this.timeSeries.writeStaleHistogram(t.all);
          this.batcher.addSeries(1, 0, 1);
          this.batcher.endGroup();
          continue;
        }
        classicFallbacks++;
      }
      if (t.hasOwnLe) continue; // never sent as classic buckets, so nothing to end
      const upperBounds = e.last === undefined ? [] : classicBucketsOf(e.last).upperBounds;
      this.writeClassic(t, upperBounds, () => STALE, STALE, STALE);
    }
    return ok({ requests: this.batcher.finish(), dropped, classicFallbacks, labelSetsEncoded: this.templates.takeBuiltCount() });
  }

  /** One classic histogram as a group: `_bucket` per bound, then +Inf, `_count`, `_sum`. */
  private writeClassic(
    t: LabelTemplate,
    upperBounds: readonly number[],
    cumulativeAt: (k: number) => SampleValue,
    count: SampleValue,
    sum: SampleValue,
  ): void {
    const r = classicRunsOf(t);
    this.batcher.beginGroup(upperBounds.length + 3);
    for (let k = 0; k < upperBounds.length; k++) {
      this.timeSeries.writeSample([r.before, r.bucketName, r.between, this.templates.leField(upperBounds[k]), r.after], cumulativeAt(k));
    }
    this.timeSeries.writeSample([r.before, r.bucketName, r.between, this.templates.leField(Number.POSITIVE_INFINITY), r.after], count);
    this.timeSeries.writeSample([r.before, r.countName, r.between, r.after], count);
    this.timeSeries.writeSample([r.before, r.sumName, r.between, r.after], sum);
    this.batcher.addSeries(upperBounds.length + 3, upperBounds.length + 3, 0);
    this.batcher.endGroup();
  }

  private prepare(identityInput: readonly LabelPair[], timestampMs: number): Result<IdentityLabels, EncodeError> {
    if (!Number.isSafeInteger(timestampMs)) {
      return err({ code: "REMOTE_WRITE_INVALID_TIMESTAMP", message: `timestampMs must be an integer number of ms (got ${timestampMs})` });
    }
    const identity = prepareIdentityLabels(identityInput);
    if (!identity.ok) return err({ code: "REMOTE_WRITE_INVALID_IDENTITY", message: identity.message });
    this.batcher.reset();
    this.templates.takeBuiltCount();
    this.timeSeries.setTimestamp(timestampMs);
    // Same identity as last time: keep the same key string, so template checks compare pointers.
    if (this.lastIdentity?.key !== identity.value.key) this.lastIdentity = identity.value;
    return ok(this.lastIdentity);
  }
}

interface ClassicBuckets {
  upperBounds: readonly number[];
  cumulativeCounts: readonly number[];
  count: number;
  sum: number;
}

/** Classic `le` buckets of a histogram snapshot (expo: at its bucket boundaries). */
function classicBucketsOf(s: SeriesSnapshot): ClassicBuckets {
  if (s.kind === "expo") {
    const d: ExpoHistogramData = s.expo!;
    return { ...expoToClassicBuckets(d), count: d.count, sum: d.sum };
  }
  if (s.kind === "explicit") {
    const d: ExplicitHistogramData = s.explicit!;
    const upperBounds: number[] = [];
    const cumulativeCounts: number[] = [];
    let running = 0;
    for (let k = 0; k < d.bounds.length; k++) {
      running += d.counts[k] ?? 0;
      const bound = d.bounds[k];
      // Only strictly ascending finite bounds: a repeated bound or +Inf would repeat a series
      // (le="+Inf" is added after the loop); a skipped bound's count rolls into the next one.
      if (!(bound < Number.POSITIVE_INFINITY) || (upperBounds.length > 0 && !(bound > upperBounds[upperBounds.length - 1]))) continue;
      upperBounds.push(bound);
      cumulativeCounts.push(running);
    }
    return { upperBounds, cumulativeCounts, count: d.count, sum: d.sum };
  }
  return { upperBounds: [], cumulativeCounts: [], count: s.value, sum: 0 };
}
