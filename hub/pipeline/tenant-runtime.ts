/**
 * Per-tenant state on the hub's write path, built from hub/tenants/:
 *
 *   rate      token bucket (samples/s + burst), then the tenant's fair share of the hub's capacity
 *   series    active-series tracker with the tenant's quota
 *   budget    cost model (AMP prices) feeding the budget guard; throttled → non-critical dropped
 *
 * TenantFleet holds every tenant plus what is shared between them (fair share, cost, guard, the
 * MAX_TENANT_LABELS labeler) and renders their metrics.
 *
 * Cost state across restarts: `<dataDir>/tenant-cost.json` holds each tenant's cost snapshot
 * (month-to-date spend and tier position, the UTC day's window, the rolling hour's 60 buckets,
 * samples still stored per day) and its budget state, as
 *
 *   { "version": 1, "savedAtMs": …, "tenants": { "<id>": { …TenantCostSnapshot, "budgetState": "throttled" } } }
 *
 * saveCost() writes it after every evaluation (budget.evaluateEverySec, default 30 s) and on
 * graceful stop: `tenant-cost.json.tmp`, fsync, rename, fsync the directory, so a kill -9 at
 * any point leaves the previous or the new complete file, and at most one interval is lost.
 * loadCost() at start restores the tenants still configured, rolls their windows to now (a
 * past day or month starts from zero) and evaluates the budget guard at once, so a tenant that
 * was throttled is throttled from the first request. A file that does not parse or check is
 * renamed to `tenant-cost.json.corrupt-<ms>` and the hub starts from zero, logged, never fatal.
 */
import { readFileSync } from "node:fs";
import { replaceFile, setAside } from "../../agent/platform/state-files";
import { join } from "node:path";
import type { SelfFamily } from "../../agent/admin/prom-text";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import type { HubConfig, TenantConfig } from "../config/hub-config";
import { createActiveSeriesTracker, parseActiveSeriesConfig, type ActiveSeriesTracker, type SeriesAdmission } from "../tenants/active-series";
import { nodeQueueFs, type QueueFs } from "../../agent/queue/queue-fs";
import { BUDGET_STATES, createBudgetGuard, parseBudgetGuardConfig, type BudgetGuard, type BudgetState } from "../tenants/budget-guard";
import { createCostModel, describeInvalidCostSnapshot, type CostModel, type TenantCostSnapshot } from "../tenants/cost";
import { parseCostConfig } from "../tenants/cost-config";
import { createFairShare, parseFairShareConfig, type FairShare } from "../tenants/fair-share";
import { createTenantLabels, parseTenantLabelsConfig, type TenantLabels } from "../tenants/tenant-labels";
import { createTokenBucket, parseTokenBucketConfig, type TokenBucket } from "../tenants/token-bucket";

export interface RateRefusal {
  reason: "rate_limit" | "fair_share";
  retryAfterMs: number;
}

/** Where admitSeries remembers its last answer for a series (CachedSeries has these fields). */
export interface AdmitMemo {
  memoOwner: unknown;
  memoSec: number;
}

/** How long an admission is remembered: well within any idle window (a tenant's is ≥ 4× this or the memo is off). */
const ADMIT_MEMO_SEC = 30;

export interface TenantRuntime {
  readonly id: string;
  readonly config: TenantConfig;
  admitRate(samples: number): Result<void, RateRefusal>;
  /**
   * The series' Hash64, as the scan cached it (ScannedSeries.hashHi/hashLo). With `memo` (the
   * series cache's object, ScannedSeries.cached), a series this tenant admitted less than
   * ADMIT_MEMO_SEC ago is "known" without a lookup in the tracker's table (a random memory
   * access per series, ~9 % of the hub's CPU under load): it cannot have expired since, as its
   * last-seen second in the table lags by less than the memo's life, far below the idle window.
   */
  admitSeries(hashHi: number, hashLo: number, atSec: number, memo?: AdmitMemo): SeriesAdmission;
  budgetThrottled(): boolean;
  isCritical(metricName: string): boolean;
  recordWritten(samples: number, newSeries: number): void;
}

