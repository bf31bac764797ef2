/**
 * The aggregator folds admitted points into per-series cumulative state and takes flush snapshots.
 *
 * Series identity is name + sorted labels (empty values dropped, as Prometheus treats "" as
 * absent). A new series must pass the label policy and then the series budget; the verdict is
 * cached per caller-supplied raw key (e.g. a StatsD "name|#tags" string) so the steady-state hot
 * path is one Map lookup plus the arithmetic.
 *
 * Cumulative inputs are kept as `base + last`: `last` is the latest cumulative value of the
 * sending stream, `base` everything accumulated before (deltas, and earlier streams ended by a
 * reset). A reset (new start time, or a value going down) folds `last` into `base`. That needs
 * no subtraction, so histograms whose scale changed between points stay exact, and a restored
 * agent that receives the next cumulative point of the same stream neither resets nor
 * double-counts.
 */
import type {
  ExplicitHistogramData,
  ExpoHistogramData,
  Labels,
  Point,
  PointValue,
} from "../core/points";
import type { LabelPolicy, RejectReason } from "../../policy/labels/label-policy";
import type { SeriesBudget } from "../../policy/budget/series-budget";
import { describeInvalid, ExpoHistogram } from "./expo-histogram";

export type SeriesKind = "counter" | "gauge" | "expo" | "explicit" | "set";

/** Policy reasons plus the aggregator's own. */
export type AggregatorRejectReason =
  | RejectReason
  | "budget"
  | "type_conflict"
  | "negative_counter"
  | "invalid_value"
  | "histogram_bounds_changed"
  | "reserved_name";

export interface Rejection {
  reason: AggregatorRejectReason;
  message: string;
}

export interface SeriesSnapshot {
  name: string;
  /** Sorted by name. */
  labels: [string, string][];
  kind: "counter" | "gauge" | "expo" | "explicit";
  value: number;
  expo?: ExpoHistogramData;
  explicit?: ExplicitHistogramData;
}

export interface ExpiredSeries {
  name: string;
  labels: [string, string][];
  kind: SeriesKind;
}

export interface AggregatorOptions {
  policy: LabelPolicy;
  budget: SeriesBudget;
  expoMaxSize?: number;
  expoMaxScale?: number;
  /** Bound on cached rejections; the cache is cleared when it grows past this. */
  maxCachedRejections?: number;
}

/** One series' state. Persisted by state-file.ts through toPersisted/fromPersisted. */
interface Series {
  key: string;
  name: string;
  labels: [string, string][];
  kind: SeriesKind;
  alive: boolean;
  /** Created by the point being recorded now; removed again if that point is rejected. */
  isFresh: boolean;
  lastUpdateMs: number;
  /** counter/gauge value accumulated outside the current cumulative stream. */
  base: number;
  /** Latest value of the current cumulative stream (counter). */
  last: number;
  /** Start time of the current cumulative stream; NaN when none. */
  streamStartMs: number;
  hist?: ExpoHistogram;
  histLast?: ExpoHistogramData;
  explicit?: ExplicitHistogramData;
  explicitLast?: ExplicitHistogramData;
  members?: Set<string>;
}

export type FastOp = 0 | 1 | 2;
/** counter/gauge delta */
export const OP_ADD: FastOp = 0;
/** gauge set */
export const OP_SET: FastOp = 1;
/** histogram observation */
export const OP_OBSERVE: FastOp = 2;
export type FastOutcome = 0 | 1 | 2;
export const MISS: FastOutcome = 0;
export const RECORDED: FastOutcome = 1;
export const REJECTED: FastOutcome = 2;

type CacheEntry = Series | { rejection: Rejection; budgetEpoch: number };

const KEY_SEP = "\u0000";
const PAIR_SEP = "\u0001";

export class Aggregator {
  private readonly series = new Map<string, Series>();
  private readonly byRawKey = new Map<string, CacheEntry>();
  private readonly kindByName = new Map<string, { kind: SeriesKind; count: number }>();
  private readonly rejectedByReason = new Map<AggregatorRejectReason, number>();
  private cachedRejections = 0;
  private readonly expoMaxSize: number;
  private readonly expoMaxScale: number;
  private readonly maxCachedRejections: number;

  constructor(private readonly opts: AggregatorOptions) {
    this.expoMaxSize = opts.expoMaxSize ?? 160;
    this.expoMaxScale = opts.expoMaxScale ?? 20;
    this.maxCachedRejections = opts.maxCachedRejections ?? 10_000;
  }

