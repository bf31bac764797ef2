/**
 * OTLP/HTTP metrics (protobuf or JSON, already un-gzipped) → one remote-write 1.0 WriteRequest,
 * so OTLP senders go through the same scan, policy, queue and forwarding as remote write.
 *
 * Built from the agent's own pieces, not a second copy of them:
 *   decodeOtlpMetrics (agent/sources/otlp)      body → Points, names sanitised, bad points counted
 *   → one SeriesSnapshot per series (below)
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
 *   duplicate_series    an earlier point of a series that appears again in the same request:
 *                       every point gets the same timestamp, and two samples of one series at
 *                       one timestamp make Prometheus refuse the whole request. The last wins.
 *   invalid_series      what the encoder cannot send (e.g. a histogram with its own `le`).
 *   and the decoder's own reasons (unsupported_type for summaries, invalid_utf8, …).
 *
 * Timestamps: every sample is stamped `timestampMs` (the caller's receive time, from its
 * Clock), as the agent stamps its flushes: the agent's OTLP decoder does not carry the points'
 * time_unix_nano into Point. Sender timestamps would need that field added to Point and to both
 * OTLP decoders.
 *
 * The label policy is not applied here: the hub scans the result like any remote-write body
 * (write-request-scan.ts), so there is one policy path.
 */
import { exportedName } from "../../agent/pipeline/ingest";
import type { SeriesSnapshot } from "../../agent/aggregate/aggregator";
import { seriesKey, sortedPairs } from "../../agent/aggregate/aggregator";
import type { Point } from "../../agent/core/points";
import { err, ok, type Result } from "../../agent/core/result";
import { decodeOtlpMetrics, type OtlpDecodeError, type OtlpFormat } from "../../agent/sources/otlp/otlp-decode";
import { createWriteRequestEncoder, type HistogramMode } from "../../agent/sinks/remote-write/write-request-encoder";
import { ingestError, type IngestError } from "./ingest-error";
import { snappyDecompressBounded } from "./snappy-decompress";

export interface OtlpConversionOptions {
  /** Timestamp of every sample, ms since the epoch (the receive time; see the module comment). */
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
  /** Distinct human-readable causes (at most MAX_MESSAGES), for partial_success.error_message. */
  messages: string[];
}

const MAX_MESSAGES = 10;
/** One request, however large: the body was already bounded when it was read. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;
const NO_RESOURCE_ATTRIBUTES: ReadonlySet<string> = new Set();

export function convertOtlpToRemoteWrite(body: Uint8Array, format: OtlpFormat, options: OtlpConversionOptions): Result<OtlpConversion, IngestError> {
  if (!Number.isSafeInteger(options.timestampMs)) {
    throw new Error(`BUG: convertOtlpToRemoteWrite needs timestampMs as integer ms (got ${options.timestampMs})`);
  }
  const decoded = decodeOtlpMetrics(body, format, { includeResourceAttributes: options.includeResourceAttributes ?? NO_RESOURCE_ATTRIBUTES });
  if (!decoded.ok) return err(toIngestError(decoded.error));
  const tally = new RejectionTally();
  for (const [reason, count] of Object.entries(decoded.value.rejected.reasons)) tally.add(reason, count);
  for (const message of decoded.value.rejected.messages) tally.note(message);

  const snapshots = toSnapshots(decoded.value.points, tally);
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
    return ok({ writeRequest: new Uint8Array(0), snappyBody: new Uint8Array(0), series: 0, samples: 0, histograms: 0, rejected: tally.counts(), messages: tally.messages });
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
    messages: tally.messages,
  });
}

/** One snapshot per series (name + labels, empty values dropped); delta points refused. */
function toSnapshots(points: readonly Point[], tally: RejectionTally): SeriesSnapshot[] {
  const bySeries = new Map<string, SeriesSnapshot>();
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
    const key = seriesKey(snapshot.name, snapshot.labels);
    if (bySeries.has(key)) {
      tally.add("duplicate_series", 1);
      tally.note(`metric ${JSON.stringify(point.name)}: a series appears more than once in one request; only its last point is kept`);
    }
    bySeries.set(key, snapshot);
  }
  return [...bySeries.values()];
}

/** The snapshot of a cumulative or gauge point; undefined for a delta point. */
function toSnapshot(point: Point): SeriesSnapshot | undefined {
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
  readonly messages: string[] = [];

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
