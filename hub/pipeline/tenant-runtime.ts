/**
 * Per-tenant state on the hub's write path, built from hub/tenants/:
 *
 *   rate      token bucket (samples/s + burst), then the tenant's fair share of the hub's capacity
 *   series    active-series tracker with the tenant's quota
 *   budget    cost model (AMP prices) feeding the budget guard; throttled → non-critical dropped
 *
 * TenantFleet holds every tenant plus what is shared between them (fair share, cost, guard, the
 * MAX_TENANT_LABELS labeler) and renders their metrics.
 */
import type { SelfFamily } from "../../agent/admin/prom-text";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import type { HubConfig, TenantConfig } from "../config/hub-config";
import { createActiveSeriesTracker, parseActiveSeriesConfig, type ActiveSeriesTracker, type SeriesAdmission } from "../tenants/active-series";
import { createBudgetGuard, parseBudgetGuardConfig, type BudgetGuard } from "../tenants/budget-guard";
import { createCostModel, type CostModel } from "../tenants/cost";
import { parseCostConfig } from "../tenants/cost-config";
import { createFairShare, parseFairShareConfig, type FairShare } from "../tenants/fair-share";
import { createTenantLabels, parseTenantLabelsConfig, type TenantLabels } from "../tenants/tenant-labels";
import { createTokenBucket, parseTokenBucketConfig, type TokenBucket } from "../tenants/token-bucket";

export interface RateRefusal {
  reason: "rate_limit" | "fair_share";
  retryAfterMs: number;
}

export interface TenantRuntime {
  readonly id: string;
  readonly config: TenantConfig;
  admitRate(samples: number): Result<void, RateRefusal>;
  /** The series' Hash64, as the scan cached it (ScannedSeries.hashHi/hashLo). */
  admitSeries(hashHi: number, hashLo: number, atSec: number): SeriesAdmission;
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
}

export function createTenantFleet(config: HubConfig, deps: { clock: Clock; log: Logger }): Result<TenantFleet, string> {
  const { clock, log } = deps;
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
      admitSeries: (hi, lo, atSec) => tracker.admitHashed(hi, lo, atSec),
      budgetThrottled: () => guard.verdictOf(id)?.state === "throttled",
      isCritical: (name) => guard.isCritical(name),
      recordWritten(samples) {
        cost.recordSamples(id, samples);
      },
    });
  }

  return ok({
    byId,
    labeler,
    evaluate() {
      for (const [id, tracker] of trackers) cost.accrue(id, tracker.stats().active);
      guard.evaluate();
    },
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
