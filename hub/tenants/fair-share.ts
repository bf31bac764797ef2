/**
 * Adaptive fair sharing of the hub's global capacity, so one noisy tenant cannot starve the rest.
 *
 * Every tenant's demand is the samples it offered (admitted or not) per second, averaged over the
 * last `demandWindowSec` whole seconds. Once a second the shares are recomputed:
 *
 * - total demand ≤ `capacityPerSec`: nobody is limited;
 * - otherwise weighted max-min fairness (water-filling): tenants are taken in order of
 *   demand/weight; a tenant whose demand fits under an equal weighted split of what is left gets
 *   all of it and is never throttled; the others are limited to `weight × λ`, where the level λ
 *   makes the shares add up to the capacity exactly.
 *
 * A limited tenant gets a token bucket at its share with `burstSec` of burst; a refusal carries
 * the bucket's retry-after and reason "fair_share". Unlimited tenants skip the bucket entirely.
 *
 * Cost: admit() is a Map lookup, an add and at most one bucket take; the recompute (sort of the
 * tenants seen in the window) runs on the first call of each new second. Tenants that offered
 * nothing for a whole window are forgotten.
 */
import type { Clock } from "../../agent/core/deps";
import { ok, type Result } from "../../agent/core/result";
import { configError, firstProblem, notPositive, notPositiveInteger, show, type TenantConfigError } from "./config-checks";
import { createTokenBucket, type TokenBucket } from "./token-bucket";

export interface FairShareConfig {
  /** Samples/s the hub (its upstream) can take in total. */
  capacityPerSec: number;
  /** Seconds of offered samples that make up a tenant's demand. Default 5. */
  demandWindowSec?: number;
  /** Burst of a limited tenant, in seconds of its share. Default 1. */
  burstSec?: number;
  /** Weight of tenants not in `weights`. Default 1. */
  defaultWeight?: number;
  /** Per-tenant weights: a tenant with weight 2 gets twice the share of one with weight 1. */
  weights?: Record<string, number>;
}

export type ResolvedFairShareConfig = Required<FairShareConfig>;

export type FairShareDecision = { admitted: true } | { admitted: false; retryAfterMs: number; reason: "fair_share" };

export interface FairShareStats {
  /** Sum of the tenants' demand at the last recompute, samples/s. */
  demandPerSec: number;
  capacityPerSec: number;
  /** Tenants limited to their share since the last recompute. */
  limitedTenants: number;
  /** Tenants tracked (seen within the demand window). */
  tenants: number;
}

export interface FairShare {
  admit(tenant: string, samples: number): FairShareDecision;
  /** The tenant's current limit in samples/s; Infinity when it is not limited. */
  shareOf(tenant: string): number;
  /** The tenant's measured demand in samples/s at the last recompute. */
  demandOf(tenant: string): number;
  stats(): FairShareStats;
}

export const FAIR_SHARE_DEFAULTS = { demandWindowSec: 5, burstSec: 1, defaultWeight: 1 } as const;

export function parseFairShareConfig(input: FairShareConfig, field = "fairShare"): Result<ResolvedFairShareConfig, TenantConfigError> {
  const { capacityPerSec, demandWindowSec = 5, burstSec = 1, defaultWeight = 1, weights = {} } = input;
  const problem = firstProblem(
    notPositive(`${field}.capacityPerSec`, capacityPerSec),
    notPositiveInteger(`${field}.demandWindowSec`, demandWindowSec),
    notPositive(`${field}.burstSec`, burstSec),
    notPositive(`${field}.defaultWeight`, defaultWeight),
  );
  if (problem !== undefined) return configError(problem);
  if (typeof weights !== "object" || weights === null || Array.isArray(weights)) {
    return configError(`${field}.weights must be a map of tenant to weight (got ${show(weights)})`);
  }
  for (const [tenant, weight] of Object.entries(weights)) {
    const bad = notPositive(`${field}.weights.${tenant}`, weight);
    if (bad !== undefined) return configError(bad);
  }
  return ok({ capacityPerSec, demandWindowSec, burstSec, defaultWeight, weights: { ...weights } });
}

