import { afterEach, describe, expect, test, vi } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { createLogger } from "../../../agent/core/log";
import { createBudgetGuard, hoursLeftInUtcMonth, parseBudgetGuardConfig, type BudgetGuardConfig, type SpendSource } from "../../../hub/tenants/budget-guard";
import { createCostModel } from "../../../hub/tenants/cost";
import { COST_DEFAULTS } from "../../../hub/tenants/cost-config";

const START = Date.parse("2026-11-10T00:00:00Z");

function guardConfig(config: BudgetGuardConfig) {
  const parsed = parseBudgetGuardConfig(config);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

function capturingLog() {
  const lines: string[] = [];
  return { lines, log: createLogger("debug", (l) => lines.push(l)) };
}

/** A spend source with fixed numbers per tenant. */
function fixedSpend(byTenant: Record<string, { month: number; rate: number }>): SpendSource {
  return {
    monthUsd: (t) => byTenant[t]?.month ?? 0,
    hourlyRateUsd: (t) => byTenant[t]?.rate ?? 0,
    tenants: () => Object.keys(byTenant),
  };
}

describe("budget guard", () => {
  afterEach(() => vi.useRealTimers());

  test.each([30, 120])("at a 100 percent projection the throttle takes effect within 120 s of fake time (evaluateEverySec %i)", (evaluateEverySec) => {
    const clock = fakeClock(START);
    const cost = createCostModel(COST_DEFAULTS, clock);
    const { log } = capturingLog();
    const guard = createBudgetGuard(guardConfig({ monthlyUsd: { noisy: 400 }, evaluateEverySec }), { clock, log, spend: cost });
    const projection = () => cost.monthUsd("noisy") + cost.hourlyRateUsd("noisy") * hoursLeftInUtcMonth(clock.nowMs());
    const runSecond = (samples: number) => {
      cost.recordSamples("noisy", samples);
      clock.advance(1000);
      guard.evaluateIfDue();
    };
    // An hour at 1000 samples/s ($0.324/h, ~$155 projected), then ten times that.
    for (let s = 0; s < 3660; s++) runSecond(1000);
    expect(guard.verdictOf("noisy")?.state).toBe("ok");
    let crossedAtMs: number | undefined;
    let throttledAtMs: number | undefined;
    for (let s = 0; s < 3600 && throttledAtMs === undefined; s++) {
      runSecond(10_000);
      if (crossedAtMs === undefined && projection() >= 400) crossedAtMs = clock.nowMs();
      if (guard.isThrottled("noisy", "game_kills_total")) throttledAtMs = clock.nowMs();
    }
    expect(crossedAtMs).toBeDefined();
    expect(throttledAtMs).toBeDefined();
    const lagMs = throttledAtMs! - crossedAtMs!;
    expect(lagMs).toBeGreaterThanOrEqual(0);
    expect(lagMs).toBeLessThanOrEqual(120_000);
    expect(lagMs).toBeLessThanOrEqual(evaluateEverySec * 1000);
  });

  test("walks ok → warn_80 → warn_90 → throttled and logs each transition once, with the numbers", () => {
    const clock = fakeClock(START);
    const hoursLeft = hoursLeftInUtcMonth(START); // 21 days
    const spend = { acme: { month: 0, rate: 0 } };
    const { lines, log } = capturingLog();
    const guard = createBudgetGuard(guardConfig({ monthlyUsd: { acme: 1000 } }), { clock, log, spend: fixedSpend(spend) });
    const states: string[] = [];
    for (const fraction of [0.5, 0.85, 0.85, 0.95, 1.0, 1.2, 0.7]) {
      spend.acme.rate = (fraction * 1000) / hoursLeft;
      guard.evaluate();
      states.push(guard.verdictOf("acme")!.state);
    }
    expect(states).toEqual(["ok", "warn_80", "warn_80", "warn_90", "throttled", "throttled", "ok"]);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/level=warn msg="Tenant's projected monthly spend passed a budget threshold\." tenant=acme from=ok to=warn_80 projected_usd=850 budget_usd=1000 percent=85 spent_usd=0 rate_usd_per_hour=1\.6865 hours_left=504\n$/);
    expect(lines[2]).toMatch(/level=warn msg="Throttling non-critical metrics of tenant projected over its monthly budget\." tenant=acme from=warn_90 to=throttled .*percent=100 /);
    expect(lines[3]).toMatch(/level=info .* from=throttled to=ok .*percent=70 /);
  });

  test("a throttled tenant keeps its critical metrics; other tenants are untouched", () => {
    const clock = fakeClock(START);
    const { log } = capturingLog();
    const spend = fixedSpend({ over: { month: 2000, rate: 0 }, under: { month: 1, rate: 0 } });
    const guard = createBudgetGuard(guardConfig({ defaultMonthlyUsd: 1000 }), { clock, log, spend });
    guard.evaluate();
    for (const name of ["up", "matchmaking_slo_latency_seconds", "api_slo_errors_total", "gameplay_kills_total"]) {
      expect(guard.isThrottled("over", name)).toBe(false);
    }
    for (const name of ["game_kills_total", "upstream_bytes", "slo_total", "node_cpu_seconds_total", "xgameplay_y"]) {
      expect(guard.isThrottled("over", name)).toBe(true);
    }
    expect(guard.isThrottled("under", "game_kills_total")).toBe(false);
    expect(guard.isThrottled("unknown", "game_kills_total")).toBe(false);
  });

  test("tenants without a budget are never evaluated", () => {
    const clock = fakeClock(START);
    const { log } = capturingLog();
    const guard = createBudgetGuard(guardConfig({ monthlyUsd: { a: 10 } }), { clock, log, spend: fixedSpend({ a: { month: 1, rate: 0 }, b: { month: 1e9, rate: 0 } }) });
    guard.evaluate();
    expect(guard.verdictOf("b")).toBeUndefined();
    expect(guard.isThrottled("b", "x")).toBe(false);
  });

  test("exports the state one-hot and the projection", () => {
    const clock = fakeClock(START);
    const { log } = capturingLog();
    const guard = createBudgetGuard(guardConfig({ monthlyUsd: { a: 100 } }), { clock, log, spend: fixedSpend({ a: { month: 95, rate: 0 } }) });
    guard.evaluate();
    const [state, projected] = guard.families();
    expect(state.name).toBe("tenant_budget_state");
    expect(state.samples).toEqual([
      { labels: [["state", "ok"], ["tenant", "a"]], value: 0 },
      { labels: [["state", "warn_80"], ["tenant", "a"]], value: 0 },
      { labels: [["state", "warn_90"], ["tenant", "a"]], value: 1 },
      { labels: [["state", "throttled"], ["tenant", "a"]], value: 0 },
    ]);
    expect(projected).toMatchObject({ name: "tenant_budget_projected_usd", samples: [{ labels: [["tenant", "a"]], value: 95 }] });
  });

  test("start() evaluates on a timer every evaluateEverySec until aborted", () => {
    vi.useFakeTimers();
    const clock = fakeClock(START);
    const { log } = capturingLog();
    const spend = { a: { month: 0, rate: 0 } };
    const guard = createBudgetGuard(guardConfig({ monthlyUsd: { a: 100 } }), { clock, log, spend: fixedSpend(spend) });
    const stop = new AbortController();
    guard.start(stop.signal);
    spend.a.month = 150;
    vi.advanceTimersByTime(30_000);
    expect(guard.verdictOf("a")?.state).toBe("throttled");
    stop.abort();
    spend.a.month = 0;
    vi.advanceTimersByTime(60_000);
    expect(guard.verdictOf("a")?.state).toBe("throttled");
  });

  test("hours left in the UTC month", () => {
    expect(hoursLeftInUtcMonth(Date.parse("2026-11-30T23:00:00Z"))).toBe(1);
    expect(hoursLeftInUtcMonth(Date.parse("2026-12-01T00:00:00Z"))).toBe(31 * 24);
  });
});
