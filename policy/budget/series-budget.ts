/**
 * Series budget: at most `maxSeries` active series per host.
 *
 * Admission is deterministic and first-come: a new series is admitted while fewer than
 * `maxSeries` are active, otherwise rejected (reason "budget"). Admitted series keep flowing
 * whatever arrives later. A series idle for `idleExpiryMs` is expired by the aggregator's sweep
 * and frees its slot; `epoch` increases whenever a slot frees so that callers caching a "budget"
 * rejection know to ask again.
 *
 * The agent's own self-metrics never pass through here: they are a small fixed set rendered
 * beside the budgeted series (the reserved allowance), so they cannot starve game metrics and
 * game metrics cannot hide them.
 */
export interface SeriesBudgetConfig {
  maxSeries: number;
  idleExpiryMs: number;
}

export const DEFAULT_SERIES_BUDGET: SeriesBudgetConfig = { maxSeries: 300, idleExpiryMs: 5 * 60_000 };

export interface SeriesBudget {
  readonly maxSeries: number;
  readonly idleExpiryMs: number;
  /** Number of series holding a slot. */
  readonly active: number;
  /** Increases each time a slot is freed. */
  readonly epoch: number;
  tryAdmit(): boolean;
  release(): void;
}

export function createSeriesBudget(config: SeriesBudgetConfig): SeriesBudget {
  let active = 0;
  let epoch = 0;
  return {
    maxSeries: config.maxSeries,
    idleExpiryMs: config.idleExpiryMs,
    get active() {
      return active;
    },
    get epoch() {
      return epoch;
    },
    tryAdmit() {
      if (active >= config.maxSeries) return false;
      active++;
      return true;
    },
    release() {
      if (active <= 0) throw new Error("BUG: series budget released more slots than it admitted");
      active--;
      epoch++;
    },
  };
}
