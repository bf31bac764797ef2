/**
 * Delivery: the queue → sink half of the pipeline.
 *
 *   flush snapshot ─encode─▶ WriteRequest bodies ─append─▶ DiskQueue (per sink) ─▶ remote-write sink
 *
 * Every sink has its own encoder (native or classic histograms), its own durable queue under
 * `<dataDir>/queues/<name>` and its own sender, so a slow or dead store never holds back another.
 * Each record's id is `<host>:<flush ms>:<flush seq>:<n>#<samples>` (formatRecordId): the part
 * before `#` is the batch id a receiver dedupes on, the same on every retry; the sample count
 * lets the sender count samples delivered (2xx) and dropped (4xx), also after a restart.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SeriesSnapshot, ExpiredSeries } from "../aggregate/aggregator";
import type { Clock, Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import { openDiskQueue, type DiskQueue } from "../queue/disk-queue";
import { DEFAULT_RETRY_POLICY } from "../sinks/retry-policy";
import {
  createRemoteWriteSink,
  DEFAULT_SINK_SETTINGS,
  formatRecordId,
  type AppendedRecord,
  type DeliveryOrder,
  type RemoteWriteSink,
} from "../sinks/remote-write/remote-write-sink";
import { encodeOtlpExport } from "../sinks/otlp/otlp-encoder";
import { createWriteRequestEncoder, type HistogramMode, type WriteRequestEncoder } from "../sinks/remote-write/write-request-encoder";

export interface RemoteWriteTarget {
  url: string;
  name?: string;
  /** prometheus (remote write 1.0, default) or otlp (OTLP/HTTP protobuf to a Collector / ADOT). */
  protocol?: "prometheus" | "otlp";
  histograms?: HistogramMode;
  bearerTokenFile?: string;
  /**
   * Ceiling on requests per second (default 20), also while a backlog drains after an outage.
   * It must exceed the flush rate (requests per flush ÷ flush interval), or with oldest-first
   * the drain never catches up (config warns below 2 requests per flush interval).
   */
  maxRequestsPerSec?: number;
  queueMaxBytes?: number;
  /**
   * oldest-first (default): strict queue order, as remote write 1.0 requires. fresh-first: while
   * a backlog is queued, new flushes go out ahead of it; only for stores that accept
   * out-of-order samples (VictoriaMetrics, Mimir/AMP or Prometheus with an out-of-order window).
   */
  order?: DeliveryOrder;
}

export interface DeliveryDeps {
  clock: Clock;
  log: Logger;
  userAgent: string;
  /** The steady flush interval: fresh-first counts a queue as behind after two of them. */
  flushIntervalMs?: number;
  /** Headers describing this agent to a hub (identity, version, config hash, cadence, series). */
  agentHeaders?: () => Record<string, string>;
  /** A hub's fleet cadence switch: the `X-Edge-Hub-Cadence` answer header ("incident; ttl=N" or "steady"). */
  onHubCadence?: (value: string) => void;
}

interface SinkEntry {
  name: string;
  queue: DiskQueue;
  sink: RemoteWriteSink;
  protocol: "prometheus" | "otlp";
  encoder: WriteRequestEncoder;
  samplesEnqueued: number;
  appendErrors: Map<string, number>;
}

export interface DeliveryStats {
  sink: string;
  recordsPending: number;
  bytesPending: number;
  oldestRecordAgeSec: number;
  dropped: Record<string, number>;
  requestsByStatus: Record<string, number>;
  retries: number;
  samplesEnqueued: number;
  /** Samples of batches answered 2xx. */
  samplesSent: number;
  /** Samples of batches rejected (4xx) and dropped. */
  samplesDropped: number;
  /** Empty requests sent while backing off, by status. */
  probesByStatus: Record<string, number>;
  /** fresh-first: batches delivered ahead of a backlog. */
  sentAhead: number;
  appendErrors: Record<string, number>;
  health: { state: string; reason: string };
}

export class Delivery {
  private readonly sinks: SinkEntry[] = [];
  private sequence = 0;

  private constructor(
    private readonly identity: [string, string][],
    private readonly deps: DeliveryDeps,
  ) {}

