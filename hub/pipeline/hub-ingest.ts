/**
 * The hub's write path, one request at a time:
 *
 *   auth (token → tenant) ─▶ body ≤ limit ─▶ dedupe (id in flight? wait · seen? 2xx, nothing written)
 *     ─▶ decompress (bounded) ─▶ scan + policy per series ─▶ rate (token bucket, fair share)
 *     ─▶ per series: policy verdict · budget throttle · active-series quota
 *     ─▶ append kept series to the upstream's disk queue (fsync) ─▶ remember batch id ─▶ answer
 *
 * Answers, precisely (a correct sender retries only 5xx and 429):
 *   204  stored (all of it, or all but budget-throttled non-critical series, which are counted)
 *   400  malformed, or series refused by the label policy (the others are stored) — never retry
 *   401  no valid credential — nothing written
 *   409  tenant over its active-series quota: new series dropped, known ones stored. 409 (not
 *        400) so it is told apart, and because vmagent, like Prometheus, drops 400/409 but
 *        retries other 4xx forever
 *   413  body or decompressed body over the limit
 *   429  + Retry-After: tenant over its samples/s (or its fair share of the hub) — transient
 *   503  + Retry-After: the hub cannot make data durable right now (disk full, read-only)
 * The 2xx is sent only after the data is in the disk queue. Before its body is read, a request
 * may wait (up to 1 s) while its upstream's queue is far behind an upstream that answers
 * (intake-pacer.ts): the forwarder shares this thread and must not be starved by the intake.
 *
 * A retry racing its first attempt (same tenant and batch id, the first still being queued) waits
 * for it, then is judged as if it had arrived just after: the id was remembered (stored, even in
 * part) → 204, counted as a dedupe hit; the first failed → processed normally. Only within one
 * hub process; requests without a batch id, or with other ids, never wait. OTLP bodies with a
 * batch id (an agent's OTLP sink sends one) are deduplicated the same way.
 */
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { SnappyCompressor } from "../../agent/codec/snappy-compress";
import type { TenantConfig, HubConfig } from "../config/hub-config";
import type { Forwarder } from "../forward/forwarder";
import { compressWriteRequest, decompressRemoteWrite, rebuildWriteRequest, scanWriteRequest, type IngestError, type ScanResult } from "../ingest/remote-write-decode";
import type { HubSeriesPolicy } from "../ingest/hub-policy";
import type { TenantRuntime } from "./tenant-runtime";
import type { DedupeWindow } from "../dedupe/dedupe-window";
import type { HubCounters } from "./hub-counters";
import { DEFAULT_PACE, IntakePacer, type PaceSettings } from "./intake-pacer";

/** Size of the shared decompression buffer (hub/pipeline: one per hub process). */
const SCRATCH_BYTES = 1024 * 1024;

export interface WriteOutcome {
  status: number;
  /** Plain-text reason for non-2xx answers (PRW: senders log it). */
  message: string;
  headers?: Record<string, string>;
  samplesWritten: number;
  seriesWritten: number;
  /** Points refused (policy, quota, budget), for OTLP partial success. */
  rejectedSamples: number;
}

export interface HubIngestDeps {
  clock: Clock;
  log: Logger;
  config: HubConfig;
  policy: HubSeriesPolicy;
  dedupe: DedupeWindow;
  forwarders: Map<string, Forwarder>;
  tenants: Map<string, TenantRuntime>;
  counters: HubCounters;
  /** Intake pacing; default DEFAULT_PACE with config.limits.paceBacklogBytes. */
  pace?: PaceSettings;
}

export interface WriteContext {
  tenant: TenantConfig;
  /** Orders a sender's requests onto one queue shard: tenant + agent host, or peer address. */
  senderKey: string;
  batchId?: string;
  /** Upstream asked for with X-Edge-Hub-Upstream; must be one of the tenant's. */
  upstream?: string;
}

