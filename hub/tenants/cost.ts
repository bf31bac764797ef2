/**
 * Per-tenant cost estimate of what the hub forwards, in USD, from the price list in
 * cost-config.ts (defaults: AMP's). Three windows, each a metric with currency="USD":
 *
 *   tenant_cost_estimate{window="total"}            since the hub first saw the tenant (kept across restarts)
 *   tenant_cost_estimate_rolling{window="1h"}       the last hour, sliding over 1-minute buckets
 *   tenant_cost_billing_window{window="day"}        the current UTC day; resets at 00:00 UTC
 *
 * What is charged:
 * - ingestion, on the hot path (recordSamples): tiered on the tenant's cumulative samples of the
 *   current UTC month, as AMP bills a month;
 * - storage and series-hours, accrued by accrue(tenant, activeSeries), which the hub calls
 *   periodically (every few seconds): GB stored × price per GB-month × hours elapsed / hours in
 *   a month, where GB stored = samples this hub forwarded within the last `retentionDays` ×
 *   `storedBytesPerSample`; plus active series × `seriesHourUsd` × hours elapsed.
 *
 * State lives in memory; snapshot(tenant) / restore(tenant, snapshot) carry it across a restart
 * (hub/pipeline/tenant-runtime.ts keeps the snapshots in `<dataDir>/tenant-cost.json`). restore()
 * rolls the restored buckets to now as if the hub had run through the gap: minutes older than an
 * hour, a past UTC day and a past UTC month are emptied, samples past retention leave storage;
 * the total is kept. Time is the wall clock, since the windows are calendar windows.
 */
import type { Clock } from "../../agent/core/deps";
import type { SelfFamily } from "../../agent/admin/prom-text";
import { ingestUsd, type ResolvedCostConfig } from "./cost-config";

export interface CostModel {
  /** Charges `samples` ingested samples to `tenant` (hot path). */
  recordSamples(tenant: string, samples: number): void;
  /** Accrues storage and series-hours for the time since the tenant's previous accrual. */
  accrue(tenant: string, activeSeries: number): void;
  totalUsd(tenant: string): number;
  rollingHourUsd(tenant: string): number;
  billingDayUsd(tenant: string): number;
  /** Spent in the current UTC month (since the hub first saw the tenant, if that was later). */
  monthUsd(tenant: string): number;
  /**
   * Spend rate in USD/hour over the last hour: the rolling hour's cost divided by the part of
   * the hour the tenant was known (at least one minute), so a tenant seen 10 minutes ago is not
   * taken to spend at a sixth of its rate.
   */
  hourlyRateUsd(tenant: string): number;
  tenants(): IterableIterator<string>;
  /** The tenant's state, rolled to now, as plain JSON-able data; undefined for an unknown tenant. */
  snapshot(tenant: string): TenantCostSnapshot | undefined;
  /** Replaces the tenant's state with a snapshot (check it with describeInvalidCostSnapshot first). */
  restore(tenant: string, snapshot: TenantCostSnapshot): void;
  /** The three cost families; tenants that share a label (labelFor) are summed. */
  families(labelFor?: (tenant: string) => string): SelfFamily[];
}

