/**
 * Forwarder: the hub's queue → upstream half, one per configured upstream.
 *
 *   accepted request ─append (fsync)─▶ DiskQueue shard k ─▶ remote-write sink ─▶ AMP / Mimir / Prometheus / VM
 *                      k = hash(sender) mod shards
 *
 * It is the agent's own delivery code (agent/queue + agent/sinks/remote-write), not a copy: each
 * shard is a DiskQueue under `<dataDir>/upstreams/<name>/<k>` drained by one remote-write sink,
 * so one sender's requests stay in order (PRW 1.0 requires per-series order) while different
 * senders go out in parallel. Records hold the request as it will be sent (snappy WriteRequest);
 * the record id is `<tenant>|<batch id>#<samples>`. Under load a shard sends up to 256 waiting
 * records as one request (Snappy blocks joined, not recompressed, up to 256 KiB).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { openDiskQueue, type DiskQueue, type QueueError } from "../../agent/queue/disk-queue";
import type { QueueFs } from "../../agent/queue/queue-fs";
import { DEFAULT_RETRY_POLICY } from "../../agent/sinks/retry-policy";
import { createRemoteWriteSink, type RemoteWriteSink } from "../../agent/sinks/remote-write/remote-write-sink";
import type { UpstreamConfig } from "../config/hub-config";

export type Authorize = (req: { url: string; method: string; headers: Record<string, string>; body: Uint8Array }) => Promise<Record<string, string>>;

export interface ForwarderDeps {
  clock: Clock;
  log: Logger;
  userAgent: string;
  /** Request signing (SigV4 for AMP); absent for plain or bearer/basic upstreams. */
  authorize?: Authorize;
  readText?: (file: string) => string;
  /** The queue shards' file operations; default node:fs (tests count fdatasyncs here). */
  queueFs?: QueueFs;
}

/** Memory for the newest records, shared out over an upstream's shards. */
const RECENT_BYTES = 64 * 1024 * 1024;

interface Shard {
  queue: DiskQueue;
  sink: RemoteWriteSink;
}

export interface ForwarderStats {
  upstream: string;
  recordsPending: number;
  bytesPending: number;
  oldestRecordAgeSec: number;
  requestsByStatus: Record<string, number>;
  retries: number;
  delivered: number;
  rejected: number;
  /** Joined requests the upstream refused, whose records were then sent one by one. */
  mergedSplits: number;
  dropped: Record<string, number>;
  health: { state: string; reason: string };
}

export class Forwarder {
  private constructor(
    readonly config: UpstreamConfig,
    private readonly shards: Shard[],
  ) {}

  static async open(config: UpstreamConfig, dataDir: string, deps: ForwarderDeps): Promise<Result<Forwarder, string>> {
    const readText = deps.readText ?? ((f: string) => readFileSync(f, "utf8"));
    let authorization: string | undefined;
    try {
      if (config.bearerTokenFile) authorization = `Bearer ${readText(config.bearerTokenFile).trim()}`;
      if (config.basicAuth) {
        const password = readText(config.basicAuth.passwordFile).trim();
        authorization = `Basic ${Buffer.from(`${config.basicAuth.username}:${password}`).toString("base64")}`;
      }
    } catch (e) {
      return err(`upstream ${config.name}: cannot read its credentials: ${(e as Error).message}`);
    }
    // Shard directories beyond `shards` (the count was lowered, or the default changed with the
    // CPU count) still hold accepted records: they are drained too, never appended to.
    const configured = Array.from({ length: config.shards }, (_, k) => k);
    const shards: Shard[] = [];
    for (const k of [...configured, ...leftoverShards(join(dataDir, "upstreams", config.name), config.shards)]) {
      const shard = await openShard(config, dataDir, k, authorization, deps);
      if (!shard.ok) {
        for (const s of shards) await s.queue.close();
        return shard;
      }
      if (k >= config.shards) {
        const pending = shard.value.queue.stats().recordsPending;
        if (pending === 0) {
          await shard.value.queue.close();
          continue;
        }
        deps.log.warn("Draining a queue shard left from an earlier shard count; its senders' records may now go out beside their newer ones.", {
          upstream: config.name,
          shard: k,
          shards: config.shards,
          records: pending,
        });
      }
      shards.push(shard.value);
    }
    if (config.fsync === "never") {
      deps.log.warn("Writes for this upstream are acknowledged after write(2), before fdatasync (fsync: never): they survive a hub crash, not a crash or power loss of this host.", {
        upstream: config.name,
      });
    }
    return ok(new Forwarder(config, shards));
  }

  get name(): string {
    return this.config.name;
  }

  /** Makes one request durable in the shard for `senderKey`; resolves after fsync. */
  async append(senderKey: string, payload: Uint8Array, tenant: string, batchId: string, samples = 0): Promise<Result<void, QueueError>> {
    const shard = this.shards[shardOf(senderKey, this.config.shards)];
    const r = await shard.queue.append(payload, { id: `${`${tenant}|${batchId}`.slice(0, 990)}#${samples}`, priority: 0 });
    if (!r.ok) return r;
    shard.sink.notify();
    return ok(undefined);
  }

  /**
   * Bytes waiting for the upstream in the shards whose sends succeed; a shard whose sends fail
   * counts 0 (holding an outage is what its queue is for). The intake paces on this.
   */
  backlogBytes(): number {
    let bytes = 0;
    for (const s of this.shards) if (s.sink.stats.consecutiveFailures === 0) bytes += s.queue.bytesPending();
    return bytes;
  }

