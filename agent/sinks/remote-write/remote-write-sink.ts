/**
 * Remote-write sink: delivers the records of its own disk queue, oldest first, to one Prometheus
 * remote-write endpoint.
 *
 *   DiskQueue ──peek──▶ send (fetch, keep-alive) ──2xx──▶ ack (deleted)
 *                          │ 5xx / 429 / network ──▶ keep, back off (full jitter, Retry-After)
 *                          └ other 4xx ───────────▶ ack (dropped), counted, logged once per status
 *
 * One request in flight per sink keeps every series in timestamp order across requests (PRW 1.0
 * requires it). Each request carries the queue record's id in `X-Edge-Agent-Batch-Id`, so a
 * receiver (our hub) can drop a batch it already has after a lost response. A backlog drains at
 * most `maxRequestsPerSec`, so thousands of agents coming back after an outage do not stampede.
 */
import type { Clock, Logger } from "../../core/deps";
import type { DiskQueue } from "../../queue/disk-queue";
import { backoffMs, DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryPolicyConfig } from "../retry-policy";
import { classifyOtlpStatus, classifyRemoteWriteStatus, type SinkError } from "../sink-error";

export interface RemoteWriteSinkConfig {
  name: string;
  url: string;
  /**
   * prometheus: PRW 1.0 headers, retry 5xx and 429. otlp: OTLP/HTTP protobuf, retry only
   * 429/502/503/504 (the OTLP spec: a 500 is not retryable).
   */
  protocol?: "prometheus" | "otlp";
  bearerToken?: string;
  userAgent: string;
  timeoutMs: number;
  /** Ceiling on requests per second while draining a backlog. */
  maxRequestsPerSec: number;
  retry: RetryPolicyConfig;
}

export interface RemoteWriteSinkDeps {
  clock: Clock;
  log: Logger;
  queue: DiskQueue;
  random?: () => number;
  fetch?: typeof fetch;
}

export interface RemoteWriteSinkStats {
  requestsByStatus: Map<string, number>;
  retries: number;
  delivered: number;
  dropped: number;
  consecutiveFailures: number;
  lastError: string | null;
}

export interface RemoteWriteSink {
  readonly id: string;
  start(): void;
  stop(): Promise<void>;
  /** Wakes the sender after an append. */
  notify(): void;
  readonly stats: RemoteWriteSinkStats;
  health(): { state: "ok" | "degraded"; reason: string };
}

export const DEFAULT_SINK_SETTINGS = {
  timeoutMs: 30_000,
  maxRequestsPerSec: 20,
  retry: DEFAULT_RETRY_POLICY,
};

const IDLE_POLL_MS = 1000;

export function createRemoteWriteSink(config: RemoteWriteSinkConfig, deps: RemoteWriteSinkDeps): RemoteWriteSink {
  const random = deps.random ?? Math.random;
  const doFetch = deps.fetch ?? fetch;
  const stats: RemoteWriteSinkStats = {
    requestsByStatus: new Map(),
    retries: 0,
    delivered: 0,
    dropped: 0,
    consecutiveFailures: 0,
    lastError: null,
  };
  const loggedRejections = new Set<number>();
  const isOtlp = config.protocol === "otlp";
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  /** True while idle-waiting for new records: only then does notify() cut the wait short. */
  let isIdle = false;
  let abort: AbortController | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const count = (status: string) => stats.requestsByStatus.set(status, (stats.requestsByStatus.get(status) ?? 0) + 1);

  async function send(payload: Uint8Array, batchId: string): Promise<SinkError | undefined> {
    const headers: Record<string, string> = isOtlp
      ? { "content-type": "application/x-protobuf", "user-agent": config.userAgent, "x-edge-agent-batch-id": batchId }
      : {
          "content-type": "application/x-protobuf",
          "content-encoding": "snappy",
          "x-prometheus-remote-write-version": "0.1.0",
          "user-agent": config.userAgent,
          "x-edge-agent-batch-id": batchId,
        };
    if (config.bearerToken) headers.authorization = `Bearer ${config.bearerToken}`;
    abort = new AbortController();
    const timer = setTimeout(() => abort?.abort(), config.timeoutMs);
    try {
      const res = await doFetch(config.url, { method: "POST", headers, body: payload as BodyInit, signal: abort.signal });
      const body = res.ok ? "" : await res.text().catch(() => "");
      if (res.ok) await res.arrayBuffer().catch(() => undefined);
      count(String(res.status));
      const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"), deps.clock.nowMs());
      return isOtlp ? classifyOtlpStatus(res.status, body, retryAfterMs) : classifyRemoteWriteStatus(res.status, body, retryAfterMs);
    } catch (e) {
      count("network_error");
      return { code: "SINK_RETRYABLE", cause: `network: ${(e as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  async function run(): Promise<void> {
    let attempt = 0;
    let lastSendMono = -Infinity;
    while (running) {
      const peeked = await deps.queue.peek({ maxRecords: 1 });
      if (!peeked.ok) {
        deps.log.error("Remote-write sink could not read its queue.", { sink: config.name, error: peeked.error.code });
        await sleep(IDLE_POLL_MS);
        continue;
      }
      const record = peeked.value.records[0];
      if (record === undefined) {
        isIdle = true;
        await sleep(IDLE_POLL_MS);
        isIdle = false;
        continue;
      }
      const minGapMs = 1000 / config.maxRequestsPerSec;
      const waitMs = lastSendMono + minGapMs - deps.clock.monoMs();
      if (waitMs > 0) await sleep(waitMs);
      if (!running) break;
      lastSendMono = deps.clock.monoMs();
      const error = await send(record.payload, record.id);
      if (error === undefined) {
        stats.delivered++;
        stats.consecutiveFailures = 0;
        attempt = 0;
        await deps.queue.ack(record.nextOffset);
        continue;
      }
      stats.lastError = error.cause;
      if (error.code === "SINK_REJECTED") {
        stats.dropped++;
        if (!loggedRejections.has(error.status)) {
          loggedRejections.add(error.status);
          deps.log.warn("Dropped batch after rejection.", { sink: config.name, status: error.status, reason: error.cause, batch: record.id });
        }
        attempt = 0;
        await deps.queue.ack(record.nextOffset);
        continue;
      }
      stats.retries++;
      stats.consecutiveFailures++;
      if (stats.consecutiveFailures === 1 || stats.consecutiveFailures % 10 === 0) {
        deps.log.warn("Remote write failed; will retry.", { sink: config.name, reason: error.cause, failures: stats.consecutiveFailures });
      }
      await sleep(backoffMs(config.retry, attempt++, random, error.retryAfterMs));
    }
  }

  return {
    id: `sink.remote_write.${config.name}`,
    stats,
    start() {
      if (running) return;
      running = true;
      loop = run().catch((e) => deps.log.error("BUG: remote-write sink loop died.", { sink: config.name, error: e }));
    },
    async stop() {
      running = false;
      abort?.abort();
      wake?.();
      await loop;
    },
    notify() {
      if (isIdle) wake?.();
    },
    health() {
      if (stats.consecutiveFailures >= 3) return { state: "degraded", reason: `last ${stats.consecutiveFailures} sends failed: ${stats.lastError}` };
      return { state: "ok", reason: "ok" };
    },
  };
}