export interface TenantFleet {
  byId: Map<string, TenantRuntime>;
  labeler: TenantLabels;
  /** Budget guard + cost accrual; called every budget.evaluateEverySec. */
  evaluate(): void;
  sweep(): void;
  families(): SelfFamily[];
  status(): unknown[];
  /** Restores cost state from `<dataDir>/tenant-cost.json` and evaluates; logs (never throws) a bad file. */
  loadCost(): void;
  /** Writes `<dataDir>/tenant-cost.json` atomically; never rejects (a failure is logged). */
  saveCost(): Promise<void>;
}

export const COST_STATE_FILE = "tenant-cost.json";
const COST_STATE_VERSION = 1;

type SavedTenant = TenantCostSnapshot & { budgetState?: BudgetState };

interface CostStateFile {
  version: number;
  savedAtMs: number;
  tenants: Record<string, SavedTenant>;
}

export interface TenantFleetDeps {
  clock: Clock;
  log: Logger;
  /** File operations for saveCost (tests inject failures); default node:fs. */
  fs?: QueueFs;
}

export function createTenantFleet(config: HubConfig, deps: TenantFleetDeps): Result<TenantFleet, string> {
  const { clock, log, fs = nodeQueueFs } = deps;
  const labels = parseTenantLabelsConfig({ maxTenantLabels: config.maxTenantLabels });
  if (!labels.ok) return err(labels.error.message);
  const labeler = createTenantLabels(labels.value);
  const costConfig = parseCostConfig({ seriesHourUsd: config.pricing.perSeriesHourUsd }, "pricing");
  if (!costConfig.ok) return err(costConfig.error.message);
  const cost: CostModel = createCostModel(costConfig.value, clock);
  const monthlyUsd: Record<string, number> = {};
  for (const t of config.tenants) if (t.budget && t.budget.monthlyUsd > 0) monthlyUsd[t.id] = t.budget.monthlyUsd;
  const guardConfig = parseBudgetGuardConfig(
    { monthlyUsd, evaluateEverySec: config.budget.evaluateEverySec, throttleWithinSec: config.budget.throttleWithinSec, critical: config.budget.critical },
    "budget",
  );
  if (!guardConfig.ok) return err(guardConfig.error.message);
  const guard: BudgetGuard = createBudgetGuard(guardConfig.value, { clock, log, spend: cost });
  let fair: FairShare | undefined;
  if (config.limits.capacitySamplesPerSec > 0) {
    const f = parseFairShareConfig({ capacityPerSec: config.limits.capacitySamplesPerSec }, "limits.fairShare");
    if (!f.ok) return err(f.error.message);
    fair = createFairShare(f.value, clock);
  }

  const trackers = new Map<string, ActiveSeriesTracker>();
  const byId = new Map<string, TenantRuntime>();
  for (let i = 0; i < config.tenants.length; i++) {
    const t = config.tenants[i];
    let bucket: TokenBucket | undefined;
    if (t.limits.samplesPerSec > 0) {
      const b = parseTokenBucketConfig({ ratePerSec: t.limits.samplesPerSec, burst: t.limits.burstSamples || t.limits.samplesPerSec }, `tenants[${i}].limits`);
      if (!b.ok) return err(b.error.message);
      bucket = createTokenBucket(b.value, clock);
    }
    const a = parseActiveSeriesConfig({ maxSeries: t.limits.activeSeries }, `tenants[${i}].limits.activeSeries`);
    if (!a.ok) return err(a.error.message);
    const tracker = createActiveSeriesTracker(a.value, clock);
    trackers.set(t.id, tracker);
    const memoOn = a.value.idleWindowSec >= 4 * ADMIT_MEMO_SEC;
    const id = t.id;
    byId.set(id, {
      id,
      config: t,
      admitRate(samples) {
        if (bucket) {
          const r = bucket.take(samples);
          if (!r.admitted) return err({ reason: "rate_limit", retryAfterMs: r.retryAfterMs });
        }
        if (fair) {
          const r = fair.admit(id, samples);
          if (!r.admitted) return err({ reason: "fair_share", retryAfterMs: r.retryAfterMs });
        }
        return ok(undefined);
      },
      admitSeries(hi, lo, atSec, memo) {
        if (memo === undefined || !memoOn) return tracker.admitHashed(hi, lo, atSec);
        if (memo.memoOwner === tracker && atSec - memo.memoSec < ADMIT_MEMO_SEC && atSec >= memo.memoSec) return "known";
        const admitted = tracker.admitHashed(hi, lo, atSec);
        if (admitted !== "over_limit") {
          memo.memoOwner = tracker;
          memo.memoSec = atSec;
        }
        return admitted;
      },
      budgetThrottled: () => guard.verdictOf(id)?.state === "throttled",
      isCritical: (name) => guard.isCritical(name),
      recordWritten(samples) {
        cost.recordSamples(id, samples);
      },
    });
  }

  const evaluate = () => {
    for (const [id, tracker] of trackers) cost.accrue(id, tracker.stats().active);
    guard.evaluate();
  };

  const statePath = join(config.dataDir, COST_STATE_FILE);
  let writing: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let saveFailing = false;

  const loadCost = () => {
    const read = readCostState(statePath, clock.nowMs());
    if (!read.ok) {
      if (read.error.missing) return evaluate();
      const movedTo = read.error.movedTo === undefined ? {} : { moved_to: read.error.movedTo };
      log.warn("Ignoring the saved tenant cost state; cost estimates and budgets start from zero.", { file: statePath, error: read.error.message, ...movedTo });
      return evaluate();
    }
    const ignored: string[] = [];
    const previous: [string, BudgetState][] = [];
    for (const [id, saved] of Object.entries(read.value.tenants)) {
      if (!byId.has(id)) {
        ignored.push(id);
        continue;
      }
      cost.restore(id, saved);
      if (saved.budgetState !== undefined) previous.push([id, saved.budgetState]);
    }
    guard.restorePrevious(previous);
    evaluate();
    const throttled = config.tenants.filter((t) => guard.verdictOf(t.id)?.state === "throttled").map((t) => t.id);
    log.info("Restored tenant cost state.", {
      file: statePath,
      saved_s_ago: Math.round((clock.nowMs() - read.value.savedAtMs) / 1000),
      tenants: Object.keys(read.value.tenants).length - ignored.length,
      ...(ignored.length > 0 ? { ignored_tenants: ignored.join(",") } : {}),
      ...(throttled.length > 0 ? { throttled: throttled.join(",") } : {}),
    });
  };

  const writeCost = async () => {
    const state: CostStateFile = { version: COST_STATE_VERSION, savedAtMs: clock.nowMs(), tenants: {} };
    for (const t of config.tenants) {
      const snap = cost.snapshot(t.id);
      if (snap !== undefined) state.tenants[t.id] = { ...snap, budgetState: guard.verdictOf(t.id)?.state };
    }
    const saved = await replaceFile(fs, statePath, new TextEncoder().encode(JSON.stringify(state))).then(
      () => ok(undefined),
      (e: Error) => err(e.message),
    );
    if (!saved.ok && !saveFailing) log.warn("Cannot save tenant cost state; a restart would lose spend since the last save.", { file: statePath, error: saved.error });
    if (saved.ok && saveFailing) log.info("Saving tenant cost state again.", { file: statePath });
    saveFailing = !saved.ok;
  };

  /** One write at a time; a save asked for during a write runs after it (with fresh numbers), once. */
  const saveCost = (): Promise<void> => {
    if (queued) return queued;
    if (writing) {
      queued = writing.then(() => {
        queued = undefined;
        return saveCost();
      });
      return queued;
    }
    writing = writeCost().finally(() => {
      writing = undefined;
    });
    return writing;
  };

  return ok({
    byId,
    labeler,
    evaluate,
    loadCost,
    saveCost,
    sweep() {
      for (const tracker of trackers.values()) tracker.sweep();
    },
    families() {
      const labelFor = (t: string) => labeler.labelFor(t);
      const active = new Map<string, number>();
      const quota = new Map<string, number>();
      for (const [id, tracker] of trackers) {
        const s = tracker.stats();
        const l = labelFor(id);
        active.set(l, (active.get(l) ?? 0) + s.active);
        quota.set(l, (quota.get(l) ?? 0) + s.maxSeries);
      }
      const readiness: { labels: [string, string][]; value: number }[] = [];
      const STATES = ["ready", "at_series_quota", "budget_throttled"] as const;
      const seen = new Set<string>();
      for (const [id, tracker] of trackers) {
        const l = labelFor(id);
        if (seen.has(l)) continue;
        seen.add(l);
        const s = tracker.stats();
        const state = guard.verdictOf(id)?.state === "throttled" ? "budget_throttled" : s.active >= s.maxSeries ? "at_series_quota" : "ready";
        for (const st of STATES) readiness.push({ labels: [["tenant", l], ["state", st]], value: st === state ? 1 : 0 });
      }
      const fam: SelfFamily[] = [
        { name: "tenant_active_series", help: "Series the tenant wrote within the idle window (20 min).", type: "gauge", samples: [...active].map(([t, v]) => ({ labels: [["tenant", t]], value: v })) },
        { name: "tenant_active_series_limit", help: "The tenant's active series quota.", type: "gauge", samples: [...quota].map(([t, v]) => ({ labels: [["tenant", t]], value: v })) },
        { name: "tenant_readiness_state", help: "1 for the tenant's current state: ready, at_series_quota (new series get 409) or budget_throttled.", type: "gauge", samples: readiness },
        ...cost.families(labelFor),
        ...guard.families(labelFor),
        ...labeler.families(),
      ];
      if (fair) {
        const s = fair.stats();
        fam.push(
          { name: "hub_fair_share_demand_samples_per_second", help: "Samples/s offered by all tenants (last recompute).", type: "gauge", samples: [{ labels: [], value: s.demandPerSec }] },
          { name: "hub_fair_share_limited_tenants", help: "Tenants currently limited to their fair share of the hub's capacity.", type: "gauge", samples: [{ labels: [], value: s.limitedTenants }] },
        );
      }
      return fam;
    },
    status() {
      return config.tenants.map((t) => {
        const s = trackers.get(t.id)!.stats();
        const v = guard.verdictOf(t.id);
        return {
          id: t.id,
          upstreams: t.upstreams,
          residency: t.residency ?? null,
          activeSeries: s.active,
          activeSeriesLimit: s.maxSeries,
          samplesPerSecLimit: t.limits.samplesPerSec || null,
          costUsd: { total: cost.totalUsd(t.id), lastHour: cost.rollingHourUsd(t.id), today: cost.billingDayUsd(t.id) },
          budget: v ? { state: v.state, projectedUsd: v.projectedUsd, budgetUsd: v.budgetUsd } : null,
        };
      });
    },
  });
}