  static async open(
    targets: RemoteWriteTarget[],
    dataDir: string,
    identity: [string, string][],
    deps: DeliveryDeps,
  ): Promise<Result<Delivery, string>> {
    const d = new Delivery(identity, deps);
    const names = new Set<string>();
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i];
      const name = t.name ?? (targets.length === 1 ? "default" : `sink${i}`);
      if (names.has(name)) return err(`remoteWrite[${i}].name ${JSON.stringify(name)} is used twice`);
      names.add(name);
      let bearerToken: string | undefined;
      if (t.bearerTokenFile) {
        try {
          bearerToken = readFileSync(t.bearerTokenFile, "utf8").trim();
        } catch (e) {
          return err(`remoteWrite[${i}].bearerTokenFile: cannot read ${t.bearerTokenFile}: ${(e as Error).message}`);
        }
      }
      const q = await openDiskQueue(
        { dir: join(dataDir, "queues", name), ...(t.queueMaxBytes ? { maxBytes: t.queueMaxBytes } : {}) },
        { clock: deps.clock, log: deps.log },
      );
      if (!q.ok) return err(`remote-write queue for ${name}: ${JSON.stringify(q.error)}`);
      const sink = createRemoteWriteSink(
        {
          name,
          url: t.url,
          protocol: t.protocol ?? "prometheus",
          bearerToken,
          userAgent: deps.userAgent,
          timeoutMs: DEFAULT_SINK_SETTINGS.timeoutMs,
          maxRequestsPerSec: t.maxRequestsPerSec ?? DEFAULT_SINK_SETTINGS.maxRequestsPerSec,
          retry: DEFAULT_RETRY_POLICY,
          order: t.order ?? "oldest-first",
          backlogAfterMs: 2 * (deps.flushIntervalMs ?? 10_000),
          extraHeaders: deps.agentHeaders,
          onResponse: deps.onHubCadence
            ? (_status, headers) => {
                const cadence = headers.get("x-edge-hub-cadence");
                if (cadence) deps.onHubCadence!(cadence);
              }
            : undefined,
        },
        { clock: deps.clock, log: deps.log, queue: q.value },
      );
      d.sinks.push({
        name,
        queue: q.value,
        sink,
        protocol: t.protocol ?? "prometheus",
        encoder: createWriteRequestEncoder({ histograms: t.histograms ?? "native" }),
        samplesEnqueued: 0,
        appendErrors: new Map(),
      });
    }
    return ok(d);
  }

  get isEmpty(): boolean {
    return this.sinks.length === 0;
  }

  start(): void {
    for (const s of this.sinks) s.sink.start();
  }

  async stop(): Promise<void> {
    for (const s of this.sinks) await s.sink.stop();
    for (const s of this.sinks) await s.queue.close();
  }

  /** Encodes a flush for every sink and makes it durable in their queues. */
  async enqueue(series: SeriesSnapshot[], expired: ExpiredSeries[], atMs: number): Promise<void> {
    const seq = this.sequence++;
    await Promise.all(this.sinks.map((s) => this.enqueueFor(s, series, expired, atMs, seq)));
  }

  private async enqueueFor(s: SinkEntry, series: SeriesSnapshot[], expired: ExpiredSeries[], atMs: number, seq: number): Promise<void> {
    const bodies = this.encode(s, series, expired, atMs);
    const host = this.identity.find(([k]) => k === "host")?.[1] ?? "agent";
    const appended: AppendedRecord[] = [];
    for (let i = 0; i < bodies.length; i++) {
      const id = formatRecordId(`${host}:${atMs}:${seq}:${i}`, bodies[i].samples);
      const r = await s.queue.append(bodies[i].body, { id, priority: 0 });
      if (!r.ok) {
        s.appendErrors.set(r.error.code, (s.appendErrors.get(r.error.code) ?? 0) + 1);
        this.deps.log.error("Could not queue a remote-write batch; it is lost.", { sink: s.name, error: r.error.code });
        continue;
      }
      s.samplesEnqueued += bodies[i].samples;
      appended.push({ offset: r.value.offset, id, payload: bodies[i].body });
    }
    s.sink.notify(appended);
  }

  private encode(s: SinkEntry, series: SeriesSnapshot[], expired: ExpiredSeries[], atMs: number): { body: Uint8Array; samples: number }[] {
    if (s.protocol === "otlp") {
      // Expired OTLP series simply stop; the receiver's staleness handling applies.
      return encodeOtlpExport(series, this.identity, atMs, 0).map((r) => ({ body: r.body, samples: r.points }));
    }
    const encoded = s.encoder.encodeFlush(series, this.identity, atMs);
    if (!encoded.ok) {
      this.deps.log.error("Could not encode a flush for remote write.", { sink: s.name, error: encoded.error.message });
      return [];
    }
    const bodies = encoded.value.requests.map((r) => ({ body: r.body, samples: r.samples + r.histograms }));
    if (expired.length > 0) {
      const stale = s.encoder.encodeStaleMarkers(expired, this.identity, atMs);
      if (stale.ok) bodies.push(...stale.value.requests.map((r) => ({ body: r.body, samples: r.samples + r.histograms })));
    }
    return bodies;
  }

  stats(): DeliveryStats[] {
    return this.sinks.map((s) => {
      const q = s.queue.stats();
      return {
        sink: s.name,
        recordsPending: q.recordsPending,
        bytesPending: q.bytesPending,
        oldestRecordAgeSec: (q.oldestRecordAgeMs ?? 0) / 1000,
        dropped: { ...q.dropped },
        requestsByStatus: Object.fromEntries(s.sink.stats.requestsByStatus),
        retries: s.sink.stats.retries,
        samplesEnqueued: s.samplesEnqueued,
        samplesSent: s.sink.stats.samplesSent,
        samplesDropped: s.sink.stats.samplesDropped,
        probesByStatus: Object.fromEntries(s.sink.stats.probesByStatus),
        sentAhead: s.sink.stats.sentAhead,
        appendErrors: Object.fromEntries(s.appendErrors),
        health: s.queue.health().state !== "ok" ? s.queue.health() : s.sink.health(),
      };
    });
  }
}
