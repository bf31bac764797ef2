/**
 * OTLP/HTTP metrics (protobuf or JSON, already un-gzipped) → one remote-write 1.0 WriteRequest,
 * so OTLP senders go through the same scan, policy, queue and forwarding as remote write.
 *
 * Built from the agent's own pieces, not a second copy of them:
 *   decodeOtlpMetrics (agent/sources/otlp)      body → Points (with their time_unix_nano as
 *                                               timeMs), names sanitised, bad points counted
 *   → one SeriesSnapshot per series and timestamp (below), each with its own timestampMs
 *   → createWriteRequestEncoder (agent/sinks/remote-write)  Points' snapshots → prompb bytes:
 *       cumulative monotonic sum → counter sample; gauge and cumulative non-monotonic sum → gauge
 *       sample; exponential histogram → native histogram (scale clamped to [-4, 8], index shift,
 *       spans + deltas; below -4: classic buckets); explicit histogram → classic `_bucket{le}`,
 *       `_count`, `_sum` series (remote write 1.0 has no native form for explicit buckets).
 *
 * Refused points are counted by reason (the OTLP response's partial_success), never thrown:
 *   delta_temporality   delta sums and histograms. A relay cannot turn deltas into the
 *                       cumulative series Prometheus stores without keeping state per series
 *                       (Prometheus' own OTLP receiver drops them too); the message tells the
 *                       sender to export cumulative or to send through an edge agent.
 *   duplicate_series    an earlier point of a series that appears again in the same request
 *                       at the same (effective, see below) timestamp: two samples of one
 *                       series at one timestamp make Prometheus refuse the request (duplicate
 *                       sample for timestamp). The last wins. Points of one series at
 *                       different timestamps are all kept.
 *   invalid_series      what the encoder cannot send (e.g. a histogram with its own `le`).
 *   and the decoder's own reasons (unsupported_type for summaries, invalid_utf8, …).
 *
 * Timestamps: a relay keeps the sender's time, so a collector that batches or retries does not
 * shift data. Each sample gets its point's time_unix_nano, floored to whole ms (Point.timeMs,
 * exact: no rounding through a double of the nanoseconds). A point without one (0 or absent)
 * gets `timestampMs`, the caller's receive time. So does a point more than MAX_FUTURE_MS
 * (10 minutes) ahead of the receive time: a sender clock that far off would poison the series
 * (in Prometheus without an out-of-order window, every later, correctly timed sample of it is
 * out of order until the clock catches up; Mimir and Cortex refuse such samples, with the same
 * 10-minute default grace period).
 * Those points are kept, only restamped, so they are counted in `restamped` (reason
 * future_timestamp, with a note in `messages`), not in `rejected`: `rejected` is what
 * partial_success reports as rejected_data_points, and these points are stored. Exactly 10
 * minutes ahead is still the sender's time. Old times are passed on as sent: whether they are
 * too old is the store's call (Prometheus answers out-of-bounds / out-of-order).
 *
 * Order: series in order of their first point; a series with points at several timestamps gets
 * one TimeSeries per timestamp (same labels, one sample each), oldest first, so a store appends
 * them in order. That is how Prometheus' own remote-write sender sends several samples of one
 * series in one request. A classic histogram's `_bucket`/`_count`/`_sum` group repeats per
 * timestamp likewise.
 *
 * The label policy is not applied here: the hub scans the result like any remote-write body
 * (write-request-scan.ts), so there is one policy path.
 */
import { exportedName } from "../../agent/pipeline/ingest";
import { seriesKey, sortedPairs } from "../../agent/aggregate/aggregator";
import type { Point } from "../../agent/core/points";
import { err, ok, type Result } from "../../agent/core/result";
import { decodeOtlpMetrics, type OtlpDecodeError, type OtlpFormat } from "../../agent/sources/otlp/otlp-decode";
import { createWriteRequestEncoder, type HistogramMode, type TimedSeriesSnapshot } from "../../agent/sinks/remote-write/write-request-encoder";
import { ingestError, type IngestError } from "./ingest-error";
import { snappyDecompressBounded } from "./snappy-decompress";

export interface OtlpConversionOptions {
  /**
   * Receive time, ms since the epoch: the timestamp of points without their own time and of
   * points too far in the future (see the module comment).
   */
  timestampMs: number;
  /** How exponential histograms go out. Default "native". */
  histograms?: HistogramMode;
  /** Sanitised resource attribute names copied into every series' labels. Default: none. */
  includeResourceAttributes?: ReadonlySet<string>;
}

