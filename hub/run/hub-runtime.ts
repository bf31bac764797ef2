/**
 * HubRuntime wires the hub together and owns its lifecycle:
 *
 *   HTTP (remote write, OTLP) ─▶ auth ─▶ hub-ingest (dedupe · decode · policy · quotas) ─▶ Forwarder per upstream
 *                                                                                           └ DiskQueue shards ─▶ remote-write sink
 *   timers: budget guard + save of tenant cost state (every budget.evaluateEverySec), series expiry, freshness probe
 *
 * Start order makes data safe before it is accepted: queues and the dedupe window open first,
 * senders start, and only then does the listener take requests. Stop walks it backwards.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SelfFamily } from "../../agent/admin/prom-text";
import { processFamilies } from "../../agent/run/self-metrics";
import { renderPrometheusText } from "../../agent/admin/prom-text";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { startHttpServer, type HttpHandler, type HttpServerHandle } from "../../agent/platform/http-server";
import { createNodeQueueFs } from "../../agent/queue/queue-fs";
import { createSyncThreads, type SyncThreads } from "../../agent/queue/sync-threads";
import { VERSION } from "../../agent/version";
import { TenantAuth } from "../auth/tenant-auth";
import type { HubConfig } from "../config/hub-config";
import { openDedupeWindow, type DedupeWindow } from "../dedupe/dedupe-window";
import { Fleet } from "../fleet/fleet";
import { Forwarder, type Authorize } from "../forward/forwarder";
import { createHubHandler } from "../http/hub-handler";
import { createHubSeriesPolicy } from "../ingest/hub-policy";
import { HubCounters } from "../pipeline/hub-counters";
import { createHubIngest, type HubIngest } from "../pipeline/hub-ingest";
import { createTenantFleet, type TenantFleet } from "../pipeline/tenant-runtime";
import { createAwsAuthorizer } from "../upstream/aws-authorizer";
import { startFreshness, type FreshnessHandle } from "../freshness/hub-freshness";

export interface HubDeps {
  clock: Clock;
  log: Logger;
  /** Request signer factory for SigV4 upstreams; defaults to the AWS credential chain. */
  signerFor?: (upstream: HubConfig["upstreams"][number]) => Promise<Result<Authorize, string>>;
}

/** fdatasync threads at most; more syncing shards than this wait for a free one. */
const MAX_SYNC_THREADS = 8;

export class HubRuntime {
  private server?: HttpServerHandle;
  private readonly forwarders = new Map<string, Forwarder>();
  private dedupe?: DedupeWindow;
  private syncThreads?: SyncThreads;
  private tenants?: TenantFleet;
  private counters?: HubCounters;
  private fleet?: Fleet;
  private ingest?: HubIngest;
  private freshness?: FreshnessHandle;
  private timers: ReturnType<typeof setInterval>[] = [];
  private readonly startedMs: number;

  constructor(
    readonly config: HubConfig,
    private readonly deps: HubDeps,
  ) {
    this.startedMs = deps.clock.nowMs();
  }

