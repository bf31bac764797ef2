import { describe, expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { createFairShare, parseFairShareConfig, type FairShare } from "../../../hub/tenants/fair-share";

/** Offers `perSec` samples/s for each tenant, in 10 requests a second, for `seconds`; returns admitted samples per tenant. */
function drive(fair: FairShare, clock: ReturnType<typeof fakeClock>, perSec: Record<string, number>, seconds: number) {
  const admitted: Record<string, number> = {};
  const offered: Record<string, number> = {};
  for (const t of Object.keys(perSec)) admitted[t] = offered[t] = 0;
  for (let tick = 0; tick < seconds * 10; tick++) {
    for (const [tenant, rate] of Object.entries(perSec)) {
      const n = rate / 10;
      offered[tenant] += n;
      const d = fair.admit(tenant, n);
      if (d.admitted) admitted[tenant] += n;
      else expect(d.reason).toBe("fair_share");
    }
    clock.advance(100);
  }
  return { admitted, offered };
}

function fairShare(config: Parameters<typeof parseFairShareConfig>[0], clock = fakeClock()) {
  const parsed = parseFairShareConfig(config);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return { fair: createFairShare(parsed.value, clock), clock };
}

describe("fair share", () => {
  test("a noisy tenant sending 10× the others is throttled while quiet tenants get 100% through", () => {
    const { fair, clock } = fairShare({ capacityPerSec: 10_000 });
    const rates = { quiet1: 1000, quiet2: 1000, quiet3: 1000, quiet4: 1000, noisy: 10_000 };
    drive(fair, clock, rates, 10); // warm-up: demand measured over a full window
    const { admitted, offered } = drive(fair, clock, rates, 60);
    for (const q of ["quiet1", "quiet2", "quiet3", "quiet4"]) expect(admitted[q]).toBe(offered[q]);
    // Water-filling: 4 × 1000 satisfied, the noisy tenant gets the remaining 6000/s.
    expect(fair.shareOf("noisy")).toBeCloseTo(6000);
    expect(fair.shareOf("quiet1")).toBe(Infinity);
    const noisyRate = admitted.noisy / 60;
    expect(noisyRate).toBeGreaterThan(5900);
    expect(noisyRate).toBeLessThan(6200);
    expect(fair.stats()).toMatchObject({ limitedTenants: 1, tenants: 5, capacityPerSec: 10_000 });
  });

  test("nobody is limited while total demand fits the capacity", () => {
    const { fair, clock } = fairShare({ capacityPerSec: 50_000 });
    const rates = { a: 20_000, b: 10_000, c: 1000 };
    const { admitted, offered } = drive(fair, clock, rates, 30);
    expect(admitted).toEqual(offered);
    expect(fair.stats().limitedTenants).toBe(0);
  });

  test("two tenants over their share split what the satisfied ones leave, by weight", () => {
    const { fair, clock } = fairShare({ capacityPerSec: 10_000, weights: { gold: 3 } });
    drive(fair, clock, { small: 1000, gold: 20_000, bronze: 20_000 }, 10);
    // 1000 for small; 9000 split 3:1 between gold and bronze.
    expect(fair.shareOf("small")).toBe(Infinity);
    expect(fair.shareOf("gold")).toBeCloseTo(6750);
    expect(fair.shareOf("bronze")).toBeCloseTo(2250);
  });

  test("a refusal carries a retry-after and the reason, and limits lift when the noise stops", () => {
    const { fair, clock } = fairShare({ capacityPerSec: 1000, demandWindowSec: 2 });
    drive(fair, clock, { quiet: 100, noisy: 5000 }, 5);
    let refusal;
    for (let k = 0; k < 20 && refusal === undefined; k++) {
      const d = fair.admit("noisy", 500);
      if (!d.admitted) refusal = d;
    }
    expect(refusal).toMatchObject({ admitted: false, reason: "fair_share" });
    expect(refusal!.retryAfterMs).toBeGreaterThan(0);
    drive(fair, clock, { quiet: 100, noisy: 100 }, 5);
    expect(fair.shareOf("noisy")).toBe(Infinity);
  });

  test("tenants that went silent for a whole window are forgotten", () => {
    const { fair, clock } = fairShare({ capacityPerSec: 1000, demandWindowSec: 3 });
    drive(fair, clock, { a: 100, b: 100 }, 2);
    drive(fair, clock, { a: 100 }, 5);
    expect(fair.stats().tenants).toBe(1);
    expect(fair.demandOf("b")).toBe(0);
  });
});