export interface RejectedPointCount {
  reason: string;
  count: number;
}

export interface OtlpConversion {
  /** Uncompressed prompb WriteRequest (empty when nothing converted). */
  writeRequest: Uint8Array;
  /** The same request Snappy-compressed, ready to forward when every series is kept. */
  snappyBody: Uint8Array;
  /** TimeSeries in writeRequest; classic histograms count one per `_bucket`/`_sum`/`_count`. */
  series: number;
  /** Float samples in writeRequest. */
  samples: number;
  /** Native histogram samples in writeRequest. */
  histograms: number;
  /** Data points refused, by reason. */
  rejected: RejectedPointCount[];
  /**
   * Data points kept but stamped with the receive time instead of their own, by reason
   * (future_timestamp: more than 10 minutes ahead). Not part of `rejected`: they are stored.
   */
  restamped: RejectedPointCount[];
  /**
   * Distinct human-readable causes of `rejected` and `restamped` (at most MAX_MESSAGES), for
   * partial_success.error_message.
   */
  messages: string[];
}

const MAX_MESSAGES = 10;
/** How far ahead of the receive time a point's own time may be before the receive time replaces it. */
export const MAX_FUTURE_MS = 10 * 60 * 1000;
/** One request, however large: the body was already bounded when it was read. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const NO_RESOURCE_ATTRIBUTES: ReadonlySet<string> = new Set();

export function convertOtlpToRemoteWrite(body: Uint8Array, format: OtlpFormat, options: OtlpConversionOptions): Result<OtlpConversion, IngestError> {
  if (!Number.isSafeInteger(options.timestampMs)) {
    throw new Error(`BUG: convertOtlpToRemoteWrite needs timestampMs as integer ms (got ${options.timestampMs})`);
  }
  const decoded = decodeOtlpMetrics(body, format, { includeResourceAttributes: options.includeResourceAttributes ?? NO_RESOURCE_ATTRIBUTES, pointTimes: true });
  if (!decoded.ok) return err(toIngestError(decoded.error));
  const tally = new RejectionTally();
  const restamped = new RejectionTally(tally.messages);
  for (const [reason, count] of Object.entries(decoded.value.rejected.reasons)) tally.add(reason, count);
  for (const message of decoded.value.rejected.messages) tally.note(message);

  const snapshots = toSnapshots(decoded.value.points, options.timestampMs, tally, restamped);
  const encoder = createWriteRequestEncoder({ histograms: options.histograms ?? "native", maxRequestBytes: UNBOUNDED, maxSamplesPerRequest: UNBOUNDED });
  const encoded = encoder.encodeFlush(snapshots, [], options.timestampMs);
  if (!encoded.ok) throw new Error(`BUG: remote-write encoding failed: ${encoded.error.message}`);
  for (const dropped of encoded.value.dropped) {
    tally.add("invalid_series", 1);
    tally.note(`metric ${JSON.stringify(dropped.name)}: ${dropped.reason}`);
  }

  const requests = encoded.value.requests;
  if (requests.length > 1) throw new Error(`BUG: expected one unbounded remote-write request, got ${requests.length}`);
  const request = requests[0];
  if (request === undefined) {
    return ok({
      writeRequest: new Uint8Array(0),
      snappyBody: new Uint8Array(0),
      series: 0,
      samples: 0,
      histograms: 0,
      rejected: tally.counts(),
      restamped: restamped.counts(),
      messages: tally.messages,
    });
  }
  // The encoder hands out compressed bodies only; decompressing ours back is cheap and bounded.
  const writeRequest = snappyDecompressBounded(request.body, request.uncompressedBytes);
  if (!writeRequest.ok) throw new Error(`BUG: our own Snappy body does not decompress: ${writeRequest.error.message}`);
  return ok({
    writeRequest: writeRequest.value,
    snappyBody: request.body,
    series: request.series,
    samples: request.samples,
    histograms: request.histograms,
    rejected: tally.counts(),
    restamped: restamped.counts(),
    messages: tally.messages,
  });
}

/**
 * One snapshot per series (name + labels, empty values dropped) and timestamp, each carrying its
 * timestamp: series in order of first appearance, a series' timestamps oldest first. Delta points
 * refused; of two points of one series at one timestamp the last wins.
 */
