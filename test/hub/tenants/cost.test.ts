import { describe, expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { createCostModel } from "../../../hub/tenants/cost";
import { AMP_INGEST_TIERS, ingestUsd, parseCostConfig, type CostConfig } from "../../../hub/tenants/cost-config";

const at = (iso: string) => Date.parse(iso);

function model(config: CostConfig = {}, startIso = "2026-11-10T12:00:00Z") {
  const clock = fakeClock(at(startIso));
  const parsed = parseCostConfig(config);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return { clock, cost: createCostModel(parsed.value, clock) };
}

describe("AMP ingestion tiers", () => {
  test.each([
    ["10 M samples in the first tier", 0, 1e7, 0.9],
    ["the whole first tier", 0, 2e9, 180],
    ["a batch straddling the first two tiers", 1.9e9, 2e8, 9 + 3.5],
    ["the second tier", 5e9, 1e7, 0.35],
    ["a batch straddling the second and third tiers", 251.9e9, 2e8, 3.5 + 1.6],
    ["the open tier", 300e9, 1e7, 0.16],
  ])("%s", (_name, monthSamples, samples, usd) => {
    expect(ingestUsd(AMP_INGEST_TIERS, monthSamples, samples)).toBeCloseTo(usd, 9);
  });
});

describe("cost model", () => {
  test("charges ingestion to all three windows", () => {
    const { cost } = model();
    cost.recordSamples("acme", 1e7);
    expect(cost.totalUsd("acme")).toBeCloseTo(0.9, 12);
    expect(cost.rollingHourUsd("acme")).toBeCloseTo(0.9, 12);
    expect(cost.billingDayUsd("acme")).toBeCloseTo(0.9, 12);
    expect(cost.monthUsd("acme")).toBeCloseTo(0.9, 12);
    expect(cost.totalUsd("nobody")).toBe(0);
  });

  test("the rolling hour slides over 1-minute buckets", () => {
    const { cost, clock } = model();
    cost.recordSamples("acme", 1e7); // minute 0
    clock.advance(30 * 60_000);
    cost.recordSamples("acme", 2e7); // minute 30
    clock.advance(29 * 60_000);
    expect(cost.rollingHourUsd("acme")).toBeCloseTo(2.7, 9);
    clock.advance(60_000); // minute 60: minute 0's bucket left the hour
    expect(cost.rollingHourUsd("acme")).toBeCloseTo(1.8, 9);
    clock.advance(30 * 60_000);
    expect(cost.rollingHourUsd("acme")).toBe(0);
    expect(cost.totalUsd("acme")).toBeCloseTo(2.7, 9);
  });

  test("the billing window resets at 00:00 UTC; total and rolling hour do not", () => {
    const { cost, clock } = model({}, "2026-11-10T23:59:00Z");
    cost.recordSamples("acme", 1e7);
    clock.advance(59_999);
    expect(cost.billingDayUsd("acme")).toBeCloseTo(0.9, 12);
    clock.advance(1); // 2026-11-11T00:00:00Z
    expect(cost.billingDayUsd("acme")).toBe(0);
    expect(cost.rollingHourUsd("acme")).toBeCloseTo(0.9, 12);
    cost.recordSamples("acme", 1e7);
    expect(cost.billingDayUsd("acme")).toBeCloseTo(0.9, 12);
    expect(cost.totalUsd("acme")).toBeCloseTo(1.8, 12);
  });

  test("tiers apply to the tenant's cumulative samples of the UTC month and restart with the next", () => {
    const { cost, clock } = model({}, "2026-11-30T23:00:00Z");
    cost.recordSamples("big", 2e9); // fills the first tier: $180
    cost.recordSamples("big", 1e7); // second tier
    cost.recordSamples("small", 1e7); // tiers are per tenant
    expect(cost.totalUsd("big")).toBeCloseTo(180.35, 6);
    expect(cost.totalUsd("small")).toBeCloseTo(0.9, 9);
    clock.advance(3_600_000); // 2026-12-01T00:00:00Z
    expect(cost.monthUsd("big")).toBe(0);
    cost.recordSamples("big", 1e7);
    expect(cost.monthUsd("big")).toBeCloseTo(0.9, 9);
  });

  test("series-hours are charged at the configured price", () => {
    const { cost, clock } = model({ ingestTiers: [{ upToSamples: null, usdPer10M: 0 }], storageUsdPerGbMonth: 0, seriesHourUsd: 0.001 });
    cost.accrue("acme", 1000);
    clock.advance(1_800_000);
    cost.accrue("acme", 1000);
    clock.advance(1_800_000);
    cost.accrue("acme", 3000);
    expect(cost.totalUsd("acme")).toBeCloseTo(0.5 + 1.5, 9);
  });

  test("storage is charged per GB-month of what this hub forwarded within the retention", () => {
    const { cost, clock } = model({ ingestTiers: [{ upToSamples: null, usdPer10M: 0 }], retentionDays: 2 }, "2026-11-10T00:00:00Z");
    cost.recordSamples("acme", 2 ** 29); // 1 GiB at 2 bytes a sample
    cost.accrue("acme", 0);
    clock.advance(24 * 3_600_000);
    cost.accrue("acme", 0);
    const oneDay = (0.03 * 24) / 730.5;
    expect(cost.totalUsd("acme")).toBeCloseTo(oneDay, 12);
    clock.advance(24 * 3_600_000); // day 2: still stored
    cost.accrue("acme", 0);
    clock.advance(24 * 3_600_000); // day 3: out of the 2-day retention, nothing stored
    cost.accrue("acme", 0);
    expect(cost.totalUsd("acme")).toBeCloseTo(2 * oneDay, 12);
  });

  test("the hourly rate covers only the part of the hour the tenant was known", () => {
    const { cost, clock } = model();
    for (let m = 0; m < 10; m++) {
      cost.recordSamples("acme", 1e6); // $0.09 a minute
      clock.advance(60_000);
    }
    expect(cost.hourlyRateUsd("acme")).toBeCloseTo(0.09 * 60, 6);
  });

  test("exports three families with currency and window labels, folding tenants that share a label", () => {
    const { cost } = model();
    cost.recordSamples("a", 1e7);
    cost.recordSamples("b", 1e7);
    cost.recordSamples("c", 1e7);
    const families = cost.families((t) => (t === "a" ? "a" : "__overflow__"));
    expect(families.map((f) => f.name)).toEqual(["tenant_cost_estimate", "tenant_cost_estimate_rolling", "tenant_cost_billing_window"]);
    expect(families[0].samples).toEqual([
      { labels: [["currency", "USD"], ["tenant", "a"], ["window", "total"]], value: expect.closeTo(0.9, 9) },
      { labels: [["currency", "USD"], ["tenant", "__overflow__"], ["window", "total"]], value: expect.closeTo(1.8, 9) },
    ]);
    expect(families[1].samples[0].labels).toContainEqual(["window", "1h"]);
    expect(families[2].samples[0].labels).toContainEqual(["window", "day"]);
  });
});
