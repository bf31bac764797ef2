/**
 * Ingest: the processor stage between sources and the aggregator.
 *
 *   source (OTLP request | StatsD datagram) → name rules → label policy + series budget
 *   (inside Aggregator.resolve, cached per series) → aggregation
 *
 * Counters are exported with a `_total` suffix (added when missing), following the OpenTelemetry
 * → Prometheus naming rules, so `promtool check metrics` and PromQL conventions hold.
 */
import type { Aggregator, AggregatorRejectReason } from "../aggregate/aggregator";
import { MISS, OP_ADD, OP_OBSERVE, OP_SET, REJECTED, kindOf, type FastOp, type SeriesKind } from "../aggregate/aggregator";
import type { Point } from "../core/points";
import { parseDogTags, sanitizeMetricName, statsdLineToPoint } from "../sources/statsd/statsd-parse";
import type { StatsdErrorReason, StatsdSink, StatsdType } from "../sources/statsd/statsd-parse";

export interface IngestOutcome {
  accepted: number;
  rejected: number;
  /** One message per distinct rejection reason, in first-seen order (for OTLP partial_success). */
  messages: string[];
}

export interface IngestStats {
  pointsAccepted: Record<"otlp" | "statsd", number>;
  pointsRejected: Record<"otlp" | "statsd", number>;
  /** Malformed input by source and reason (bad protobuf, bad StatsD line, …). */
  malformed: Map<string, number>;
}

export function createIngestStats(): IngestStats {
  return { pointsAccepted: { otlp: 0, statsd: 0 }, pointsRejected: { otlp: 0, statsd: 0 }, malformed: new Map() };
}

export function countMalformed(stats: IngestStats, source: string, reason: string, n = 1): void {
  const key = `${source}\u0000${reason}`;
  stats.malformed.set(key, (stats.malformed.get(key) ?? 0) + n);
}

export function exportedName(name: string, kind: SeriesKind): string {
  return kind === "counter" && !name.endsWith("_total") ? name + "_total" : name;
}

/** Records decoded OTLP points; returns what the sender is told. */
export function ingestPoints(agg: Aggregator, stats: IngestStats, points: Point[], nowMs: number): IngestOutcome {
  const outcome: IngestOutcome = { accepted: 0, rejected: 0, messages: [] };
  const seen = new Set<AggregatorRejectReason>();
  for (const p of points) {
    p.name = exportedName(p.name, kindOf(p.value));
    const rejection = agg.record(p, nowMs);
    if (rejection === undefined) {
      outcome.accepted++;
      continue;
    }
    outcome.rejected++;
    if (!seen.has(rejection.reason)) {
      seen.add(rejection.reason);
      outcome.messages.push(`${rejection.reason}: ${rejection.message}`);
    }
  }
  stats.pointsAccepted.otlp += outcome.accepted;
  stats.pointsRejected.otlp += outcome.rejected;
  return outcome;
}

const KIND_OF_TYPE: Record<StatsdType, SeriesKind> = { c: "counter", g: "gauge", ms: "expo", h: "expo", d: "expo", s: "set" };

/**
 * The StatsD sink: the parser calls line() per metric line. Lines of an already-known series are
 * applied through the aggregator's raw-key cache without allocating; new keys take the slow path
 * (tag parsing, naming, policy, budget) once.
 */
export class StatsdIngest implements StatsdSink {
  nowMs = 0;

  constructor(
    private readonly agg: Aggregator,
    private readonly stats: IngestStats,
  ) {}

  line(
    key: string,
    name: string,
    rawTags: string,
    type: StatsdType,
    value: number,
    rate: number,
    isDelta: boolean,
    setMember: string | undefined,
  ): void {
    const kind = KIND_OF_TYPE[type];
    if (type !== "s") {
      let op: FastOp;
      let v = value;
      let weight = 1;
      if (type === "c") {
        op = OP_ADD;
        v = value / rate;
      } else if (type === "g") {
        op = isDelta ? OP_ADD : OP_SET;
      } else {
        op = OP_OBSERVE;
        weight = rate === 1 ? 1 : Math.max(1, Math.round(1 / rate));
      }
      const outcome = this.agg.tryRecordCached(key, kind, op, v, weight, this.nowMs);
      if (outcome !== MISS) {
        if (outcome === REJECTED) this.stats.pointsRejected.statsd++;
        else this.stats.pointsAccepted.statsd++;
        return;
      }
    }
    this.slowLine(key, name, rawTags, type, value, rate, isDelta, setMember);
  }

  private slowLine(
    key: string,
    rawName: string,
    rawTags: string,
    type: StatsdType,
    value: number,
    rate: number,
    isDelta: boolean,
    setMember: string | undefined,
  ): void {
    const sanitized = sanitizeMetricName(rawName);
    if (sanitized === undefined) {
      this.error("bad_line", rawName);
      return;
    }
    const tags = parseDogTags(rawTags);
    if (!tags.ok) {
      this.error("bad_tags", rawTags);
      return;
    }
    const pointValue = statsdLineToPoint(sanitized, tags.value, type, value, rate, isDelta, setMember);
    const point: Point = { name: exportedName(sanitized, KIND_OF_TYPE[type]), labels: tags.value, value: pointValue };
    const rejection = this.agg.record(point, this.nowMs, key);
    if (rejection === undefined) this.stats.pointsAccepted.statsd++;
    else this.stats.pointsRejected.statsd++;
  }

  error(reason: StatsdErrorReason, _line: string): void {
    countMalformed(this.stats, "statsd", reason);
  }
}
