/**
 * Monthly budget per tenant (USD): projects the month's spend and throttles non-critical
 * metrics of a tenant projected to go over.
 *
 *   projected = spent this UTC month + spend rate over the last hour (USD/h) × hours left in it
 *
 * State by projected / budget: < 80 % ok, ≥ 80 % warn_80, ≥ 90 % warn_90, ≥ 100 % throttled (in
 * both directions: a tenant that slows down, or a new month, comes back). Each transition is
 * logged once, with the numbers. While throttled, isThrottled(tenant, metricName) is true for
 * every metric name that matches none of the `critical` globs (default: up, *_slo_*,
 * gameplay_*): the hub refuses those series and keeps the ones that page people.
 *
 * Timing: evaluate() runs every `evaluateEverySec` (default 30 s) — from start()'s timer, or
 * from evaluateIfDue() which the hub may call per request. Config requires evaluateEverySec ≤
 * throttleWithinSec (default 120 s), so a projection crossing 100 % throttles within
 * throttleWithinSec. isThrottled() is a Map lookup for tenants that are not throttled; names of
 * throttled tenants are matched against the globs once and the answer cached.
 *
 * Restart: the guard keeps no state of its own worth saving; its verdicts follow from the cost
 * model's month-to-date spend and hourly rate, which are restored from the data dir. The states
 * saved next to them only go to restorePrevious(), so that the first evaluation after a restart
 * logs a transition only when the state really changed (not "ok → throttled" again).
 */
import type { Clock, Logger } from "../../agent/core/deps";
import type { SelfFamily } from "../../agent/admin/prom-text";
import { ok, type Result } from "../../agent/core/result";
import { configError, firstProblem, notPositive, show, type TenantConfigError } from "./config-checks";

export interface BudgetGuardConfig {
  /** Monthly budget per tenant, USD. */
  monthlyUsd?: Record<string, number>;
  /** Budget of tenants not in `monthlyUsd`; null (default) for none. */
  defaultMonthlyUsd?: number | null;
  /** Seconds between evaluations. Default 30; at most throttleWithinSec. */
  evaluateEverySec?: number;
  /** Bound on the time from crossing 100 % to throttling. Default 120. */
  throttleWithinSec?: number;
  /** Metric-name globs (`*` any run, `?` one character) never throttled. */
  critical?: string[];
}

export type ResolvedBudgetGuardConfig = Required<BudgetGuardConfig>;

export type BudgetState = "ok" | "warn_80" | "warn_90" | "throttled";

export const BUDGET_STATES: readonly BudgetState[] = ["ok", "warn_80", "warn_90", "throttled"];

export const DEFAULT_CRITICAL = ["up", "*_slo_*", "gameplay_*"];

/** What the guard needs from the cost model (cost.ts implements it). */
export interface SpendSource {
  monthUsd(tenant: string): number;
  hourlyRateUsd(tenant: string): number;
  tenants(): Iterable<string>;
}

export interface BudgetGuardDeps {
  clock: Clock;
  log: Logger;
  spend: SpendSource;
}

export interface BudgetVerdict {
  state: BudgetState;
  projectedUsd: number;
  budgetUsd: number;
}

export interface BudgetGuard {
  /** Evaluates when evaluateEverySec has passed since the last evaluation; says whether it did. */
  evaluateIfDue(): boolean;
  evaluate(): void;
  /** True when the tenant is throttled and the metric is not critical (hot path). */
  isThrottled(tenant: string, metricName: string): boolean;
  isCritical(metricName: string): boolean;
  verdictOf(tenant: string): BudgetVerdict | undefined;
  /**
   * States from before a restart: the "from" of the next evaluation's transitions, so an
   * unchanged state is not logged again. Changes no verdict; evaluate() decides from the spend.
   */
  restorePrevious(states: Iterable<[string, BudgetState]>): void;
  /** Evaluates on a timer until `signal` aborts. */
  start(signal: AbortSignal): void;
  /** tenant_budget_state (one-hot; summed per label when tenants share one) and tenant_budget_projected_usd. */
  families(labelFor?: (tenant: string) => string): SelfFamily[];
}

const MAX_CACHED_NAMES = 10_000;

export function parseBudgetGuardConfig(input: BudgetGuardConfig, field = "budget"): Result<ResolvedBudgetGuardConfig, TenantConfigError> {
  const { monthlyUsd = {}, defaultMonthlyUsd = null, evaluateEverySec = 30, throttleWithinSec = 120, critical = DEFAULT_CRITICAL } = input;
  const problem = firstProblem(
    notPositive(`${field}.evaluateEverySec`, evaluateEverySec),
    notPositive(`${field}.throttleWithinSec`, throttleWithinSec),
    defaultMonthlyUsd === null ? undefined : notPositive(`${field}.defaultMonthlyUsd`, defaultMonthlyUsd),
    ...Object.entries(monthlyUsd).map(([tenant, usd]) => notPositive(`${field}.monthlyUsd.${tenant}`, usd)),
  );
  if (problem !== undefined) return configError(problem);
  if (evaluateEverySec > throttleWithinSec) {
    return configError(`${field}.evaluateEverySec must be ≤ ${field}.throttleWithinSec = ${throttleWithinSec} (got ${evaluateEverySec})`);
  }
  if (!Array.isArray(critical) || critical.some((g) => typeof g !== "string" || g === "")) {
    return configError(`${field}.critical must be a list of non-empty metric-name globs (got ${show(critical)})`);
  }
  return ok({ monthlyUsd: { ...monthlyUsd }, defaultMonthlyUsd, evaluateEverySec, throttleWithinSec, critical: [...critical] });
}

