/**
 * The data model between sources and processors.
 *
 * A source turns wire input (OTLP, StatsD, /proc …) into `Point`s. Processors (label policy,
 * series budget) decide whether a point's series may exist; the aggregator folds admitted points
 * into per-series cumulative state. Names and label names here are already sanitised to the
 * Prometheus character set by the source; label values are the sender's strings.
 */

export type Labels = Record<string, string>;

/** Dense bucket run of an exponential histogram: counts[j] belongs to index offset + j. */
export interface ExpoBuckets {
  offset: number;
  counts: number[];
}

/** Snapshot of a base-2 exponential histogram (OpenTelemetry data model, OTel indexing). */
export interface ExpoHistogramData {
  scale: number;
  zeroThreshold: number;
  zeroCount: number;
  count: number;
  sum: number;
  min: number; // +Inf when empty
  max: number; // -Inf when empty
  positive: ExpoBuckets;
  negative: ExpoBuckets;
}

/** Snapshot of an explicit-bucket histogram: counts.length === bounds.length + 1. */
export interface ExplicitHistogramData {
  bounds: number[];
  counts: number[];
  count: number;
  sum: number;
}

export type Temporality = "delta" | "cumulative";

export type PointValue =
  /** Monotonic sum. */
  | { type: "counter"; temporality: Temporality; value: number }
  /** Non-monotonic sum (UpDownCounter): delta adds, cumulative replaces. Exported as a gauge. */
  | { type: "updown"; temporality: Temporality; value: number }
  | { type: "gauge"; value: number }
  /** StatsD gauge delta (`g` with a leading + or -). */
  | { type: "gauge_delta"; value: number }
  /** Raw observations (StatsD ms/h/d) recorded into an exponential histogram. */
  | { type: "observe"; value: number; weight: number }
  | { type: "expo"; temporality: Temporality; data: ExpoHistogramData }
  | { type: "explicit"; temporality: Temporality; data: ExplicitHistogramData }
  /** StatsD set member: the exported value is the number of distinct members per flush. */
  | { type: "set"; member: string };

export interface Point {
  name: string;
  labels: Labels;
  /** Identifies the sending stream for cumulative inputs (start time of the OTLP stream). */
  startTimeMs?: number;
  /**
   * The sender's own time of the point, whole ms since the epoch (OTLP time_unix_nano), for
   * relays that forward it (the hub). Only set when the decoder is asked for it
   * (OtlpDecodeOptions.pointTimes); the agent's aggregation never reads it, it stamps its flushes.
   */
  timeMs?: number;
  value: PointValue;
}