  start(): void {
    for (const s of this.shards) s.sink.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.sink.stop()));
    for (const s of this.shards) await s.queue.close();
  }

  /** True when every shard can take appends (not degraded by a full or read-only disk). */
  writable(): boolean {
    for (let k = 0; k < this.config.shards; k++) if (this.shards[k].queue.health().state !== "ok") return false;
    return true;
  }

  stats(): ForwarderStats {
    const out: ForwarderStats = {
      upstream: this.config.name,
      recordsPending: 0,
      bytesPending: 0,
      oldestRecordAgeSec: 0,
      requestsByStatus: {},
      retries: 0,
      delivered: 0,
      rejected: 0,
      mergedSplits: 0,
      dropped: {},
      health: { state: "ok", reason: "ok" },
    };
    for (const s of this.shards) {
      const q = s.queue.stats();
      out.recordsPending += q.recordsPending;
      out.bytesPending += q.bytesPending;
      out.oldestRecordAgeSec = Math.max(out.oldestRecordAgeSec, q.oldestRecordAgeMs / 1000);
      for (const [reason, n] of Object.entries(q.dropped)) out.dropped[reason] = (out.dropped[reason] ?? 0) + n;
      for (const [status, n] of s.sink.stats.requestsByStatus) out.requestsByStatus[status] = (out.requestsByStatus[status] ?? 0) + n;
      out.retries += s.sink.stats.retries;
      out.delivered += s.sink.stats.delivered;
      out.rejected += s.sink.stats.dropped;
      out.mergedSplits += s.sink.stats.mergedSplits;
      const h = s.queue.health().state !== "ok" ? s.queue.health() : s.sink.health();
      if (h.state !== "ok") out.health = h;
    }
    return out;
  }
}

async function openShard(config: UpstreamConfig, dataDir: string, k: number, authorization: string | undefined, deps: ForwarderDeps): Promise<Result<Shard, string>> {
  const q = await openDiskQueue(
    {
      dir: join(dataDir, "upstreams", config.name, String(k)),
      maxBytes: Math.max(64 * 1024 * 1024, Math.floor(config.queueMaxBytes / config.shards)),
      // The newest records stay in memory for the sink (recent-records.ts): 64 MiB over the
      // shards is ~2 s of a 1M samples/s relay (agent requests of ~10 KB per 300 samples), so
      // a forwarder running a little behind still reads nothing back from disk.
      recentBytes: Math.max(8 * 1024 * 1024, Math.floor(RECENT_BYTES / config.shards)),
      fsync: config.fsync,
      syncIntervalMs: config.fsyncIntervalMs,
    },
    { clock: deps.clock, log: deps.log, fs: deps.queueFs },
  );
  if (!q.ok) return err(`upstream ${config.name}: cannot open queue shard ${k}: ${q.error.code}`);
  const sink = createRemoteWriteSink(
    {
      name: `${config.name}/${k}`,
      url: config.url,
      protocol: "prometheus",
      userAgent: deps.userAgent,
      timeoutMs: 30_000,
      maxRequestsPerSec: config.maxRequestsPerSec,
      retry: DEFAULT_RETRY_POLICY,
      extraHeaders: authorization ? () => ({ authorization: authorization! }) : undefined,
      recordHeaders: (id: string) => recordHeaders(config, id),
      authorize: deps.authorize,
      // Waiting records go up together (their Snappy blocks joined, no recompression): one
      // upstream request per ~10k samples under load instead of one per agent request. Not
      // with a tenant header, which is per request.
      mergeRecords: config.tenantHeader ? 1 : 256,
      // 256 KiB compressed (~8k samples): VictoriaMetrics spent ~5 % less CPU per sample than
      // with 512 KiB requests and ~10 % less than with 1 MiB in the relay bench, which on a
      // shared box is throughput; with 128 KiB, 2 shards delivered only 680k of 750k/s offered.
      mergeBytes: 256 * 1024,
      // A request waits up to 200 ms for company: ~10x fewer, larger upstream requests under
      // load (the store's per-request cost), within the 10 s freshness budget.
      mergeLingerMs: 200,
    },
    { clock: deps.clock, log: deps.log, queue: q.value },
  );
  return ok({ queue: q.value, sink });
}

/** Numbered shard directories at or beyond `shards`, in order. */
function leftoverShards(upstreamDir: string, shards: number): number[] {
  let names: string[];
  try {
    names = readdirSync(upstreamDir);
  } catch {
    return []; // first start: nothing there yet
  }
  return names
    .filter((n) => /^(0|[1-9]\d{0,5})$/.test(n) && Number(n) >= shards)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Headers that depend on the record: the tenant for multi-tenant stores, the batch id. */
function recordHeaders(config: UpstreamConfig, id: string): Record<string, string> {
  const bar = id.indexOf("|");
  // Merged requests carry the first record's id; every record of one shard is one tenant's only
  // when tenantHeader is set, and then merging is off.
  const tenant = bar < 0 ? "" : id.slice(0, bar);
  const headers: Record<string, string> = {};
  if (config.tenantHeader && tenant) headers[config.tenantHeader.toLowerCase()] = tenant;
  return headers;
}

/** FNV-1a: stable across restarts, so a sender keeps its shard (and its order) after one. */
export function shardOf(key: string, shards: number): number {
  if (shards <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}
