/**
 * One tenant's active series, with a limit: admit(seriesKey) says whether the series is already
 * active ("known"), may start ("new"), or would take the tenant past `maxSeries` ("over_limit",
 * not added). A series idle for more than `idleWindowSec` (default 20 min) expires.
 *
 * Memory: the tracker keeps a 64-bit hash of each key (hash64.ts), never the key, plus the
 * second it was last seen, in a typed-array hash table (hash64-table.ts): 12 bytes per slot,
 * at most 3/4 full, and never more slots than `maxSeries` needs, so memory is bounded by the
 * limit: 12 × slotsFor(maxSeries) bytes, 16–32 bytes per series at the limit depending on where
 * maxSeries falls between powers of two (measured: 25.2 B/series at 1 M, against 300 B for a
 * Map of key → last-seen ms). The price is a collision chance of n/2^64 per new key, where a
 * colliding new series counts as "known".
 *
 * Expiry: a full sweep every `sweepEverySec` (default 60 s) on the admit() that finds it due,
 * plus one when the limit is reached (at most once a second), so expired series free their
 * slots before anything is refused. A series that expired but was not swept yet is "new" again.
 * Time is the monotonic clock in whole seconds.
 */
import type { Clock } from "../../agent/core/deps";
import { ok, type Result } from "../../agent/core/result";
import { configError, firstProblem, notPositiveInteger, type TenantConfigError } from "./config-checks";
import { Hash64 } from "./hash64";
import { Hash64Table, slotsFor } from "./hash64-table";

export interface ActiveSeriesConfig {
  /** Active series a tenant may have. Default 500,000. */
  maxSeries?: number;
  /** A series not seen for longer than this expires. Default 1200 (20 min). */
  idleWindowSec?: number;
  /** Seconds between sweeps for expired series. Default 60. */
  sweepEverySec?: number;
}

export type ResolvedActiveSeriesConfig = Required<ActiveSeriesConfig>;

export type SeriesAdmission = "known" | "new" | "over_limit";

export interface ActiveSeriesStats {
  active: number;
  maxSeries: number;
  newSeriesTotal: number;
  overLimitTotal: number;
  expiredTotal: number;
  /** Bytes of the hash table (the tracker's whole per-series memory). */
  memoryBytes: number;
}

export interface ActiveSeriesTracker {
  admit(seriesKey: string): SeriesAdmission;
  /**
   * admit() for a key already hashed with Hash64 (the hub's scan caches it per series).
   * `atSec` (floor of clock.monoMs() / 1000) lets a caller read the clock once per request.
   */
  admitHashed(hi: number, lo: number, atSec?: number): SeriesAdmission;
  /** Removes expired series now (admit() also does it on its own schedule). */
  sweep(): void;
  stats(): ActiveSeriesStats;
}

export const ACTIVE_SERIES_DEFAULTS: ResolvedActiveSeriesConfig = { maxSeries: 500_000, idleWindowSec: 1200, sweepEverySec: 60 };

/** Slots a tracker starts with; it doubles on demand up to what maxSeries needs. */
const INITIAL_SLOTS = 1024;

export function parseActiveSeriesConfig(input: ActiveSeriesConfig, field = "activeSeries"): Result<ResolvedActiveSeriesConfig, TenantConfigError> {
  const resolved = { ...ACTIVE_SERIES_DEFAULTS, ...definedOnly(input) };
  const problem = firstProblem(
    notPositiveInteger(`${field}.maxSeries`, resolved.maxSeries),
    notPositiveInteger(`${field}.idleWindowSec`, resolved.idleWindowSec),
    notPositiveInteger(`${field}.sweepEverySec`, resolved.sweepEverySec),
  );
  if (problem !== undefined) return configError(problem);
  if (resolved.maxSeries > 1 << 30) return configError(`${field}.maxSeries must be at most ${1 << 30} (got ${resolved.maxSeries})`);
  return ok(resolved);
}

export function createActiveSeriesTracker(config: ResolvedActiveSeriesConfig, clock: Clock): ActiveSeriesTracker {
  const hasher = new Hash64();
  const table = new Hash64Table(INITIAL_SLOTS, slotsFor(config.maxSeries), true);
  const idle = config.idleWindowSec;
  let nextSweepSec = nowSec() + config.sweepEverySec;
  let lastLimitSweepSec = -1;
  let newSeriesTotal = 0;
  let overLimitTotal = 0;
  let expiredTotal = 0;

  function nowSec(): number {
    return Math.floor(clock.monoMs() / 1000);
  }

  function sweepAt(now: number): void {
    for (let i = 0; i < table.slots; ) {
      if (table.isOccupied(i) && now - table.valueAt(i) > idle) {
        table.removeAt(i); // may shift a later entry into slot i: look at i again
        expiredTotal++;
      } else i++;
    }
    nextSweepSec = now + config.sweepEverySec;
  }

  function admitHashed(hi: number, lo: number, atSec?: number): SeriesAdmission {
    const now = atSec ?? nowSec();
    if (now >= nextSweepSec) sweepAt(now);
    const i = table.find(hi, lo);
    if (i >= 0) {
      const wasIdle = now - table.valueAt(i) > idle;
      table.setValue(i, now);
      if (!wasIdle) return "known";
      newSeriesTotal++;
      return "new";
    }
    if (table.size >= config.maxSeries) {
      if (now === lastLimitSweepSec) {
        overLimitTotal++;
        return "over_limit";
      }
      lastLimitSweepSec = now;
      sweepAt(now);
      if (table.size >= config.maxSeries) {
        overLimitTotal++;
        return "over_limit";
      }
    }
    table.insert(hi, lo, now);
    newSeriesTotal++;
    return "new";
  }

  return {
    admit(seriesKey) {
      hasher.hash(seriesKey);
      return admitHashed(hasher.hi, hasher.lo);
    },
    admitHashed,
    sweep: () => sweepAt(nowSec()),
    stats: () => ({
      active: table.size,
      maxSeries: config.maxSeries,
      newSeriesTotal,
      overLimitTotal,
      expiredTotal,
      memoryBytes: table.bytes,
    }),
  };
}

function definedOnly<T extends object>(input: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(input) as (keyof T)[]) if (input[k] !== undefined) out[k] = input[k];
  return out;
}