interface TenantState {
  readonly weight: number;
  /** Offered samples of the last `demandWindowSec` whole seconds, indexed by second % window. */
  readonly perSecond: Float64Array;
  /** Offered samples in the current second. */
  offeredNow: number;
  demandPerSec: number;
  /** Present only while the tenant is limited. */
  bucket: TokenBucket | undefined;
  share: number;
}

const ADMITTED: FairShareDecision = Object.freeze({ admitted: true });

export function createFairShare(config: ResolvedFairShareConfig, clock: Clock): FairShare {
  const window = config.demandWindowSec;
  const tenants = new Map<string, TenantState>();
  let second = Math.floor(clock.monoMs() / 1000);
  let demandPerSec = 0;
  let limitedTenants = 0;

  const stateOf = (tenant: string): TenantState => {
    let s = tenants.get(tenant);
    if (s === undefined) {
      const weight = config.weights[tenant] ?? config.defaultWeight;
      s = { weight, perSecond: new Float64Array(window), offeredNow: 0, demandPerSec: 0, bucket: undefined, share: Infinity };
      tenants.set(tenant, s);
    }
    return s;
  };

  /** Closes the seconds between the last one seen and `now`, then recomputes the shares. */
  const rollOver = (now: number) => {
    const elapsed = now - second;
    for (const [tenant, s] of tenants) {
      if (elapsed > window) s.perSecond.fill(0); // even the last second seen is out of the window
      else {
        s.perSecond[second % window] = s.offeredNow;
        for (let k = 1; k < elapsed; k++) s.perSecond[(second + k) % window] = 0;
      }
      s.offeredNow = 0;
      let sum = 0;
      for (let k = 0; k < window; k++) sum += s.perSecond[k];
      if (sum === 0) tenants.delete(tenant);
      else s.demandPerSec = sum / window;
    }
    second = now;
    recomputeShares();
  };

  const recomputeShares = () => {
    const list = [...tenants.values()];
    demandPerSec = list.reduce((total, s) => total + s.demandPerSec, 0);
    const levels = demandPerSec <= config.capacityPerSec ? undefined : waterFill(list, config.capacityPerSec);
    limitedTenants = 0;
    for (const s of list) {
      const share = levels?.get(s) ?? Infinity;
      s.share = share;
      if (share === Infinity) {
        s.bucket = undefined;
        continue;
      }
      limitedTenants++;
      const bucketConfig = { ratePerSec: share, burst: share * config.burstSec };
      if (s.bucket === undefined) s.bucket = createTokenBucket(bucketConfig, clock);
      else s.bucket.reconfigure(bucketConfig);
    }
  };

  return {
    admit(tenant, samples) {
      const now = Math.floor(clock.monoMs() / 1000);
      if (now !== second) rollOver(now);
      const s = stateOf(tenant);
      s.offeredNow += samples;
      if (s.bucket === undefined) return ADMITTED;
      const taken = s.bucket.take(samples);
      return taken.admitted ? ADMITTED : { admitted: false, retryAfterMs: taken.retryAfterMs, reason: "fair_share" };
    },
    shareOf: (tenant) => tenants.get(tenant)?.share ?? Infinity,
    demandOf: (tenant) => tenants.get(tenant)?.demandPerSec ?? 0,
    stats: () => ({ demandPerSec, capacityPerSec: config.capacityPerSec, limitedTenants, tenants: tenants.size }),
  };
}

/**
 * Weighted max-min fair shares of `capacity` for tenants whose total demand exceeds it: the
 * limited tenants and their shares (tenants left out are satisfied in full).
 */
function waterFill(list: TenantState[], capacity: number): Map<TenantState, number> {
  const byNeed = [...list].sort((a, b) => a.demandPerSec / a.weight - b.demandPerSec / b.weight);
  let remaining = capacity;
  let remainingWeight = list.reduce((total, s) => total + s.weight, 0);
  const limited = new Map<TenantState, number>();
  for (let i = 0; i < byNeed.length; i++) {
    const s = byNeed[i];
    const level = remaining / remainingWeight;
    if (s.demandPerSec / s.weight <= level) {
      remaining -= s.demandPerSec;
      remainingWeight -= s.weight;
      continue;
    }
    for (let j = i; j < byNeed.length; j++) limited.set(byNeed[j], byNeed[j].weight * level);
    break;
  }
  return limited;
}