  get activeSeries(): number {
    return this.series.size;
  }

  get budget(): SeriesBudget {
    return this.opts.budget;
  }

  /** Rejected data points by reason since start. */
  rejections(): ReadonlyMap<AggregatorRejectReason, number> {
    return this.rejectedByReason;
  }

  /**
   * Records one point. `rawKey` (optional) is a caller-side identity of the point's name+labels
   * as received; it lets repeated input skip label sorting and policy checks.
   */
  record(point: Point, nowMs: number, rawKey?: string): Rejection | undefined {
    const kind = kindOf(point.value);
    const found = this.resolve(point.name, point.labels, kind, rawKey);
    if (!isSeries(found)) return this.reject(found.rejection);
    const rejection = applyValue(found, point.value, point.startTimeMs, this);
    if (rejection) {
      // A series whose very first point is invalid must not take a budget slot or export a 0.
      if (found.isFresh) {
        this.removeSeries(found);
        if (rawKey !== undefined) this.byRawKey.delete(rawKey);
      }
      return this.reject(rejection);
    }
    found.isFresh = false;
    found.lastUpdateMs = nowMs;
    return undefined;
  }

  /**
   * Hot path for sources that key input by its raw bytes (StatsD "name|#tags"): applies a plain
   * number to the series cached under `rawKey`. Returns RECORDED, REJECTED (a cached rejection,
   * counted) or MISS, in which case the caller builds a Point and calls record().
   */
  tryRecordCached(rawKey: string, kind: SeriesKind, op: FastOp, value: number, weight: number, nowMs: number): FastOutcome {
    const cached = this.byRawKey.get(rawKey);
    if (cached === undefined) return MISS;
    if (!isSeries(cached)) {
      if (cached.rejection.reason === "budget" && cached.budgetEpoch !== this.opts.budget.epoch) return MISS;
      this.reject(cached.rejection);
      return REJECTED;
    }
    if (!cached.alive || cached.kind !== kind) return MISS;
    if (op === OP_ADD) {
      if (!(value >= 0 && value < Infinity) && kind === "counter") return MISS;
      if (!Number.isFinite(value)) return MISS;
      cached.base += value;
    } else if (op === OP_SET) {
      if (Number.isNaN(value)) return MISS;
      cached.base = value;
    } else {
      if (!cached.hist!.record(value, weight)) return MISS;
    }
    cached.lastUpdateMs = nowMs;
    return RECORDED;
  }

  /**
   * Resolves (or creates) the series for name + labels. Exposed for sources that want to keep
   * the handle; the returned entry is either a live Series or a cached rejection.
   */
  resolve(name: string, labels: Labels, kind: SeriesKind, rawKey?: string): CacheEntry {
    if (rawKey !== undefined) {
      const cached = this.byRawKey.get(rawKey);
      if (cached !== undefined) {
        if (isSeries(cached)) {
          if (cached.alive && cached.kind === kind) return cached;
        } else if (cached.rejection.reason !== "budget" || cached.budgetEpoch === this.opts.budget.epoch) {
          return cached;
        }
        this.byRawKey.delete(rawKey);
        if (!isSeries(cached)) this.cachedRejections--;
      }
    }
    const entry = this.resolveSlow(name, labels, kind);
    if (rawKey !== undefined && (isSeries(entry) || entry.rejection.reason !== "type_conflict")) {
      if (!isSeries(entry)) {
        if (this.cachedRejections >= this.maxCachedRejections) this.dropCachedRejections();
        this.cachedRejections++;
      }
      this.byRawKey.set(rawKey, entry);
    }
    return entry;
  }

  private resolveSlow(name: string, labels: Labels, kind: SeriesKind): CacheEntry {
    const pairs = sortedPairs(labels);
    const key = seriesKey(name, pairs);
    const existing = this.series.get(key);
    if (existing !== undefined) {
      if (existing.kind !== kind) return rejectionEntry(typeConflict(name, existing.kind, kind), this);
      return existing;
    }
    const verdict = this.opts.policy.check(name, labels);
    if (!verdict.ok) return rejectionEntry({ reason: verdict.reason, message: verdict.message }, this);
    const registered = this.kindByName.get(name);
    if (registered !== undefined && registered.kind !== kind) {
      return rejectionEntry(typeConflict(name, registered.kind, kind), this);
    }
    const clash = this.expositionClash(name, kind);
    if (clash !== undefined) return rejectionEntry(clash, this);
    if (!this.opts.budget.tryAdmit()) {
      return rejectionEntry(
        {
          reason: "budget",
          message: `series budget of ${this.opts.budget.maxSeries} active series is full; new series ${name} was not admitted`,
        },
        this,
      );
    }
    return this.addSeries(key, name, pairs, kind);
  }