/** What survives a restart for one tenant. Minutes and days are `ms / 60,000` and `ms / 86,400,000`, floored. */
export interface TenantCostSnapshot {
  totalUsd: number;
  /** UTC year × 12 + month (0-based) of monthSamples and monthUsd. */
  monthKey: number;
  monthSamples: number;
  monthUsd: number;
  /** The UTC day of dayUsd (the billing window). */
  day: number;
  dayUsd: number;
  /** The newest rolling-hour minute; minuteUsd[m % 60] is minute m's cost. */
  minute: number;
  minuteUsd: number[];
  /** Samples forwarded per UTC day within the retention, as [day, samples], days without samples left out. */
  storedDays: [number, number][];
  firstSeenMs: number;
  lastAccrualMs: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const ROLLING_MINUTES = 60;
/** Hours in an average month (365.25 × 24 / 12), AMP's GB-month proration unit. */
const HOURS_PER_MONTH = 730.5;
const GIB = 2 ** 30;

interface TenantCost {
  totalUsd: number;
  monthKey: number;
  monthSamples: number;
  monthUsd: number;
  dayUsd: number;
  /** USD per minute of the last hour, indexed by minute % 60. */
  readonly minuteUsd: Float64Array;
  /** Samples forwarded per UTC day within the retention, indexed by day % retentionDays. */
  readonly daySamples: Float64Array;
  storedSamples: number;
  /** The minute and day the buckets were last advanced to. */
  minute: number;
  day: number;
  firstSeenMs: number;
  lastAccrualMs: number;
}

export function createCostModel(config: ResolvedCostConfig, clock: Clock): CostModel {
  const tenants = new Map<string, TenantCost>();
  const retention = config.retentionDays;
  const storageUsdPerSampleHour = (config.storedBytesPerSample / GIB) * (config.storageUsdPerGbMonth / HOURS_PER_MONTH);

  const stateOf = (tenant: string, now: number): TenantCost => {
    let s = tenants.get(tenant);
    if (s === undefined) {
      s = {
        totalUsd: 0,
        monthKey: monthKeyOf(now),
        monthSamples: 0,
        monthUsd: 0,
        dayUsd: 0,
        minuteUsd: new Float64Array(ROLLING_MINUTES),
        daySamples: new Float64Array(retention),
        storedSamples: 0,
        minute: Math.floor(now / MINUTE_MS),
        day: Math.floor(now / DAY_MS),
        firstSeenMs: now,
        lastAccrualMs: now,
      };
      tenants.set(tenant, s);
    }
    return s;
  };

  /** Moves the tenant's buckets to `now`: empties minutes, days and months that ended. */
  const roll = (s: TenantCost, now: number) => {
    const minute = Math.floor(now / MINUTE_MS);
    if (minute > s.minute) {
      const ended = Math.min(minute - s.minute, ROLLING_MINUTES);
      for (let k = 1; k <= ended; k++) s.minuteUsd[(s.minute + k) % ROLLING_MINUTES] = 0;
      s.minute = minute;
    }
    const day = Math.floor(now / DAY_MS);
    if (day > s.day) {
      s.dayUsd = 0;
      const ended = Math.min(day - s.day, retention);
      for (let k = 1; k <= ended; k++) {
        const slot = (s.day + k) % retention;
        s.storedSamples -= s.daySamples[slot];
        s.daySamples[slot] = 0;
      }
      s.day = day;
      const monthKey = monthKeyOf(now);
      if (monthKey !== s.monthKey) {
        s.monthKey = monthKey;
        s.monthSamples = 0;
        s.monthUsd = 0;
      }
    }
  };

  const charge = (s: TenantCost, usd: number) => {
    s.totalUsd += usd;
    s.monthUsd += usd;
    s.dayUsd += usd;
    s.minuteUsd[s.minute % ROLLING_MINUTES] += usd;
  };

  const read = (tenant: string): TenantCost | undefined => {
    const s = tenants.get(tenant);
    if (s !== undefined) roll(s, clock.nowMs());
    return s;
  };

  const rollingHourOf = (s: TenantCost) => {
    let sum = 0;
    for (let k = 0; k < ROLLING_MINUTES; k++) sum += s.minuteUsd[k];
    return sum;
  };

  return {
    recordSamples(tenant, samples) {
      const now = clock.nowMs();
      const s = stateOf(tenant, now);
      roll(s, now);
      const usd = ingestUsd(config.ingestTiers, s.monthSamples, samples);
      s.monthSamples += samples;
      s.storedSamples += samples;
      s.daySamples[s.day % retention] += samples;
      charge(s, usd);
    },
    accrue(tenant, activeSeries) {
      const now = clock.nowMs();
      const s = stateOf(tenant, now);
      const hours = Math.max(0, now - s.lastAccrualMs) / HOUR_MS;
      s.lastAccrualMs = now;
      // Priced at what was stored during the interval, before samples past retention leave.
      const usd = hours * (activeSeries * config.seriesHourUsd + s.storedSamples * storageUsdPerSampleHour);
      roll(s, now);
      if (usd > 0) charge(s, usd);
    },
    totalUsd: (tenant) => read(tenant)?.totalUsd ?? 0,
    rollingHourUsd(tenant) {
      const s = read(tenant);
      return s === undefined ? 0 : rollingHourOf(s);
    },
    billingDayUsd: (tenant) => read(tenant)?.dayUsd ?? 0,
    monthUsd: (tenant) => read(tenant)?.monthUsd ?? 0,
    hourlyRateUsd(tenant) {
      const s = read(tenant);
      if (s === undefined) return 0;
      const knownHours = Math.min(1, Math.max(1 / 60, (clock.nowMs() - s.firstSeenMs) / HOUR_MS));
      return rollingHourOf(s) / knownHours;
    },
    tenants: () => tenants.keys(),
    snapshot(tenant) {
      const s = read(tenant);
      if (s === undefined) return undefined;
      const storedDays: [number, number][] = [];
      for (let d = Math.max(0, s.day - retention + 1); d <= s.day; d++) {
        const samples = s.daySamples[d % retention];
        if (samples > 0) storedDays.push([d, samples]);
      }
      const { totalUsd, monthKey, monthSamples, monthUsd, day, dayUsd, minute, firstSeenMs, lastAccrualMs } = s;
      return { totalUsd, monthKey, monthSamples, monthUsd, day, dayUsd, minute, minuteUsd: [...s.minuteUsd], storedDays, firstSeenMs, lastAccrualMs };
    },
    restore(tenant, snap) {
      const s = stateOf(tenant, clock.nowMs());
      Object.assign(s, {
        totalUsd: snap.totalUsd,
        monthKey: snap.monthKey,
        monthSamples: snap.monthSamples,
        monthUsd: snap.monthUsd,
        day: snap.day,
        dayUsd: snap.dayUsd,
        minute: snap.minute,
        storedSamples: 0,
        firstSeenMs: snap.firstSeenMs,
        lastAccrualMs: snap.lastAccrualMs,
      });
      s.minuteUsd.set(snap.minuteUsd);
      s.daySamples.fill(0);
      // Days outside the retention as it is configured now (it may have changed) are left out.
      for (const [d, samples] of snap.storedDays) {
        if (d > snap.day - retention && d <= snap.day) {
          s.daySamples[d % retention] += samples;
          s.storedSamples += samples;
        }
      }
      roll(s, clock.nowMs());
    },
    families(labelFor = (t) => t) {
      const total = new Map<string, number>();
      const hour = new Map<string, number>();
      const day = new Map<string, number>();
      const now = clock.nowMs();
      for (const [tenant, s] of tenants) {
        roll(s, now);
        const label = labelFor(tenant);
        total.set(label, (total.get(label) ?? 0) + s.totalUsd);
        hour.set(label, (hour.get(label) ?? 0) + rollingHourOf(s));
        day.set(label, (day.get(label) ?? 0) + s.dayUsd);
      }
      return [
        family("tenant_cost_estimate", "Estimated upstream cost of the tenant's data since the hub first saw the tenant (kept in the data dir across restarts).", total, "total"),
        family("tenant_cost_estimate_rolling", "Estimated upstream cost of the tenant's data over the last hour (1-minute buckets).", hour, "1h"),
        family("tenant_cost_billing_window", "Estimated upstream cost of the tenant's data in the current UTC day.", day, "day"),
      ];
    },
  };
}

function family(name: string, help: string, byTenant: Map<string, number>, window: string): SelfFamily {
  const samples = [...byTenant].map(([tenant, value]) => ({
    labels: [
      ["currency", "USD"],
      ["tenant", tenant],
      ["window", window],
    ] as [string, string][],
    value,
  }));
  return { name, help, type: "gauge", samples };
}

/** Months since year 0 of the UTC date at `ms`: equal for two instants of the same UTC month. */
function monthKeyOf(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Why `x` is not a TenantCostSnapshot (a damaged or foreign file), or undefined when it is one. */
export function describeInvalidCostSnapshot(x: unknown): string | undefined {
  if (x === null || typeof x !== "object") return "not an object";
  const s = x as Record<string, unknown>;
  for (const f of ["totalUsd", "monthSamples", "monthUsd", "dayUsd", "firstSeenMs", "lastAccrualMs"]) {
    if (!isNonNegative(s[f])) return `${f} is not a non-negative number (got ${JSON.stringify(s[f])})`;
  }
  for (const f of ["monthKey", "day", "minute"]) {
    if (!Number.isInteger(s[f]) || (s[f] as number) < 0) return `${f} is not a whole non-negative number (got ${JSON.stringify(s[f])})`;
  }
  if (monthKeyOf((s.day as number) * DAY_MS) !== s.monthKey) return `monthKey ${s.monthKey} is not the month of day ${s.day}`;
  if (!Array.isArray(s.minuteUsd) || s.minuteUsd.length !== ROLLING_MINUTES || !s.minuteUsd.every(isNonNegative)) {
    return `minuteUsd is not ${ROLLING_MINUTES} non-negative numbers`;
  }
  if (!Array.isArray(s.storedDays) || !s.storedDays.every((p) => Array.isArray(p) && p.length === 2 && Number.isInteger(p[0]) && isNonNegative(p[1]))) {
    return "storedDays is not a list of [day, samples] pairs";
  }
  return undefined;
}

const isNonNegative = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v) && v >= 0;