  async start(): Promise<Result<{ address: string; port: number }, string>> {
    const { config } = this;
    const { clock, log } = this.deps;
    try {
      mkdirSync(config.dataDir, { recursive: true });
    } catch (e) {
      return err(`cannot create data dir ${config.dataDir}: ${(e as Error).message}`);
    }
    const dedupe = await openDedupeWindow({ dir: join(config.dataDir, "dedupe"), windowSec: config.dedupe.windowSec, maxIds: config.dedupe.maxIds }, { clock, log });
    if (!dedupe.ok) return err(`dedupe window: ${dedupe.error.message}`);
    this.dedupe = dedupe.value;

    // One fdatasync thread per queue shard that syncs (a shard runs one sync at a time), at most
    // MAX_SYNC_THREADS (~4 MiB each under Bun); finished syncs are polled for at the start of
    // every request (agent/queue/sync-threads.ts).
    const syncingShards = config.upstreams.reduce((n, u) => n + (u.fsync === "never" ? 0 : u.shards), 0);
    const syncThreads = createSyncThreads(Math.min(MAX_SYNC_THREADS, syncingShards), log);
    this.syncThreads = syncThreads;
    const queueFs = createNodeQueueFs({ datasync: syncThreads.datasync });

    for (const u of config.upstreams) {
      let authorize: Authorize | undefined;
      if (u.sigv4) {
        const signer = this.deps.signerFor
          ? await this.deps.signerFor(u)
          : createAwsAuthorizer(u.sigv4, { clock, log, fetch: globalThis.fetch, env: process.env });
        if (!signer.ok) return this.fail(`upstream ${u.name}: ${signer.error}`);
        authorize = signer.value;
      }
      const f = await Forwarder.open(u, config.dataDir, { clock, log, userAgent: `edge-hub/${VERSION}`, authorize, queueFs });
      if (!f.ok) return this.fail(f.error);
      this.forwarders.set(u.name, f.value);
    }

    const tenants = createTenantFleet(config, { clock, log });
    if (!tenants.ok) return this.fail(tenants.error);
    this.tenants = tenants.value;
    // Month-to-date spend and budget states from before a restart (dataDir/tenant-cost.json).
    this.tenants.loadCost();
    const counters = new HubCounters(this.tenants.labeler, () => clock.nowMs());
    this.counters = counters;
    const fleet = new Fleet(config.dataDir, { clock, log });
    this.fleet = fleet;
    const policy = createHubSeriesPolicy({
      forbid: config.policy.forbid,
      rejectPiiValues: config.policy.rejectPiiValues,
      piiExemptLabels: config.policy.piiExemptLabels,
      maxCachedSeries: config.limits.seriesCacheEntries,
    });
    if (!policy.ok) return this.fail(`policy: ${policy.error}`);
    const ingest = createHubIngest({
      clock,
      log,
      config,
      policy: policy.value,
      dedupe: this.dedupe,
      forwarders: this.forwarders,
      tenants: this.tenants.byId,
      counters,
    });
    this.ingest = ingest;
    for (const f of this.forwarders.values()) f.start();

    const hubHandler = createHubHandler({
      config,
      auth: new TenantAuth(config.tenants, config.adminTokenHash, config.clientCert),
      ingest,
      fleet,
      counters,
      log,
      nowMs: () => clock.nowMs(),
      ready: () => this.ready(),
      renderMetrics: () => this.renderMetrics(),
      status: () => this.status(),
    });
    const handler: HttpHandler = (req) => {
      syncThreads.poll();
      return hubHandler(req);
    };
    let tls;
    if (config.tls) {
      try {
        tls = {
          cert: readFileSync(config.tls.certFile, "utf8"),
          key: readFileSync(config.tls.keyFile, "utf8"),
          ca: config.tls.clientCaFile ? readFileSync(config.tls.clientCaFile, "utf8") : undefined,
          requestCert: config.tls.requireClientCert,
        };
      } catch (e) {
        return this.fail(`tls: ${(e as Error).message}`);
      }
    }
    const server = await startHttpServer(config.listen, handler, log, { tls });
    if (!server.ok) return this.fail(server.error);
    this.server = server.value;

    const evaluateMs = config.budget.evaluateEverySec * 1000;
    this.timers.push(
      setInterval(() => {
        this.tenants?.evaluate();
        void this.tenants?.saveCost();
      }, evaluateMs),
    );
    this.timers.push(setInterval(() => this.tenants?.sweep(), 60_000));
    for (const t of this.timers) t.unref?.();

    const probeUpstream = config.freshness.upstream ?? config.upstreams.find((u) => u.queryUrl)?.name;
    const probeTarget = probeUpstream ? config.upstreams.find((u) => u.name === probeUpstream) : undefined;
    if (probeTarget?.queryUrl) {
      this.freshness = startFreshness({
        hubId: config.hubId,
        intervalSec: config.freshness.intervalSec,
        queryUrl: probeTarget.queryUrl,
        forwarder: this.forwarders.get(probeTarget.name)!,
        clock,
        log,
      });
    }

    const address = this.server.address();
    log.info("Hub ready.", {
      listen: `${address.address}:${address.port}`,
      tls: config.tls ? (config.tls.requireClientCert ? "client-cert" : "on") : "off",
      tenants: config.tenants.length,
      upstreams: config.upstreams.map((u) => `${u.name}=${redact(u.url)}${u.sigv4 ? "(sigv4)" : ""}`).join(" "),
      data_dir: config.dataDir,
      admin: config.adminTokenHash ? "on" : "off",
    });
    return ok(address);
  }

  private async fail(message: string): Promise<Result<never, string>> {
    await this.stop();
    return err(message);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.freshness?.stop();
    await this.server?.close();
    this.server = undefined;
    await this.tenants?.saveCost();
    for (const f of this.forwarders.values()) await f.stop();
    this.forwarders.clear();
    this.syncThreads?.close();
    await this.dedupe?.close();
    this.dedupe = undefined;
  }

  ready(): { ready: boolean; reason: string } {
    if (!this.server) return { ready: false, reason: "starting" };
    for (const f of this.forwarders.values()) {
      if (!f.writable()) return { ready: false, reason: `queue for upstream ${f.name} cannot take writes (${f.stats().health.reason})` };
    }
    return { ready: true, reason: "ok" };
  }

  status(): unknown {
    return {
      version: VERSION,
      hubId: this.config.hubId,
      uptimeSec: Math.round((this.deps.clock.nowMs() - this.startedMs) / 1000),
      upstreams: [...this.forwarders.values()].map((f) => f.stats()),
      tenants: this.tenants?.status() ?? [],
      fleet: { cadence: this.fleet?.cadenceCounts(10 * 60_000) ?? {}, rules: this.fleet?.activeRules() ?? [] },
    };
  }

