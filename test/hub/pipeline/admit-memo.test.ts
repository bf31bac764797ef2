/**
 * TenantRuntime.admitSeries with the series cache's memo: a series a tenant admitted less than
 * 30 s ago is "known" without a table lookup; everything the tracker decides is unchanged.
 */
import { describe, expect, test } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { silentLogger } from "../../../agent/core/deps";
import { defaultHubConfig, DEFAULT_TENANT_LIMITS, type HubConfig } from "../../../hub/config/hub-config";
import { createTenantFleet, type AdmitMemo } from "../../../hub/pipeline/tenant-runtime";

function fleet(activeSeries = 1000) {
  const config: HubConfig = {
    ...defaultHubConfig(),
    tenants: ["a", "b"].map((id) => ({ id, tokenHashes: [], upstreams: ["u"], limits: { ...DEFAULT_TENANT_LIMITS, activeSeries } })),
  };
  const clock = fakeClock(1_764_000_000_000);
  const f = createTenantFleet(config, { clock, log: silentLogger });
  if (!f.ok) throw new Error(f.error);
  const sec = () => Math.floor(clock.monoMs() / 1000);
  return { f: f.value, clock, sec, a: f.value.byId.get("a")!, b: f.value.byId.get("b")! };
}

const memo = (): AdmitMemo => ({ memoOwner: undefined, memoSec: 0 });
const activeOf = (f: ReturnType<typeof fleet>["f"], id: string) => (f.status() as { id: string; activeSeries: number }[]).find((t) => t.id === id)!.activeSeries;

describe("admission memo", () => {
  test("new, then known from the memo; another tenant's memo is not trusted", () => {
    const { f, sec, a, b } = fleet();
    const m = memo();
    expect(a.admitSeries(1, 11, sec(), m)).toBe("new");
    expect(m.memoOwner).toBeDefined();
    expect(a.admitSeries(1, 11, sec(), m)).toBe("known");
    // Tenant b has its own tracker: the same series is new for it, and counted there.
    expect(b.admitSeries(1, 11, sec(), m)).toBe("new");
    expect(b.admitSeries(1, 11, sec(), m)).toBe("known");
    expect(activeOf(f, "a")).toBe(1);
    expect(activeOf(f, "b")).toBe(1);
  });

  test("a series idle past the window is new again, memo or not", () => {
    const { clock, sec, a } = fleet();
    const m = memo();
    expect(a.admitSeries(2, 22, sec(), m)).toBe("new");
    clock.advance(1201 * 1000); // idleWindowSec 1200
    expect(a.admitSeries(2, 22, sec(), m)).toBe("new");
  });

  test("the memo lasts under 30 s; refreshed admissions keep a steadily written series known for good", () => {
    const { f, clock, sec, a } = fleet();
    const m = memo();
    expect(a.admitSeries(3, 33, sec(), m)).toBe("new");
    // A sender every 10 s for an hour: always known, one active series.
    for (let i = 0; i < 360; i++) {
      clock.advance(10_000);
      expect(a.admitSeries(3, 33, sec(), m)).toBe("known");
    }
    expect(activeOf(f, "a")).toBe(1);
  });

  test("over the quota: refused, and the memo does not make a refused series known", () => {
    const { sec, a } = fleet(1);
    expect(a.admitSeries(4, 44, sec(), memo())).toBe("new");
    const m = memo();
    expect(a.admitSeries(5, 55, sec(), m)).toBe("over_limit");
    expect(m.memoOwner).toBeUndefined();
    expect(a.admitSeries(5, 55, sec(), m)).toBe("over_limit");
  });
});