type ReadStateError = { missing: true; message: string; movedTo?: undefined } | { missing: false; message: string; movedTo?: string };

/** Reads and checks the cost state file; a file that does not parse or check is renamed aside. */
function readCostState(path: string, nowMs: number): Result<CostStateFile, ReadStateError> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    return err({ missing, message: (e as Error).message });
  }
  try {
    const state = JSON.parse(text) as CostStateFile;
    const problem = describeInvalidCostState(state);
    if (problem !== undefined) throw new Error(problem);
    return ok(state);
  } catch (e) {
    return err({ missing: false, message: (e as Error).message, movedTo: setAside(path, nowMs) });
  }
}

function describeInvalidCostState(state: CostStateFile): string | undefined {
  if (state === null || typeof state !== "object") return "not a JSON object";
  if (state.version !== COST_STATE_VERSION) return `unknown version ${JSON.stringify(state.version)}`;
  if (typeof state.savedAtMs !== "number" || state.tenants === null || typeof state.tenants !== "object") return "savedAtMs or tenants missing";
  for (const [id, saved] of Object.entries(state.tenants)) {
    const problem = describeInvalidCostSnapshot(saved);
    if (problem !== undefined) return `tenants.${id}: ${problem}`;
    if (saved.budgetState !== undefined && !BUDGET_STATES.includes(saved.budgetState)) return `tenants.${id}.budgetState is not a budget state`;
  }
  return undefined;
}