  /**
   * Names that would collide in the text exposition: a histogram `x` owns `x_bucket`, `x_sum` and
   * `x_count`; the agent's self-metrics own `agent_*`, `process_*` and `active_series_total`.
   */
  private expositionClash(name: string, kind: SeriesKind): Rejection | undefined {
    if (isReservedName(name)) {
      return { reason: "reserved_name", message: `metric name ${name} is reserved for the agent's own metrics` };
    }
    const isHistogram = kind === "expo" || kind === "explicit";
    if (isHistogram) {
      for (const suffix of HISTOGRAM_SUFFIXES) {
        if (this.kindByName.has(name + suffix)) return typeConflict(name, "histogram's " + name + suffix, kind);
      }
      return undefined;
    }
    for (const suffix of HISTOGRAM_SUFFIXES) {
      if (!name.endsWith(suffix)) continue;
      const base = this.kindByName.get(name.slice(0, -suffix.length));
      if (base !== undefined && (base.kind === "expo" || base.kind === "explicit")) {
        return typeConflict(name, `series of histogram ${name.slice(0, -suffix.length)}`, kind);
      }
    }
    return undefined;
  }

  private addSeries(key: string, name: string, pairs: [string, string][], kind: SeriesKind): Series {
    const s: Series = {
      key,
      name,
      labels: pairs,
      kind,
      alive: true,
      isFresh: true,
      lastUpdateMs: 0,
      base: 0,
      last: 0,
      streamStartMs: Number.NaN,
    };
    if (kind === "expo") s.hist = this.newHistogram();
    if (kind === "set") s.members = new Set();
    this.series.set(key, s);
    const registered = this.kindByName.get(name);
    if (registered) registered.count++;
    else this.kindByName.set(name, { kind, count: 1 });
    return s;
  }

  newHistogram(): ExpoHistogram {
    return new ExpoHistogram(this.histogramOptions());
  }

  histogramOptions(): { maxSize: number; maxScale: number } {
    return { maxSize: this.expoMaxSize, maxScale: this.expoMaxScale };
  }

  private reject(rejection: Rejection): Rejection {
    this.rejectedByReason.set(rejection.reason, (this.rejectedByReason.get(rejection.reason) ?? 0) + 1);
    return rejection;
  }

  private dropCachedRejections(): void {
    for (const [k, v] of this.byRawKey) if (!isSeries(v)) this.byRawKey.delete(k);
    this.cachedRejections = 0;
  }

  /**
   * Takes the flush snapshot: every live series' cumulative state, as values (deep copies).
   * Set members are cleared afterwards (a set exports distinct members per flush).
   */
  snapshot(): SeriesSnapshot[] {
    const out: SeriesSnapshot[] = [];
    for (const s of this.series.values()) {
      const snap = snapshotOf(s, this.histogramOptions());
      snap.labels = s.labels.map(([k, v]) => [k, v]);
      out.push(snap);
    }
    return out;
  }

  /** Expires series idle for longer than the budget's idleExpiryMs; frees their slots. */
  expireIdle(nowMs: number): ExpiredSeries[] {
    const expired: ExpiredSeries[] = [];
    const cutoff = nowMs - this.opts.budget.idleExpiryMs;
    for (const s of this.series.values()) {
      if (s.lastUpdateMs >= cutoff) continue;
      this.removeSeries(s);
      expired.push({ name: s.name, labels: s.labels, kind: s.kind });
    }
    if (expired.length > 0) {
      for (const [k, v] of this.byRawKey) if (isSeries(v) && !v.alive) this.byRawKey.delete(k);
    }
    return expired;
  }

  private removeSeries(s: Series): void {
    s.alive = false;
    this.series.delete(s.key);
    const registered = this.kindByName.get(s.name);
    if (registered && --registered.count === 0) this.kindByName.delete(s.name);
    this.opts.budget.release();
  }

