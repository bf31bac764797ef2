/**
 * The hub's own per-tenant counters. Every tenant label goes through `labelFor`, which keeps at
 * most MAX_TENANT_LABELS distinct tenants and folds the rest into `tenant="__overflow__"`, so the
 * hub never explodes its own cardinality however many tenants write to it.
 */
import type { SelfFamily } from "../../agent/admin/prom-text";

export interface TenantLabeler {
  labelFor(tenantId: string): string;
}

type Keyed = Map<string, number>;

function bump(m: Keyed, key: string, n = 1): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

export class HubCounters {
  private seq = 0;
  readonly samplesWritten: Keyed = new Map();
  readonly seriesWritten: Keyed = new Map();
  readonly requests: Keyed = new Map();
  /** tenant \0 reason */
  readonly rejectedRequests: Keyed = new Map();
  /** tenant \0 reason → samples */
  readonly labelRejections: Keyed = new Map();
  readonly seriesQuotaSamples: Keyed = new Map();
  readonly budgetThrottledSamples: Keyed = new Map();
  readonly dedupeHits: Keyed = new Map();
  /** tenant \0 reason → OTLP points stored at the receive time instead of their own */
  readonly restampedPoints: Keyed = new Map();
  /** tenant \0 upstream */
  readonly residencyBlocks: Keyed = new Map();
  /** Requests and dedupe hits in the last minute, in 1 s slots, for ingest_dedupe_rate. */
  private readonly slots = new Float64Array(120);
  private slotSec = -1;

  constructor(
    private readonly labels: TenantLabeler,
    private readonly nowMs: () => number,
  ) {}

  nextSeq(): number {
    return ++this.seq;
  }

  request(tenant: string): void {
    bump(this.requests, this.labels.labelFor(tenant));
    this.tick(0);
  }

  deduplicated(tenant: string): void {
    bump(this.dedupeHits, this.labels.labelFor(tenant));
    this.tick(1);
  }

  requestRejected(tenant: string, reason: string): void {
    bump(this.rejectedRequests, `${this.labels.labelFor(tenant)}\u0000${reason}`);
  }

  written(tenant: string, samples: number, series: number): void {
    const l = this.labels.labelFor(tenant);
    bump(this.samplesWritten, l, samples);
    bump(this.seriesWritten, l, series);
  }

  labelRejected(tenant: string, reason: string, samples: number): void {
    bump(this.labelRejections, `${this.labels.labelFor(tenant)}\u0000${reason}`, samples);
  }

  seriesQuotaRejected(tenant: string, samples: number): void {
    bump(this.seriesQuotaSamples, this.labels.labelFor(tenant), samples);
  }

  budgetThrottled(tenant: string, samples: number): void {
    bump(this.budgetThrottledSamples, this.labels.labelFor(tenant), samples);
  }

  pointsRestamped(tenant: string, reason: string, points: number): void {
    bump(this.restampedPoints, `${this.labels.labelFor(tenant)}\u0000${reason}`, points);
  }

  residencyBlocked(tenant: string, upstream: string): void {
    bump(this.residencyBlocks, `${this.labels.labelFor(tenant)}\u0000${upstream}`);
  }

  /** Share of write requests in the last 60 s answered from the dedupe window. */
  dedupeRate(): number {
    this.advance();
    let req = 0;
    let hits = 0;
    for (let i = 0; i < 60; i++) {
      req += this.slots[i * 2];
      hits += this.slots[i * 2 + 1];
    }
    return req === 0 ? 0 : hits / req;
  }

  private tick(kind: 0 | 1): void {
    const i = this.advance();
    this.slots[i * 2 + kind]++;
    // A dedupe hit is also a request.
    if (kind === 1) this.slots[i * 2]++;
  }

  private advance(): number {
    const sec = Math.floor(this.nowMs() / 1000);
    if (this.slotSec < 0) this.slotSec = sec;
    while (this.slotSec < sec) {
      this.slotSec++;
      const i = this.slotSec % 60;
      this.slots[i * 2] = 0;
      this.slots[i * 2 + 1] = 0;
      if (sec - this.slotSec > 60) this.slotSec = sec - 60;
    }
    return sec % 60;
  }

  families(): SelfFamily[] {
    const byTenant = (m: Keyed) => [...m].map(([tenant, value]) => ({ labels: [["tenant", tenant]] as [string, string][], value }));
    const byTenantAnd = (m: Keyed, second: string) =>
      [...m].map(([key, value]) => {
        const [tenant, other] = key.split("\u0000");
        return { labels: [["tenant", tenant], [second, other]] as [string, string][], value };
      });
    return [
      { name: "hub_requests_total", help: "Write requests received, by tenant (after authentication).", type: "counter", samples: byTenant(this.requests) },
      { name: "hub_requests_rejected_total", help: "Write requests answered with an error, by tenant and reason.", type: "counter", samples: byTenantAnd(this.rejectedRequests, "reason") },
      { name: "tenant_samples_ingested_total", help: "Samples (float and histogram) made durable for the upstream, by tenant.", type: "counter", samples: byTenant(this.samplesWritten) },
      { name: "tenant_label_rejections_total", help: "Samples of series refused by the hub's label policy, by tenant and reason.", type: "counter", samples: byTenantAnd(this.labelRejections, "reason") },
      { name: "tenant_series_quota_rejected_samples_total", help: "Samples of new series dropped because the tenant is at its active series quota.", type: "counter", samples: byTenant(this.seriesQuotaSamples) },
      { name: "tenant_budget_throttled_samples_total", help: "Non-critical samples dropped while the tenant's budget guard throttles it.", type: "counter", samples: byTenant(this.budgetThrottledSamples) },
      { name: "ingest_dedupe_hits_total", help: "Retried batches (same X-Edge-Agent-Batch-Id) answered 2xx without writing them again.", type: "counter", samples: byTenant(this.dedupeHits) },
      { name: "ingest_dedupe_rate", help: "Share of write requests in the last 60 s that were duplicates of a stored batch.", type: "gauge", samples: [{ labels: [], value: this.dedupeRate() }] },
      {
        name: "hub_otlp_points_restamped_total",
        help: "OTLP points stored at the hub's receive time instead of their own (reason future_timestamp: more than 10 min ahead).",
        type: "counter",
        samples: byTenantAnd(this.restampedPoints, "reason"),
      },
      { name: "hub_residency_blocked_total", help: "Writes blocked because the upstream is outside the tenant's residency.", type: "counter", samples: byTenantAnd(this.residencyBlocks, "upstream") },
    ];
  }
}