  renderMetrics(): string {
    const families: SelfFamily[] = [];
    families.push({ name: "hub_build_info", help: "Version of this hub.", type: "gauge", samples: [{ labels: [["version", VERSION]], value: 1 }] });
    if (this.counters) families.push(...this.counters.families());
    if (this.tenants) families.push(...this.tenants.families());
    const stats = [...this.forwarders.values()].map((f) => f.stats());
    const per = (pick: (s: (typeof stats)[number]) => number) => stats.map((s) => ({ labels: [["upstream", s.upstream]] as [string, string][], value: pick(s) }));
    families.push(
      { name: "ingest_backlog", help: "Records in the hub's disk queues not yet accepted by the upstream.", type: "gauge", samples: per((s) => s.recordsPending) },
      { name: "ingest_backlog_bytes", help: "Bytes in the hub's disk queues not yet accepted by the upstream.", type: "gauge", samples: per((s) => s.bytesPending) },
      { name: "ingest_backlog_oldest_age_seconds", help: "Age of the oldest record waiting for the upstream.", type: "gauge", samples: per((s) => s.oldestRecordAgeSec) },
      {
        name: "hub_ingest_paced_requests_total",
        help: "Write requests held (≤ 1 s each) before being read because their upstream's queue was far behind while the upstream answers (intake pacing).",
        type: "counter",
        samples: [{ labels: [], value: this.ingest?.pacer.pacedRequests ?? 0 }],
      },
      { name: "hub_ingest_paced_seconds_total", help: "Time write requests spent held by intake pacing.", type: "counter", samples: [{ labels: [], value: this.ingest?.pacer.pacedSeconds ?? 0 }] },
      { name: "upstream_retries_total", help: "Upstream sends that failed and will be retried.", type: "counter", samples: per((s) => s.retries) },
      { name: "upstream_records_delivered_total", help: "Queue records the upstream accepted (2xx); under load one request carries many.", type: "counter", samples: per((s) => s.delivered) },
      { name: "upstream_merged_requests_split_total", help: "Joined upstream requests refused as a whole (e.g. one out-of-order sample), then resent record by record so only the bad record is dropped.", type: "counter", samples: per((s) => s.mergedSplits) },
      { name: "upstream_records_rejected_total", help: "Queue records the upstream refused with a non-retryable 4xx (dropped, logged).", type: "counter", samples: per((s) => s.rejected) },
      {
        name: "upstream_requests_total",
        help: "Upstream requests by HTTP status (or network_error).",
        type: "counter",
        samples: stats.flatMap((s) => Object.entries(s.requestsByStatus).map(([code, n]) => ({ labels: [["upstream", s.upstream], ["code", code]] as [string, string][], value: n }))),
      },
      {
        name: "upstream_queue_dropped_total",
        help: "Queue records lost, by reason (corrupt, shed when full).",
        type: "counter",
        samples: stats.flatMap((s) => Object.entries(s.dropped).map(([reason, n]) => ({ labels: [["upstream", s.upstream], ["reason", reason]] as [string, string][], value: n }))),
      },
    );
    if (this.syncThreads) {
      const sync = this.syncThreads.stats();
      families.push(
        { name: "hub_queue_fsyncs_total", help: "fdatasyncs of the hub's disk queues (each makes a group of writes durable before they are answered).", type: "counter", samples: [{ labels: [], value: sync.syncs }] },
        { name: "hub_queue_fsync_seconds_total", help: "Time from asking for a queue fdatasync to seeing it done, summed; divided by hub_queue_fsyncs_total, the mean time one takes.", type: "counter", samples: [{ labels: [], value: sync.seconds }] },
        { name: "hub_queue_fsync_failures_total", help: "Queue fdatasyncs that failed (the writes they covered were answered 503 and are retried by their senders).", type: "counter", samples: [{ labels: [], value: sync.failures }] },
        { name: "hub_queue_fsync_threads", help: "Threads running queue fdatasyncs (one per syncing queue shard; 0 after a thread failure: syncs then run on the runtime's pool).", type: "gauge", samples: [{ labels: [], value: sync.threads }] },
      );
    }
    if (this.dedupe) families.push(...this.dedupe.families());
    families.push(...processFamilies());
    if (this.fleet) {
      const counts = this.fleet.cadenceCounts(10 * 60_000);
      families.push({
        name: "hub_fleet_agents",
        help: "Agents seen in the last 10 minutes, by the cadence they reported.",
        type: "gauge",
        samples: Object.entries(counts).map(([cadence, n]) => ({ labels: [["cadence", cadence]] as [string, string][], value: n })),
      });
    }
    if (this.freshness) families.push(...this.freshness.families());
    return renderPrometheusText([], [], families);
  }
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return url;
  }
}