  /** Plain-data copy of the whole state, for persistence across restarts. */
  toPersisted(): PersistedSeries[] {
    const out: PersistedSeries[] = [];
    for (const s of this.series.values()) {
      out.push(
        structuredClone({
          name: s.name,
          labels: s.labels,
          kind: s.kind,
          lastUpdateMs: s.lastUpdateMs,
          base: s.base,
          last: s.last,
          streamStartMs: Number.isNaN(s.streamStartMs) ? null : s.streamStartMs,
          hist: s.hist?.toData(),
          histLast: s.histLast,
          explicit: s.explicit,
          explicitLast: s.explicitLast,
        }),
      );
    }
    return out;
  }

  /** Restores persisted series (through the budget; series beyond it are dropped and counted). */
  restore(persisted: PersistedSeries[]): { restored: number; dropped: number } {
    let restored = 0;
    let dropped = 0;
    for (const original of persisted) {
      const p = structuredClone(original);
      const key = seriesKey(p.name, p.labels);
      if (this.series.has(key) || !this.opts.budget.tryAdmit()) {
        dropped++;
        continue;
      }
      const s = this.addSeries(key, p.name, p.labels, p.kind);
      s.lastUpdateMs = p.lastUpdateMs;
      s.base = p.base;
      s.last = p.last;
      s.streamStartMs = p.streamStartMs ?? Number.NaN;
      if (p.hist) s.hist = ExpoHistogram.fromData(p.hist, this.histogramOptions());
      s.histLast = p.histLast;
      s.explicit = p.explicit;
      s.explicitLast = p.explicitLast;
      s.isFresh = false;
      restored++;
    }
    return { restored, dropped };
  }
}

export interface PersistedSeries {
  name: string;
  labels: [string, string][];
  kind: SeriesKind;
  lastUpdateMs: number;
  base: number;
  last: number;
  streamStartMs: number | null;
  hist?: ExpoHistogramData;
  histLast?: ExpoHistogramData;
  explicit?: ExplicitHistogramData;
  explicitLast?: ExplicitHistogramData;
}

const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"] as const;

export function isReservedName(name: string): boolean {
  return name.startsWith("agent_") || name.startsWith("process_") || name === "active_series_total";
}

function isSeries(e: CacheEntry): e is Series {
  return (e as Series).key !== undefined;
}

function rejectionEntry(rejection: Rejection, agg: Aggregator): CacheEntry {
  return { rejection, budgetEpoch: agg.budget.epoch };
}

function typeConflict(name: string, have: string, got: SeriesKind): Rejection {
  return { reason: "type_conflict", message: `metric ${name} is already a ${have}; a ${got} point was rejected` };
}

export function kindOf(v: PointValue): SeriesKind {
  switch (v.type) {
    case "counter":
      return "counter";
    case "updown":
    case "gauge":
    case "gauge_delta":
      return "gauge";
    case "observe":
    case "expo":
      return "expo";
    case "explicit":
      return "explicit";
    case "set":
      return "set";
  }
}

/** Label pairs sorted by name, empty values dropped. */
export function sortedPairs(labels: Labels): [string, string][] {
  const pairs: [string, string][] = [];
  for (const k in labels) {
    const v = labels[k];
    if (v !== "" && v !== undefined) pairs.push([k, v]);
  }
  if (pairs.length > 1) pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs;
}

export function seriesKey(name: string, pairs: [string, string][]): string {
  let key = name;
  for (const [k, v] of pairs) key += KEY_SEP + k + PAIR_SEP + v;
  return key;
}

const INVALID_VALUE: Rejection = { reason: "invalid_value", message: "value is NaN or infinite" };

function applyValue(s: Series, v: PointValue, startTimeMs: number | undefined, agg: Aggregator): Rejection | undefined {
  switch (v.type) {
    case "counter": {
      if (!Number.isFinite(v.value)) return INVALID_VALUE;
      if (v.temporality === "delta") {
        if (v.value < 0) return { reason: "negative_counter", message: `counter ${s.name} got a negative increment ${v.value}` };
        s.base += v.value;
        return undefined;
      }
      if (v.value < 0) return { reason: "negative_counter", message: `counter ${s.name} got a negative cumulative value ${v.value}` };
      const start = startTimeMs ?? Number.NaN;
      const isReset = v.value < s.last || (!Number.isNaN(start) && !Number.isNaN(s.streamStartMs) && start !== s.streamStartMs);
      if (isReset) s.base += s.last;
      s.last = v.value;
      s.streamStartMs = start;
      return undefined;
    }
    case "updown":
      if (!Number.isFinite(v.value)) return INVALID_VALUE;
      if (v.temporality === "delta") s.base += v.value;
      else s.base = v.value;
      return undefined;
    case "gauge":
      if (Number.isNaN(v.value)) return INVALID_VALUE;
      s.base = v.value;
      return undefined;
    case "gauge_delta":
      if (!Number.isFinite(v.value)) return INVALID_VALUE;
      s.base += v.value;
      return undefined;
    case "observe":
      if (!s.hist!.record(v.value, v.weight)) return INVALID_VALUE;
      return undefined;
    case "expo":
      return applyExpo(s, v.temporality, v.data, startTimeMs);
    case "explicit":
      return applyExplicit(s, v.temporality, v.data, startTimeMs);
    case "set":
      s.members!.add(v.member);
      return undefined;
  }
  void agg;
}