export function createHubIngest(deps: HubIngestDeps) {
  const { config, counters } = deps;
  const compressor = new SnappyCompressor();
  const pacer = new IntakePacer(deps.pace ?? { ...DEFAULT_PACE, backlogBytes: config.limits.paceBacklogBytes }, deps.clock);

  /** A wait before the request is read while its upstream's queue is far behind (intake-pacer.ts). */
  function paceFor(ctx: WriteContext): Promise<void> | undefined {
    const route = routeFor(ctx);
    if (!route.ok) return undefined; // refused later, with its reason
    return pacer.pace(route.value);
  }

  function reply(status: number, message: string, extra: Partial<WriteOutcome> = {}): WriteOutcome {
    return { status, message, samplesWritten: 0, seriesWritten: 0, rejectedSamples: 0, ...extra };
  }

  function refuse(tenant: string, e: IngestError): WriteOutcome {
    counters.requestRejected(tenant, e.reason);
    return reply(e.status, e.message);
  }

  /**
   * Attempts in flight per "tenant\nbatch id": resolves (never rejects) once that attempt has
   * answered and its entry is gone. Holds only requests being processed now.
   */
  const inFlight = new Map<string, Promise<void>>();

  /**
   * One decompression buffer for every request: a request reads its decompressed bytes only
   * before its first await (scan, verdicts, rebuild are synchronous), so requests never share it
   * at the same time. Saves allocating and collecting ~70 KB per agent request (bodies larger
   * than this get their own buffer).
   */
  const scratch = new Uint8Array(SCRATCH_BYTES);

  /** A snappy remote-write body from /api/v1/write. */
  function writeCompressed(ctx: WriteContext, body: Uint8Array): Promise<WriteOutcome> {
    return once(ctx, () => {
      const buf = decompressRemoteWrite(body, config.limits.maxDecompressedBytes, scratch);
      if (!buf.ok) return Promise.resolve(refuse(ctx.tenant.id, buf.error));
      return writeDecoded(ctx, buf.value, body);
    });
  }

  /** A WriteRequest converted from OTLP (`snappyBody`: it compressed, forwarded when all is kept). */
  function writeConverted(ctx: WriteContext, buf: Uint8Array, snappyBody?: Uint8Array): Promise<WriteOutcome> {
    return once(ctx, () => writeDecoded(ctx, buf, snappyBody));
  }

  /**
   * Runs `attempt` unless the batch id was already stored (204, a dedupe hit). A retry of a batch
   * still being queued waits for that attempt, then is judged as if it had arrived just after it:
   * stored (its id remembered, even for a partial 400/409) → 204; failed (429, 503, …) → its own
   * attempt. Several waiters: the first to wake goes next.
   */
  async function once(ctx: WriteContext, attempt: () => Promise<WriteOutcome>): Promise<WriteOutcome> {
    if (ctx.batchId === undefined) return attempt();
    const t = ctx.tenant.id;
    const key = `${t}\n${ctx.batchId}`;
    for (let first = inFlight.get(key); first !== undefined; first = inFlight.get(key)) await first;
    // No await from here until the entry is set: seen() and the claim are one step.
    if (deps.dedupe.seen(t, ctx.batchId)) {
      counters.deduplicated(t);
      return reply(204, "");
    }
    let done!: () => void;
    inFlight.set(key, new Promise<void>((resolve) => (done = resolve)));
    try {
      return await attempt();
    } finally {
      inFlight.delete(key);
      done();
    }
  }

  /**
   * An uncompressed WriteRequest (from OTLP conversion, or decompressed above). `original` is
   * the sender's snappy body: forwarded as is when every series is kept. `buf` may be the shared
   * decompression buffer: read it only before the first await.
   */
  async function writeDecoded(ctx: WriteContext, buf: Uint8Array, original?: Uint8Array): Promise<WriteOutcome> {
    const tenant = ctx.tenant;
    const t = tenant.id;
    const rt = deps.tenants.get(t)!;
    const route = routeFor(ctx);
    if (!route.ok) {
      counters.residencyBlocked(t, ctx.upstream ?? "");
      deps.log.warn("Blocked a write that would leave the tenant's residency.", { tenant: t, upstream: ctx.upstream, residency: tenant.residency });
      return reply(403, route.error);
    }
    const forwarder = route.value;
    if (!forwarder.writable()) {
      counters.requestRejected(t, "queue_unavailable");
      return reply(503, "the hub cannot make data durable right now (queue degraded); retry later", { headers: { "retry-after": "5" } });
    }

    const scanned = scanWriteRequest(
      buf,
      {
        maxSeries: config.limits.maxSeriesPerRequest,
        maxLabelsPerSeries: tenant.limits.labelsPerSeries,
        maxLabelNameBytes: config.limits.maxLabelNameBytes,
        maxLabelValueBytes: config.limits.maxLabelValueBytes,
      },
      deps.policy,
    );
    if (!scanned.ok) return refuse(t, scanned.error);
    const scan = scanned.value;
    const totalSamples = scan.samples + scan.histograms;

    const rate = rt.admitRate(totalSamples);
    if (!rate.ok) {
      counters.requestRejected(t, rate.error.reason);
      const retryAfterSec = Math.max(1, Math.ceil(rate.error.retryAfterMs / 1000));
      return reply(429, `tenant ${t} is over its ${rate.error.reason === "fair_share" ? "fair share of the hub" : "samples/s limit"}; retry after ${retryAfterSec} s`, {
        headers: { "retry-after": String(retryAfterSec) },
      });
    }

    const verdicts = judgeSeries(rt, scan);
    let payload: Uint8Array;
    if (verdicts.keptSeries === scan.series.length && original !== undefined) {
      payload = original;
    } else if (verdicts.keptSeries === 0) {
      payload = new Uint8Array(0);
    } else {
      const kept = verdicts.keptSeries === scan.series.length ? scan.series : scan.series.filter((_, i) => verdicts.keep[i]);
      payload = compressWriteRequest(rebuildWriteRequest(buf, kept, scan.metadata), compressor);
    }

    if (payload.length > 0) {
      const batchId = ctx.batchId ?? `${config.hubId}:${deps.clock.nowMs()}:${counters.nextSeq()}`;
      const appended = await forwarder.append(ctx.senderKey, payload, t, batchId, verdicts.keptSamples);
      if (!appended.ok) {
        counters.requestRejected(t, "queue_error");
        deps.log.error("Could not queue a write; answered 503 so the sender retries.", { tenant: t, upstream: forwarder.name, error: appended.error.code });
        return reply(503, "the hub could not make the data durable; retry later", { headers: { "retry-after": "5" } });
      }
    }
    // Awaited: the id is in the page cache (survives kill -9) before the 2xx goes out.
    if (ctx.batchId !== undefined) await deps.dedupe.remember(t, ctx.batchId);
    rt.recordWritten(verdicts.keptSamples, verdicts.newSeries);
    counters.written(t, verdicts.keptSamples, verdicts.keptSeries);

    const outcome = { samplesWritten: verdicts.keptSamples, seriesWritten: verdicts.keptSeries, rejectedSamples: totalSamples - verdicts.keptSamples };
    if (verdicts.policyRejected > 0) {
      counters.requestRejected(t, "policy");
      return reply(400, `${verdicts.policyRejected} series refused by the label policy (${verdicts.firstPolicyMessage}); ${verdicts.keptSeries} stored`, outcome);
    }
    if (verdicts.overQuota > 0) {
      counters.requestRejected(t, "series_quota");
      return reply(409, `tenant ${t} is at its active series quota (${tenant.limits.activeSeries}): ${verdicts.overQuota} new series dropped, ${verdicts.keptSeries} stored`, outcome);
    }
    return reply(204, "", outcome);
  }

  function routeFor(ctx: WriteContext): Result<Forwarder, string> {
    const tenant = ctx.tenant;
    const name = ctx.upstream ?? tenant.upstreams[0];
    const f = deps.forwarders.get(name);
    if (f === undefined) return err(`upstream ${JSON.stringify(name)} does not exist`);
    if (!tenant.upstreams.includes(name) || (tenant.residency !== undefined && f.config.residency !== tenant.residency)) {
      return err(`tenant ${tenant.id} may not write to upstream ${JSON.stringify(name)} (residency ${JSON.stringify(tenant.residency ?? "none")}, upstream's ${JSON.stringify(f.config.residency ?? "none")})`);
    }
    return ok(f);
  }

  interface Verdicts {
    keep: boolean[];
    keptSeries: number;
    keptSamples: number;
    newSeries: number;
    policyRejected: number;
    overQuota: number;
    firstPolicyMessage: string;
  }

  function judgeSeries(rt: TenantRuntime, scan: ScanResult): Verdicts {
    const v: Verdicts = { keep: new Array(scan.series.length), keptSeries: 0, keptSamples: 0, newSeries: 0, policyRejected: 0, overQuota: 0, firstPolicyMessage: "" };
    const throttled = rt.budgetThrottled();
    // The clock is read once per request, not per series (it showed as a quarter of the CPU).
    const atSec = Math.floor(deps.clock.monoMs() / 1000);
    for (let i = 0; i < scan.series.length; i++) {
      const s = scan.series[i];
      const samples = s.samples + s.histograms;
      v.keep[i] = false;
      if (s.rejected !== undefined) {
        v.policyRejected++;
        if (v.firstPolicyMessage === "") v.firstPolicyMessage = s.rejected.message;
        counters.labelRejected(rt.id, s.rejected.reason, samples);
        continue;
      }
      if (throttled && !rt.isCritical(s.name)) {
        counters.budgetThrottled(rt.id, samples);
        continue;
      }
      const admitted = rt.admitSeries(s.hashHi, s.hashLo, atSec, s.cached);
      if (admitted === "over_limit") {
        v.overQuota++;
        counters.seriesQuotaRejected(rt.id, samples);
        continue;
      }
      if (admitted === "new") v.newSeries++;
      v.keep[i] = true;
      v.keptSeries++;
      v.keptSamples += samples;
    }
    return v;
  }

  return { paceFor, pacer, writeCompressed, writeConverted };
}

export type HubIngest = ReturnType<typeof createHubIngest>;