/** One RegExp matching any of the globs over a whole metric name. */
export function compileGlobs(globs: readonly string[]): RegExp {
  const alternatives = globs.map((g) => g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, "."));
  return new RegExp(`^(?:${alternatives.join("|")})$`);
}

export function createBudgetGuard(config: ResolvedBudgetGuardConfig, deps: BudgetGuardDeps): BudgetGuard {
  const { clock, log, spend } = deps;
  const critical = compileGlobs(config.critical);
  const criticalCache = new Map<string, boolean>();
  const verdicts = new Map<string, BudgetVerdict>();
  const throttled = new Set<string>();
  /** restorePrevious()'s states, for tenants not evaluated since. */
  const previousStates = new Map<string, BudgetState>();
  const everyMs = config.evaluateEverySec * 1000;
  let lastEvaluationMs = clock.monoMs();

  const budgetOf = (tenant: string): number | null => config.monthlyUsd[tenant] ?? config.defaultMonthlyUsd;

  const isCritical = (name: string): boolean => {
    let answer = criticalCache.get(name);
    if (answer === undefined) {
      if (criticalCache.size >= MAX_CACHED_NAMES) criticalCache.clear();
      answer = critical.test(name);
      criticalCache.set(name, answer);
    }
    return answer;
  };

  const evaluate = () => {
    lastEvaluationMs = clock.monoMs();
    const now = clock.nowMs();
    const hoursLeft = hoursLeftInUtcMonth(now);
    for (const tenant of spend.tenants()) {
      const budgetUsd = budgetOf(tenant);
      if (budgetUsd === null) continue;
      const spentUsd = spend.monthUsd(tenant);
      const hourlyRateUsd = spend.hourlyRateUsd(tenant);
      const projectedUsd = spentUsd + hourlyRateUsd * hoursLeft;
      const state = stateFor(projectedUsd / budgetUsd);
      const previous = verdicts.get(tenant)?.state ?? previousStates.get(tenant) ?? "ok";
      previousStates.delete(tenant);
      verdicts.set(tenant, { state, projectedUsd, budgetUsd });
      if (state === "throttled") throttled.add(tenant);
      else throttled.delete(tenant);
      if (state !== previous) logTransition(log, { tenant, from: previous, to: state, projectedUsd, budgetUsd, spentUsd, hourlyRateUsd, hoursLeft });
    }
  };

  return {
    evaluateIfDue() {
      if (clock.monoMs() - lastEvaluationMs < everyMs) return false;
      evaluate();
      return true;
    },
    evaluate,
    isThrottled: (tenant, metricName) => throttled.has(tenant) && !isCritical(metricName),
    isCritical,
    verdictOf: (tenant) => verdicts.get(tenant),
    restorePrevious(states) {
      for (const [tenant, state] of states) if (!verdicts.has(tenant)) previousStates.set(tenant, state);
    },
    start(signal) {
      const timer = setInterval(evaluate, everyMs);
      timer.unref?.();
      signal.addEventListener("abort", () => clearInterval(timer), { once: true });
    },
    families(labelFor = (t) => t) {
      const states = new Map<string, number[]>();
      const projected = new Map<string, number>();
      for (const [tenant, v] of verdicts) {
        const label = labelFor(tenant);
        const oneHot = states.get(label) ?? [0, 0, 0, 0];
        oneHot[BUDGET_STATES.indexOf(v.state)]++;
        states.set(label, oneHot);
        projected.set(label, (projected.get(label) ?? 0) + v.projectedUsd);
      }
      return [
        {
          name: "tenant_budget_state",
          help: "Budget state of the tenant: 1 for the current state (ok, warn_80, warn_90, throttled), 0 for the others.",
          type: "gauge",
          samples: [...states].flatMap(([tenant, counts]) =>
            BUDGET_STATES.map((state, k) => ({ labels: [["state", state], ["tenant", tenant]] as [string, string][], value: counts[k] })),
          ),
        },
        {
          name: "tenant_budget_projected_usd",
          help: "Projected spend of the tenant for the current UTC month: spent + last hour's rate × hours left.",
          type: "gauge",
          samples: [...projected].map(([tenant, value]) => ({ labels: [["tenant", tenant]] as [string, string][], value })),
        },
      ];
    },
  };
}

function stateFor(fraction: number): BudgetState {
  if (fraction >= 1) return "throttled";
  if (fraction >= 0.9) return "warn_90";
  if (fraction >= 0.8) return "warn_80";
  return "ok";
}

interface Transition {
  tenant: string;
  from: BudgetState;
  to: BudgetState;
  projectedUsd: number;
  budgetUsd: number;
  spentUsd: number;
  hourlyRateUsd: number;
  hoursLeft: number;
}

function logTransition(log: Logger, t: Transition): void {
  const fields = {
    tenant: t.tenant,
    from: t.from,
    to: t.to,
    projected_usd: round2(t.projectedUsd),
    budget_usd: round2(t.budgetUsd),
    percent: Math.round((t.projectedUsd / t.budgetUsd) * 100),
    spent_usd: round2(t.spentUsd),
    rate_usd_per_hour: round4(t.hourlyRateUsd),
    hours_left: round2(t.hoursLeft),
  };
  const worse = BUDGET_STATES.indexOf(t.to) > BUDGET_STATES.indexOf(t.from);
  if (t.to === "throttled") log.warn("Throttling non-critical metrics of tenant projected over its monthly budget.", fields);
  else if (worse) log.warn("Tenant's projected monthly spend passed a budget threshold.", fields);
  else log.info("Tenant's projected monthly spend came back under a budget threshold.", fields);
}

/** Hours from `ms` to the start of the next UTC month. */
export function hoursLeftInUtcMonth(ms: number): number {
  const d = new Date(ms);
  return (Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - ms) / 3_600_000;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round4 = (x: number) => Math.round(x * 10_000) / 10_000;