function applyExpo(s: Series, temporality: string, data: ExpoHistogramData, startTimeMs: number | undefined): Rejection | undefined {
  const invalid = describeInvalid(data);
  if (invalid !== undefined) return { reason: "invalid_value", message: `histogram ${s.name}: ${invalid}` };
  if (temporality === "delta") {
    s.hist!.merge(data);
    return undefined;
  }
  const start = startTimeMs ?? Number.NaN;
  const prev = s.histLast;
  const isReset =
    prev !== undefined &&
    (data.count < prev.count || (!Number.isNaN(start) && !Number.isNaN(s.streamStartMs) && start !== s.streamStartMs));
  if (isReset) s.hist!.merge(prev!);
  s.histLast = data;
  s.streamStartMs = start;
  return undefined;
}

function applyExplicit(
  s: Series,
  temporality: string,
  data: ExplicitHistogramData,
  startTimeMs: number | undefined,
): Rejection | undefined {
  const reference = s.explicit ?? s.explicitLast;
  if (reference !== undefined && !sameBounds(reference.bounds, data.bounds)) {
    return {
      reason: "histogram_bounds_changed",
      message: `histogram ${s.name} changed its bucket bounds; points with the new bounds were rejected`,
    };
  }
  if (temporality === "delta") {
    s.explicit = addExplicit(s.explicit, data);
    return undefined;
  }
  const start = startTimeMs ?? Number.NaN;
  const prev = s.explicitLast;
  const isReset =
    prev !== undefined &&
    (data.count < prev.count || (!Number.isNaN(start) && !Number.isNaN(s.streamStartMs) && start !== s.streamStartMs));
  if (isReset) s.explicit = addExplicit(s.explicit, prev!);
  s.explicitLast = data;
  s.streamStartMs = start;
  return undefined;
}

function sameBounds(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function addExplicit(into: ExplicitHistogramData | undefined, d: ExplicitHistogramData): ExplicitHistogramData {
  if (into === undefined) return { bounds: d.bounds.slice(), counts: d.counts.slice(), count: d.count, sum: d.sum };
  for (let i = 0; i < d.counts.length; i++) into.counts[i] = (into.counts[i] ?? 0) + d.counts[i];
  into.count += d.count;
  into.sum += d.sum;
  return into;
}

function snapshotOf(s: Series, histOpts: { maxSize: number; maxScale: number }): SeriesSnapshot {
  switch (s.kind) {
    case "counter":
      return { name: s.name, labels: s.labels, kind: "counter", value: s.base + s.last };
    case "gauge":
      return { name: s.name, labels: s.labels, kind: "gauge", value: s.base };
    case "set": {
      const value = s.members!.size;
      s.members!.clear();
      return { name: s.name, labels: s.labels, kind: "gauge", value };
    }
    case "expo": {
      let data = s.hist!.toData();
      if (s.histLast !== undefined) {
        const h = ExpoHistogram.fromData(data, histOpts);
        h.merge(s.histLast);
        data = h.toData();
      }
      return { name: s.name, labels: s.labels, kind: "expo", value: data.count, expo: data };
    }
    case "explicit": {
      let data = s.explicit ? copyExplicit(s.explicit) : undefined;
      if (s.explicitLast !== undefined) data = addExplicit(data, s.explicitLast);
      data ??= { bounds: [], counts: [0], count: 0, sum: 0 };
      return { name: s.name, labels: s.labels, kind: "explicit", value: data.count, explicit: data };
    }
  }
}

function copyExplicit(d: ExplicitHistogramData): ExplicitHistogramData {
  return { bounds: d.bounds.slice(), counts: d.counts.slice(), count: d.count, sum: d.sum };
}
