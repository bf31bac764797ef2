/**
 * Delivery: the queue → sink half of the pipeline.
 *
 *   flush snapshot ─encode─▶ WriteRequest bodies ─append─▶ DiskQueue (per sink) ─▶ remote-write sink
 *
 * Every sink has its own encoder (native or classic histograms), its own durable queue under
 * `<dataDir>/queues/<name>` and its own sender, so a slow or dead store never holds back another.
 * Each record's id is `<host>:<flush ms>:<n>`, the idempotency id a receiver dedupes on.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SeriesSnapshot, ExpiredSeries } from "../aggregate/aggregator";
import type { Clock, Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import { openDiskQueue, type DiskQueue } from "../queue/disk-queue";
import { DEFAULT_RETRY_POLICY } from "../sinks/retry-policy";
import { createRemoteWriteSink, type RemoteWriteSink } from "../sinks/remote-write/remote-write-sink";
import { encodeOtlpExport } from "../sinks/otlp/otlp-encoder";
import { createWriteRequestEncoder, type HistogramMode, type WriteRequestEncoder } from "../sinks/remote-write/write-request-encoder";

export interface RemoteWriteTarget {
  url: string;
  name?: string;
  /** prometheus (remote write 1.0, default) or otlp (OTLP/HTTP protobuf to a Collector / ADOT). */
  protocol?: "prometheus" | "otlp";
  histograms?: HistogramMode;
  bearerTokenFile?: string;
  maxRequestsPerSec?: number;
  queueMaxBytes?: number;
}

export interface DeliveryDeps {
  clock: Clock;
  log: Logger;
  userAgent: string;
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
          timeoutMs: 30_000,
          maxRequestsPerSec: t.maxRequestsPerSec ?? 20,
          retry: DEFAULT_RETRY_POLICY,
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
    for (let i = 0; i < bodies.length; i++) {
      const r = await s.queue.append(bodies[i].body, { id: `${host}:${atMs}:${seq}:${i}`, priority: 0 });
      if (!r.ok) {
        s.appendErrors.set(r.error.code, (s.appendErrors.get(r.error.code) ?? 0) + 1);
        this.deps.log.error("Could not queue a remote-write batch; it is lost.", { sink: s.name, error: r.error.code });
        continue;
      }
      s.samplesEnqueued += bodies[i].samples;
    }
    s.sink.notify();
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
        appendErrors: Object.fromEntries(s.appendErrors),
        health: s.queue.health().state !== "ok" ? s.queue.health() : s.sink.health(),
      };
    });
  }
}