function toSnapshots(points: readonly Point[], receivedMs: number, tally: RejectionTally, restamped: RejectionTally): TimedSeriesSnapshot[] {
  // The common case is one point per series: a Map by timestamp only for series with more.
  const bySeries = new Map<string, TimedSeriesSnapshot | Map<number, TimedSeriesSnapshot>>();
  const latestAllowedMs = receivedMs + MAX_FUTURE_MS;
  for (const point of points) {
    const snapshot = toSnapshot(point);
    if (snapshot === undefined) {
      tally.add("delta_temporality", 1);
      tally.note(
        `metric ${JSON.stringify(point.name)}: delta temporality is not accepted (Prometheus stores cumulative series); ` +
          `export cumulative temporality (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=cumulative) or send through an edge agent, which accumulates deltas`,
      );
      continue;
    }
    let timestampMs = point.timeMs ?? receivedMs;
    if (timestampMs > latestAllowedMs) {
      timestampMs = receivedMs;
      restamped.add("future_timestamp", 1);
      restamped.note(
        `metric ${JSON.stringify(point.name)}: time_unix_nano is more than ${MAX_FUTURE_MS / 60_000} minutes ahead of the receive time; ` +
          `stored at the receive time instead (check the sender's clock)`,
      );
    }
    snapshot.timestampMs = timestampMs;
    const key = seriesKey(snapshot.name, snapshot.labels);
    const earlier = bySeries.get(key);
    if (earlier === undefined) {
      bySeries.set(key, snapshot);
      continue;
    }
    let byTime: Map<number, TimedSeriesSnapshot>;
    if (earlier instanceof Map) {
      byTime = earlier;
    } else {
      byTime = new Map([[earlier.timestampMs!, earlier]]);
      bySeries.set(key, byTime);
    }
    if (byTime.has(timestampMs)) {
      tally.add("duplicate_series", 1);
      tally.note(`metric ${JSON.stringify(point.name)}: a series has more than one point at one timestamp in one request; only its last point is kept`);
    }
    byTime.set(timestampMs, snapshot);
  }
  const out: TimedSeriesSnapshot[] = [];
  for (const entry of bySeries.values()) {
    if (!(entry instanceof Map)) {
      out.push(entry);
      continue;
    }
    for (const snapshot of [...entry.values()].sort((a, b) => a.timestampMs! - b.timestampMs!)) out.push(snapshot);
  }
  return out;
}

/** The snapshot of a cumulative or gauge point; undefined for a delta point. */
function toSnapshot(point: Point): TimedSeriesSnapshot | undefined {
  const v = point.value;
  const name = point.name;
  const labels = sortedPairs(point.labels);
  switch (v.type) {
    case "gauge":
      return { name, labels, kind: "gauge", value: v.value };
    case "counter":
      // Named as the agent exports counters (`_total`), so a series is the same by either path.
      return v.temporality === "delta" ? undefined : { name: exportedName(name, "counter"), labels, kind: "counter", value: v.value };
    case "updown":
      return v.temporality === "delta" ? undefined : { name, labels, kind: "gauge", value: v.value };
    case "expo":
      return v.temporality === "delta" ? undefined : { name, labels, kind: "expo", value: v.data.count, expo: v.data };
    case "explicit":
      return v.temporality === "delta" ? undefined : { name, labels, kind: "explicit", value: v.data.count, explicit: v.data };
    default:
      throw new Error(`BUG: the OTLP decoder produced a ${v.type} point`);
  }
}

function toIngestError(e: OtlpDecodeError): IngestError {
  switch (e.code) {
    case "OTLP_BAD_PROTOBUF":
      return ingestError(400, "malformed_protobuf", e.message);
    case "OTLP_BAD_JSON":
      return ingestError(400, "malformed_json", e.message);
    case "OTLP_BAD_UTF8":
      return ingestError(400, "invalid_utf8", e.message);
  }
}

class RejectionTally {
  private readonly byReason = new Map<string, number>();

  /** `messages` may be shared with another tally: one list of causes for error_message. */
  constructor(readonly messages: string[] = []) {}

  add(reason: string, count: number): void {
    if (count > 0) this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + count);
  }

  note(message: string): void {
    if (this.messages.length < MAX_MESSAGES && !this.messages.includes(message)) this.messages.push(message);
  }

  counts(): RejectedPointCount[] {
    return [...this.byReason].map(([reason, count]) => ({ reason, count }));
  }
}
