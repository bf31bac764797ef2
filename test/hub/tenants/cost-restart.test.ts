/**
 * Cost and budget state across a hub restart: the cost model's snapshot/restore, the guard's
 * restored "previous" states, and the fleet's `<dataDir>/tenant-cost.json` (load, save, bad files).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { fakeClock, type Clock } from "../../../agent/core/deps";
import { createLogger } from "../../../agent/core/log";
import { nodeQueueFs, type QueueFs } from "../../../agent/queue/queue-fs";
import { defaultHubConfig, DEFAULT_TENANT_LIMITS, type HubConfig } from "../../../hub/config/hub-config";
import { COST_STATE_FILE, createTenantFleet, type TenantFleet } from "../../../hub/pipeline/tenant-runtime";
import { createBudgetGuard, parseBudgetGuardConfig } from "../../../hub/tenants/budget-guard";
import { createCostModel, describeInvalidCostSnapshot } from "../../../hub/tenants/cost";
import { COST_DEFAULTS, parseCostConfig } from "../../../hub/tenants/cost-config";

const at = (iso: string) => Date.parse(iso);

function capturingLog() {
  const lines: string[] = [];
  return { lines, log: createLogger("debug", (l) => lines.push(l)) };
}

describe("cost model snapshot / restore", () => {
  test("a restored model continues every window and the month's tier position", () => {
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    const before = createCostModel(COST_DEFAULTS, clock);
    before.recordSamples("acme", 1.9e9); // $171, first tier
    clock.advance(10 * 60_000);
    before.accrue("acme", 0);
    const snap = before.snapshot("acme")!;
    expect(describeInvalidCostSnapshot(JSON.parse(JSON.stringify(snap)))).toBeUndefined();

    clock.advance(20_000); // the restart
    const after = createCostModel(COST_DEFAULTS, clock);
    after.restore("acme", JSON.parse(JSON.stringify(snap)));
    for (const read of ["totalUsd", "monthUsd", "billingDayUsd", "rollingHourUsd", "hourlyRateUsd"] as const) {
      expect(after[read]("acme")).toBeCloseTo(before[read]("acme"), 9);
    }
    // 2e8 more samples straddle the first two tiers only because monthSamples came back.
    after.recordSamples("acme", 2e8);
    expect(after.monthUsd("acme") - before.monthUsd("acme")).toBeCloseTo(9 + 3.5, 9);
    // Storage keeps accruing on the samples still stored: the same as a model that never stopped.
    clock.advance(3_600_000);
    before.recordSamples("acme", 2e8);
    before.accrue("acme", 0);
    after.accrue("acme", 0);
    expect(after.totalUsd("acme")).toBeCloseTo(before.totalUsd("acme"), 9);
  });

  test("restoring into the next day empties the day window and keeps the month; an hour later the rolling hour is empty", () => {
    const clock = fakeClock(at("2026-11-10T23:50:00Z"));
    const before = createCostModel(COST_DEFAULTS, clock);
    before.recordSamples("acme", 1e7);
    const snap = before.snapshot("acme")!;
    clock.advance(20 * 60_000); // 00:10 the next day
    const after = createCostModel(COST_DEFAULTS, clock);
    after.restore("acme", snap);
    expect(after.billingDayUsd("acme")).toBe(0);
    expect(after.monthUsd("acme")).toBeCloseTo(0.9, 12);
    expect(after.rollingHourUsd("acme")).toBeCloseTo(0.9, 12);
    clock.advance(3_600_000);
    expect(after.rollingHourUsd("acme")).toBe(0);
    expect(after.totalUsd("acme")).toBeCloseTo(0.9, 12);
  });

  test("restoring into the next month starts the month (and its tiers) from zero; the total is kept", () => {
    const clock = fakeClock(at("2026-11-30T23:00:00Z"));
    const before = createCostModel(COST_DEFAULTS, clock);
    before.recordSamples("acme", 3e9);
    const snap = before.snapshot("acme")!;
    clock.advance(2 * 3_600_000);
    const after = createCostModel(COST_DEFAULTS, clock);
    after.restore("acme", snap);
    expect(after.monthUsd("acme")).toBe(0);
    expect(after.totalUsd("acme")).toBeCloseTo(before.totalUsd("acme"), 9);
    after.recordSamples("acme", 1e7);
    expect(after.monthUsd("acme")).toBeCloseTo(0.9, 12); // first tier again
  });

  test("samples stored longer ago than the (new, shorter) retention are dropped on restore", () => {
    const clock = fakeClock(at("2026-11-01T12:00:00Z"));
    const before = createCostModel(COST_DEFAULTS, clock);
    before.recordSamples("acme", 1e9);
    clock.advance(10 * 86_400_000);
    before.recordSamples("acme", 1e6);
    const snap = before.snapshot("acme")!;
    expect(snap.storedDays.map(([, n]) => n)).toEqual([1e9, 1e6]);
    const short = parseCostConfig({ retentionDays: 5, seriesHourUsd: 0 });
    if (!short.ok) throw new Error(short.error.message);
    const after = createCostModel(short.value, clock);
    after.restore("acme", snap);
    expect(after.snapshot("acme")!.storedDays.map(([, n]) => n)).toEqual([1e6]);
  });

  test.each([
    [{ totalUsd: -1 }, /totalUsd is not a non-negative number/],
    [{ monthUsd: "12" }, /monthUsd is not a non-negative number/],
    [{ day: 1.5 }, /day is not a whole/],
    [{ monthKey: 1 }, /monthKey 1 is not the month of day/],
    [{ minuteUsd: [1, 2] }, /minuteUsd is not 60/],
    [{ storedDays: [[1]] }, /storedDays is not a list/],
  ])("a damaged snapshot is described: %j", (patch, message) => {
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    const cost = createCostModel(COST_DEFAULTS, clock);
    cost.recordSamples("acme", 1);
    expect(describeInvalidCostSnapshot({ ...cost.snapshot("acme"), ...patch })).toMatch(message);
  });
});

describe("budget guard after a restart", () => {
  test("restored previous states silence an unchanged state and log a real change", () => {
    const clock = fakeClock(at("2026-11-10T00:00:00Z"));
    const { lines, log } = capturingLog();
    const config = parseBudgetGuardConfig({ monthlyUsd: { over: 10, back: 10 } });
    if (!config.ok) throw new Error(config.error.message);
    const spend = { monthUsd: (t: string) => (t === "over" ? 20 : 1), hourlyRateUsd: () => 0, tenants: () => ["over", "back"] };
    const guard = createBudgetGuard(config.value, { clock, log, spend });
    guard.restorePrevious([
      ["over", "throttled"],
      ["back", "throttled"],
    ]);
    expect(guard.verdictOf("over")).toBeUndefined(); // no verdict before evaluate()
    guard.evaluate();
    expect(guard.verdictOf("over")?.state).toBe("throttled");
    expect(guard.verdictOf("back")?.state).toBe("ok");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/tenant=back from=throttled to=ok /);
  });
});

describe("tenant fleet: tenant-cost.json in the data dir", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function hubConfig(dataDir: string, tenants: Record<string, number | null>): HubConfig {
    const c = defaultHubConfig();
    c.dataDir = dataDir;
    c.tenants = Object.entries(tenants).map(([id, monthlyUsd]) => ({
      id,
      tokenHashes: [],
      upstreams: ["prom"],
      limits: { ...DEFAULT_TENANT_LIMITS },
      ...(monthlyUsd === null ? {} : { budget: { monthlyUsd } }),
    }));
    return c;
  }

  function fleetOf(config: HubConfig, clock: Clock, fs?: QueueFs) {
    const { lines, log } = capturingLog();
    const made = createTenantFleet(config, { clock, log, fs });
    if (!made.ok) throw new Error(made.error);
    return { fleet: made.value, lines };
  }

  function newDir(): string {
    const d = mkdtempSync(join(tmpdir(), "hub-cost-state-"));
    dirs.push(d);
    return d;
  }

  const status = (fleet: TenantFleet, id: string) =>
    (fleet.status() as { id: string; costUsd: { total: number; lastHour: number; today: number }; budget: { state: string } | null }[]).find((t) => t.id === id)!;

  test("spend accrues, is saved, and a new fleet on the same data dir continues it and stays throttled", async () => {
    const dir = newDir();
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    const config = hubConfig(dir, { thrifty: 1, free: null });
    const first = fleetOf(config, clock);
    first.fleet.loadCost(); // no file yet: nothing logged
    expect(first.lines).toEqual([]);
    // $0.09/minute for 10 minutes: $0.9 spent, ~$5.4/h → projected far over $1.
    for (let m = 0; m < 10; m++) {
      first.fleet.byId.get("thrifty")!.recordWritten(1e6, 0);
      first.fleet.byId.get("free")!.recordWritten(1e5, 0);
      clock.advance(60_000);
      first.fleet.evaluate();
      await first.fleet.saveCost();
    }
    expect(first.fleet.byId.get("thrifty")!.budgetThrottled()).toBe(true);
    expect(first.lines.filter((l) => l.includes("Throttling"))).toHaveLength(1);
    const saved = status(first.fleet, "thrifty").costUsd;
    expect(saved.total).toBeCloseTo(0.9, 5); // + a little storage
    expect(existsSync(join(dir, COST_STATE_FILE))).toBe(true);
    expect(existsSync(join(dir, COST_STATE_FILE + ".tmp"))).toBe(false);

    clock.advance(15_000); // kill -9 after the last save, restart 15 s later
    const second = fleetOf(config, clock);
    expect(second.fleet.byId.get("thrifty")!.budgetThrottled()).toBe(false); // before loadCost: a fresh hub
    second.fleet.loadCost();
    expect(second.fleet.byId.get("thrifty")!.budgetThrottled()).toBe(true);
    const restored = status(second.fleet, "thrifty").costUsd; // + 15 s of storage for the downtime
    for (const w of ["total", "lastHour", "today"] as const) expect(restored[w]).toBeCloseTo(saved[w], 7);
    expect(status(second.fleet, "free").costUsd.total).toBeCloseTo(0.09, 5);
    expect(status(second.fleet, "free").budget).toBeNull();
    // The state did not change across the restart, so no second "Throttling" line.
    expect(second.lines).toHaveLength(1);
    expect(second.lines[0]).toMatch(/level=info msg="Restored tenant cost state\." .* saved_s_ago=15 tenants=2 throttled=thrifty/);
    // And it keeps counting from there.
    second.fleet.byId.get("thrifty")!.recordWritten(1e6, 0);
    expect(status(second.fleet, "thrifty").costUsd.total).toBeCloseTo(restored.total + 0.09, 9);
  });

  test("a new month starts the budget from zero: the tenant is no longer throttled; the total is kept", async () => {
    const dir = newDir();
    const clock = fakeClock(at("2026-11-30T23:30:00Z"));
    const config = hubConfig(dir, { thrifty: 1 });
    const first = fleetOf(config, clock);
    first.fleet.byId.get("thrifty")!.recordWritten(2e7, 0); // $1.80 > $1
    first.fleet.evaluate();
    expect(first.fleet.byId.get("thrifty")!.budgetThrottled()).toBe(true);
    await first.fleet.saveCost();

    clock.advance(2 * 3_600_000); // 2026-12-01T01:30Z
    const second = fleetOf(config, clock);
    second.fleet.loadCost();
    expect(second.fleet.byId.get("thrifty")!.budgetThrottled()).toBe(false);
    // Only the storage of the 2 h the hub was down (the store billed it meanwhile) is in the new day.
    const after = status(second.fleet, "thrifty").costUsd;
    expect(after.today).toBeLessThan(1e-5);
    expect(after.lastHour).toBe(after.today);
    expect(after.total).toBeCloseTo(1.8, 5);
    expect(second.lines.some((l) => /tenant=thrifty from=throttled to=ok/.test(l))).toBe(true);
  });

  test.each([
    ["not JSON", "{ this is not json"],
    ["an unknown version", JSON.stringify({ version: 99, savedAtMs: 0, tenants: {} })],
    ["a damaged tenant", JSON.stringify({ version: 1, savedAtMs: 0, tenants: { thrifty: { totalUsd: "lots" } } })],
    ["JSON null", "null"],
  ])("a corrupt file (%s) is set aside with a warning; the fleet starts from zero and saves again", async (_name, text) => {
    const dir = newDir();
    writeFileSync(join(dir, COST_STATE_FILE), text);
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    const { fleet, lines } = fleetOf(hubConfig(dir, { thrifty: 1 }), clock);
    expect(() => fleet.loadCost()).not.toThrow();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/level=warn msg="Ignoring the saved tenant cost state; cost estimates and budgets start from zero\." .*moved_to=.*tenant-cost\.json\.corrupt-/);
    expect(status(fleet, "thrifty").costUsd.total).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes(".corrupt-"))).toHaveLength(1);
    await fleet.saveCost();
    expect(JSON.parse(readFileSync(join(dir, COST_STATE_FILE), "utf8")).version).toBe(1);
  });

  test("tenants no longer configured are ignored on load and left out of the next save", async () => {
    const dir = newDir();
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    const first = fleetOf(hubConfig(dir, { a: null, gone: 1 }), clock);
    first.fleet.byId.get("a")!.recordWritten(1e7, 0);
    first.fleet.byId.get("gone")!.recordWritten(1e8, 0);
    first.fleet.evaluate();
    await first.fleet.saveCost();

    const second = fleetOf(hubConfig(dir, { a: null }), clock);
    second.fleet.loadCost();
    expect(second.lines[0]).toMatch(/tenants=1 ignored_tenants=gone/);
    expect(status(second.fleet, "a").costUsd.total).toBeCloseTo(0.9, 9);
    expect(second.fleet.status()).toHaveLength(1);
    await second.fleet.saveCost();
    expect(Object.keys(JSON.parse(readFileSync(join(dir, COST_STATE_FILE), "utf8")).tenants)).toEqual(["a"]);
  });

  test("a failed save is logged once per failure streak, never thrown, and leaves the previous file", async () => {
    const dir = newDir();
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    let full = false;
    const fs: QueueFs = {
      ...nodeQueueFs,
      open: async (path, mode) => {
        if (full) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        return nodeQueueFs.open(path, mode);
      },
    };
    const { fleet, lines } = fleetOf(hubConfig(dir, { a: 1 }), clock, fs);
    fleet.byId.get("a")!.recordWritten(1e6, 0);
    fleet.evaluate();
    await fleet.saveCost();
    const good = readFileSync(join(dir, COST_STATE_FILE), "utf8");
    full = true;
    fleet.byId.get("a")!.recordWritten(1e6, 0);
    await expect(fleet.saveCost()).resolves.toBeUndefined();
    await fleet.saveCost();
    expect(lines.filter((l) => l.includes("Cannot save tenant cost state"))).toHaveLength(1);
    expect(lines.find((l) => l.includes("Cannot save"))).toMatch(/error="ENOSPC: no space left on device"/);
    expect(readFileSync(join(dir, COST_STATE_FILE), "utf8")).toBe(good);
    full = false;
    await fleet.saveCost();
    expect(lines.filter((l) => l.includes("Saving tenant cost state again"))).toHaveLength(1);
    expect(readFileSync(join(dir, COST_STATE_FILE), "utf8")).not.toBe(good);
  });

  test("saves asked for during a write are joined into one write after it; a leftover .tmp is replaced", async () => {
    const dir = newDir();
    writeFileSync(join(dir, COST_STATE_FILE + ".tmp"), "half a file from a crash");
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    let opens = 0;
    const fs: QueueFs = { ...nodeQueueFs, open: (path, mode) => (opens++, nodeQueueFs.open(path, mode)) };
    const { fleet } = fleetOf(hubConfig(dir, { a: 1 }), clock, fs);
    fleet.byId.get("a")!.recordWritten(1e6, 0);
    const saves = [fleet.saveCost(), fleet.saveCost(), fleet.saveCost(), fleet.saveCost()];
    await Promise.all(saves);
    expect(opens).toBe(2);
    expect(existsSync(join(dir, COST_STATE_FILE + ".tmp"))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, COST_STATE_FILE), "utf8")).tenants.a.monthSamples).toBe(1e6);
  });

  test("file size: under 4 KB per tenant with a full rolling hour and 150 days of stored samples", async () => {
    const dir = newDir();
    const clock = fakeClock(at("2026-11-10T12:00:00Z"));
    const tenants: Record<string, number> = {};
    for (let i = 0; i < 100; i++) tenants[`tenant-${i}`] = 1000;
    const { fleet } = fleetOf(hubConfig(dir, tenants), clock);
    // 150 days with samples, then an hour with a charge every minute: the largest a tenant gets.
    for (let d = 0; d < 150; d++) {
      for (const t of fleet.byId.values()) t.recordWritten(123_456_789, 0);
      clock.advance(86_400_000);
    }
    for (let m = 0; m < 60; m++) {
      for (const t of fleet.byId.values()) t.recordWritten(1_234_567, 0);
      clock.advance(60_000);
    }
    await fleet.saveCost();
    const bytes = statSync(join(dir, COST_STATE_FILE)).size;
    expect(bytes / 100).toBeLessThan(4000);
    console.log(`tenant-cost.json: ${bytes} bytes for 100 tenants (${Math.round(bytes / 100)} B/tenant)`);
  });
});
