/**
 * Remote-write sink: delivers the records of its own disk queue, oldest first, to one Prometheus
 * remote-write (or OTLP/HTTP) endpoint.
 *
 *   DiskQueue ──peek──▶ send (fetch, keep-alive) ──2xx──▶ ack (deleted), samples counted as sent
 *                          │ 5xx / 429 / network ──▶ keep, back off (full jitter, Retry-After)
 *                          │                           └ probe every 1–2 s: a 2xx ends the wait
 *                          └ other 4xx ───────────▶ ack (dropped), counted, logged once per status
 *
 * One request in flight per sink keeps every series in timestamp order across requests (PRW 1.0
 * requires it). The ack (a checkpoint write and fsync) runs behind: the next request goes
 * out while it is written, and a failed ack only means the records are sent again after a
 * restart (at-least-once). A merging sink (the hub) also reads the records after the one in
 * flight while it is out, so a store is fed back to back; that read is dropped if the send fails.
 * Each request carries the record's batch id in `X-Edge-Agent-Batch-Id`, so a receiver (our hub)
 * can drop a batch it already has after a lost response. A backlog drains at
 * most `maxRequestsPerSec`, so thousands of agents coming back after an outage do not stampede.
 *
 * Record ids: `<batch id>#<samples>` (formatRecordId). The batch id is what the receiver dedupes
 * on and is the same on every retry; the sample count (samples + native histograms, or OTLP
 * points) is carried in the queue frame so the samples delivered can be counted after a restart
 * too. An id without a `#<digits>` suffix is a batch id of unknown size (counted as 0 samples).
 *
 * Probes: the full-jitter backoff grows to 30 s, so after an outage the first delivery used to
 * come 4–19 s after the store was back. While waiting after a network error or a 5xx without
 * Retry-After, the sink sends an empty request every 1–2 s (jittered): an empty snappy
 * WriteRequest (Prometheus, VictoriaMetrics answer 204), or an empty ExportMetricsServiceRequest
 * for protocol otlp. A 2xx ends the wait and the record goes out at once. A Retry-After or a 429
 * is honoured in full, without probes; a record that fails again right after a probe ended the
 * wait gets its full backoff (a poison request does not turn probes into a retry storm). Probes
 * carry no batch id and are counted apart (`probesByStatus`), not as deliveries.
 *
 * Order `fresh-first` (opt-in, see fresh-first.ts): while the queue holds a backlog, new records
 * are sent ahead of it; the backlog still drains oldest first, within the same ceiling.
 *
 * Hooks for the hub, which reuses this sink: `extraHeaders()` and `recordHeaders(id)` add
 * headers to each request, `authorize(request)` returns headers to add last (AWS SigV4 signs the
 * final headers and body), and `onResponse(status, headers)` sees every answer, probes included.
 */
import { concatSnappyBlocks } from "../../codec/snappy-compress";
import type { Clock, Logger } from "../../core/deps";
import type { Result } from "../../core/result";
import type { DiskQueue, PeekResult, QueueError, QueueRecord } from "../../queue/disk-queue";
import { backoffMs, DEFAULT_RETRY_POLICY, parseRetryAfter, type RetryPolicyConfig } from "../retry-policy";
import { classifyOtlpStatus, classifyRemoteWriteStatus, type SinkError } from "../sink-error";
import { FreshFirstTracker, type AppendedRecord } from "./fresh-first";

export type { AppendedRecord } from "./fresh-first";

export type DeliveryOrder = "oldest-first" | "fresh-first";

/** What `authorize` may sign: the request exactly as it will be sent. */
export interface OutgoingRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

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
  /** Per-request timeout (probes use at most 2 s). */
  timeoutMs: number;
  /** Ceiling on requests per second while draining a backlog. */
  maxRequestsPerSec: number;
  retry: RetryPolicyConfig;
  /** Default oldest-first; fresh-first only for stores that accept out-of-order samples. */
  order?: DeliveryOrder;
  /** fresh-first: the queue is behind once its oldest record is older than this (default 20 s). */
  backlogAfterMs?: number;
  /** Headers added to every request (after the protocol headers and the bearer token). */
  extraHeaders?: () => Record<string, string>;
  /** Headers added to the request of one queue record (not to probes), from its id. */
  recordHeaders?: (recordId: string) => Record<string, string>;
  /** Signs the request; the headers returned are added last. A rejection counts as a failed send. */
  authorize?: (request: OutgoingRequest) => Promise<Record<string, string>>;
  /** Called after every response (deliveries and probes). */
  onResponse?: (status: number, headers: Headers) => void;
  /**
   * Send up to this many queued records as one request when they are waiting (prometheus
   * protocol only; default 1). Their Snappy blocks are joined without recompressing. For a relay
   * like the hub: an agent keeps 1, because a receiver dedupes on each request's batch id.
   */
  mergeRecords?: number;
  /** Payload bytes of one merged request (default 1 MiB). */
  mergeBytes?: number;
  /**
   * With merging: hold a partly filled request until its oldest record is this old (default 0),
   * so a store gets fewer, larger requests. Adds at most this much to write→read freshness.
   */
  mergeLingerMs?: number;
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
  /** Queue records answered 2xx (a joined request counts each record it carried). */
  delivered: number;
  dropped: number;
  /** Samples (+ native histograms, or OTLP points) of records answered 2xx. */
  samplesSent: number;
  /** Samples of records rejected (4xx other than 429) and dropped. */
  samplesDropped: number;
  /** Empty requests sent while backing off, by status (network_error when none). */
  probesByStatus: Map<string, number>;
  /** fresh-first: records delivered ahead of a backlog. */
  sentAhead: number;
  /** Merged requests a store refused, whose records were then sent one by one. */
  mergedSplits: number;
  consecutiveFailures: number;
  lastError: string | null;
}

export interface RemoteWriteSink {
  readonly id: string;
  start(): void;
  stop(): Promise<void>;
  /** Wakes the sender after an append; `appended` (optional) lets fresh-first send them ahead. */
  notify(appended?: readonly AppendedRecord[]): void;
  readonly stats: RemoteWriteSinkStats;
  health(): { state: "ok" | "degraded"; reason: string };
}

export const DEFAULT_SINK_SETTINGS = {
  timeoutMs: 30_000,
  maxRequestsPerSec: 20,
  retry: DEFAULT_RETRY_POLICY,
};

const IDLE_POLL_MS = 1000;
const PROBE_MIN_GAP_MS = 1000;
const PROBE_MAX_GAP_MS = 2000;
const PROBE_TIMEOUT_MS = 2000;
const DEFAULT_BACKLOG_AFTER_MS = 20_000;
/** Snappy block of an empty WriteRequest: just the varint uncompressed length 0. */
const EMPTY_WRITE_REQUEST = Uint8Array.of(0);
/** An ExportMetricsServiceRequest without resource metrics has no bytes at all. */
const EMPTY_OTLP_EXPORT = new Uint8Array(0);

/** The queue record id for a batch of `samples` samples: `<batch id>#<samples>`. */
export function formatRecordId(batchId: string, samples: number): string {
  return `${batchId}#${samples}`;
}

/** Splits a record id into the batch id sent to the receiver and its sample count (0 if unknown). */
export function parseRecordId(id: string): { batchId: string; samples: number } {
  const hash = id.lastIndexOf("#");
  if (hash < 0 || !/^\d{1,15}$/.test(id.slice(hash + 1))) return { batchId: id, samples: 0 };
  return { batchId: id.slice(0, hash), samples: Number(id.slice(hash + 1)) };
}

/** Records read for the next request while the current one is out. */
interface ReadAhead {
  from: number;
  peeked: Promise<Result<PeekResult, QueueError>>;
}

/** A response (body read), or why there was none: the status counted is network_error or authorize_error. */
type Outcome = { response: Response; body: string } | { failed: "network_error" | "authorize_error"; cause: string };

export function createRemoteWriteSink(config: RemoteWriteSinkConfig, deps: RemoteWriteSinkDeps): RemoteWriteSink {
  const random = deps.random ?? Math.random;
  const doFetch = deps.fetch ?? fetch;
  const stats: RemoteWriteSinkStats = {
    requestsByStatus: new Map(),
    retries: 0,
    delivered: 0,
    dropped: 0,
    samplesSent: 0,
    samplesDropped: 0,
    probesByStatus: new Map(),
    sentAhead: 0,
    mergedSplits: 0,
    consecutiveFailures: 0,
    lastError: null,
  };
  const loggedRejections = new Set<number>();
  const isOtlp = config.protocol === "otlp";
  const backlogAfterMs = config.backlogAfterMs ?? DEFAULT_BACKLOG_AFTER_MS;
  const freshFirst = config.order === "fresh-first" ? new FreshFirstTracker(backlogAfterMs) : undefined;
  const mergeRecords = Math.max(1, Math.floor(config.mergeRecords ?? 1));
  const mergeBytes = config.mergeBytes ?? 1024 * 1024;
  const mergeLingerMs = Math.max(0, config.mergeLingerMs ?? 0);
  /** Joined records → how many queue records each stands for. */
  const mergedRecords = new WeakMap<QueueRecord, number>();
  let unmergeUntil = -1;
  // Merging joins Snappy blocks: remote write only, and not with fresh-first's out-of-order sends.
  const merging = mergeRecords > 1 && !isOtlp && !freshFirst;
  let running = false;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  /** True while idle-waiting for new records: only then does notify() cut the wait short. */
  let isIdle = false;
  let abort: AbortController | undefined;
  let lastSendMono = -Infinity;
  /**
   * Acknowledgements run behind the sends: once a record is handled, the next request goes out
   * while the queue writes (and fsyncs) its checkpoint. Reads continue from `handledUpTo`, the
   * end of the last record handled, until the queue's ack position catches up with it.
   */
  let handledUpTo = -1;
  let isAcking = false;
  let acked: Promise<void> = Promise.resolve();

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

  const countIn = (map: Map<string, number>, status: string) => map.set(status, (map.get(status) ?? 0) + 1);

  // ---- one HTTP request ---------------------------------------------------------------------

  async function headersFor(payload: Uint8Array, recordId: string | undefined): Promise<Record<string, string>> {
    const headers: Record<string, string> = isOtlp
      ? { "content-type": "application/x-protobuf", "user-agent": config.userAgent }
      : {
          "content-type": "application/x-protobuf",
          "content-encoding": "snappy",
          "x-prometheus-remote-write-version": "0.1.0",
          "user-agent": config.userAgent,
        };
    if (config.bearerToken) headers.authorization = `Bearer ${config.bearerToken}`;
    if (recordId !== undefined) {
      headers["x-edge-agent-batch-id"] = parseRecordId(recordId).batchId;
      Object.assign(headers, config.recordHeaders?.(recordId));
    }
    Object.assign(headers, config.extraHeaders?.());
    if (config.authorize) Object.assign(headers, await config.authorize({ url: config.url, method: "POST", headers: { ...headers }, body: payload }));
    return headers;
  }

  /** POSTs one body; resolves with the response (body read) or why there was none. */
  async function post(payload: Uint8Array, recordId: string | undefined, timeoutMs: number): Promise<Outcome> {
    let headers: Record<string, string>;
    try {
      headers = await headersFor(payload, recordId);
    } catch (e) {
      return { failed: "authorize_error", cause: `authorize: ${(e as Error).message}` };
    }
    const controller = new AbortController();
    abort = controller;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await doFetch(config.url, { method: "POST", headers, body: payload as BodyInit, signal: controller.signal });
      const body = response.ok ? "" : await response.text().catch(() => "");
      if (response.ok) await response.arrayBuffer().catch(() => undefined);
      reportResponse(response);
      return { response, body };
    } catch (e) {
      return { failed: "network_error", cause: `network: ${(e as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  function reportResponse(response: Response): void {
    try {
      config.onResponse?.(response.status, response.headers);
    } catch (e) {
      deps.log.error("BUG: remote-write onResponse hook threw.", { sink: config.name, error: e });
    }
  }

  async function send(record: AppendedRecord): Promise<SinkError | undefined> {
    const outcome = await post(record.payload, record.id, config.timeoutMs);
    if ("failed" in outcome) {
      countIn(stats.requestsByStatus, outcome.failed);
      return { code: "SINK_RETRYABLE", cause: outcome.cause };
    }
    const { response, body } = outcome;
    countIn(stats.requestsByStatus, String(response.status));
    const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), deps.clock.nowMs());
    return isOtlp ? classifyOtlpStatus(response.status, body, retryAfterMs) : classifyRemoteWriteStatus(response.status, body, retryAfterMs);
  }

  /** An empty request: true when the endpoint answered 2xx. */
  async function probe(timeoutMs: number): Promise<boolean> {
    const outcome = await post(isOtlp ? EMPTY_OTLP_EXPORT : EMPTY_WRITE_REQUEST, undefined, timeoutMs);
    if ("failed" in outcome) {
      countIn(stats.probesByStatus, outcome.failed);
      return false;
    }
    countIn(stats.probesByStatus, String(outcome.response.status));
    return outcome.response.ok;
  }

  // ---- what to send next --------------------------------------------------------------------

  function isBehind(): boolean {
    return deps.queue.stats().oldestRecordAgeMs > backlogAfterMs;
  }

  /** fresh-first and behind: a new record to send ahead; else the oldest record not yet sent ahead. */
  async function nextRecord(readAhead?: ReadAhead): Promise<{ record: AppendedRecord | QueueRecord; ahead: boolean } | "idle" | "unreadable"> {
    if (freshFirst && isBehind()) {
      const fresh = freshFirst.takeFresh(deps.queue.stats().ackOffset, deps.clock.nowMs());
      if (fresh) return { record: fresh, ahead: true };
    }
    for (;;) {
      const fromOffset = Math.max(handledUpTo, deps.queue.stats().ackOffset);
      // The read made while the last request was out, if it starts where this one must.
      const peeked = readAhead !== undefined && readAhead.from === fromOffset ? await readAhead.peeked : await peekFrom(fromOffset);
      readAhead = undefined;
      if (!peeked.ok) {
        deps.log.error("Remote-write sink could not read its queue.", { sink: config.name, error: peeked.error.code });
        return "unreadable";
      }
      let records = peeked.value.records;
      // After a merged request was refused, its records go one by one.
      if (records.length > 1 && records[0].offset < unmergeUntil) records = records.slice(0, 1);
      else if (merging && mergeLingerMs > 0 && records.length > 0 && records.length < mergeRecords) {
        let bytes = 0;
        for (const r of records) bytes += r.payload.length;
        const waitMs = records[0].timestampMs + mergeLingerMs - deps.clock.nowMs();
        if (bytes < mergeBytes / 2 && waitMs > 0) {
          await sleep(Math.min(waitMs, mergeLingerMs));
          if (!running) return "idle";
          continue;
        }
      }
      const record = records.length > 1 ? merged(records) : records[0];
      if (record === undefined) return "idle";
      if (!freshFirst?.consumeSentAhead(record.offset)) return { record, ahead: false };
      ackBehind(record.nextOffset);
    }
  }

  function peekFrom(fromOffset: number): Promise<Result<PeekResult, QueueError>> {
    return deps.queue.peek(merging ? { maxRecords: mergeRecords, maxBytes: mergeBytes, fromOffset } : { maxRecords: 1, fromOffset });
  }

  /** The record is handled (delivered or dropped): acknowledge it, or remember it was sent ahead. */
  function settle(record: AppendedRecord | QueueRecord, ahead: boolean): void {
    if (ahead) freshFirst?.markSentAhead(record.offset);
    else ackBehind((record as QueueRecord).nextOffset);
  }

  /**
   * Acknowledges everything before `upTo` in the background: one ack at a time, each up to the
   * latest record handled. A failed ack leaves the records queued (sent again after a restart:
   * at-least-once); the next record handled tries again.
   */
  function ackBehind(upTo: number): void {
    if (upTo > handledUpTo) handledUpTo = upTo;
    if (isAcking) return;
    isAcking = true;
    acked = (async () => {
      try {
        while (handledUpTo > deps.queue.stats().ackOffset) {
          const result = await deps.queue.ack(handledUpTo);
          if (!result.ok) {
            if (result.error.code !== "QUEUE_CLOSED") deps.log.warn("Remote-write sink could not acknowledge delivered records.", { sink: config.name, error: result.error.code });
            return;
          }
        }
      } finally {
        isAcking = false;
      }
    })();
  }

  /**
   * Several waiting records as one: the Snappy blocks joined (one WriteRequest of all their
   * series, in queue order), acknowledged together, id `<first batch id>+<n-1>#<samples>`.
   */
  function merged(records: QueueRecord[]): QueueRecord {
    const payload = concatSnappyBlocks(records.map((r) => r.payload));
    if (payload === undefined) return records[0];
    let samples = 0;
    for (const r of records) samples += parseRecordId(r.id).samples;
    const first = records[0];
    const last = records[records.length - 1];
    const record = { ...first, nextOffset: last.nextOffset, id: `${parseRecordId(first.id).batchId}+${records.length - 1}#${samples}`, payload };
    mergedRecords.set(record, records.length);
    return record;
  }

  // ---- waiting ------------------------------------------------------------------------------

  async function paceForCeiling(): Promise<void> {
    const waitMs = lastSendMono + 1000 / config.maxRequestsPerSec - deps.clock.monoMs();
    if (waitMs > 0) await sleep(waitMs);
  }

  /**
   * Waits `delayMs` before a retry; after a network error or a 5xx without Retry-After, probes
   * every 1–2 s and returns early (true) on a 2xx.
   */
  async function backOff(delayMs: number, mayProbe: boolean): Promise<boolean> {
    if (!mayProbe) {
      await sleep(delayMs);
      return false;
    }
    const until = deps.clock.monoMs() + delayMs;
    while (running) {
      const leftMs = until - deps.clock.monoMs();
      const gapMs = PROBE_MIN_GAP_MS + random() * (PROBE_MAX_GAP_MS - PROBE_MIN_GAP_MS);
      if (leftMs <= gapMs) {
        if (leftMs > 0) await sleep(leftMs);
        return false;
      }
      await sleep(gapMs);
      if (running && (await probe(Math.min(config.timeoutMs, PROBE_TIMEOUT_MS, until - deps.clock.monoMs())))) return true;
    }
    return false;
  }

  // ---- the loop -----------------------------------------------------------------------------

  async function run(): Promise<void> {
    let attempt = 0;
    let readAhead: ReadAhead | undefined;
    let probeEndedLastWait = false;
    while (running) {
      // Pace first, choose after: a fresh record appended meanwhile is not stuck behind a pick.
      await paceForCeiling();
      if (!running) break;
      const next = await nextRecord(readAhead);
      readAhead = undefined;
      if (next === "unreadable") {
        await sleep(IDLE_POLL_MS);
        continue;
      }
      if (next === "idle") {
        isIdle = true;
        await sleep(IDLE_POLL_MS);
        isIdle = false;
        continue;
      }
      const { record, ahead } = next;
      lastSendMono = deps.clock.monoMs();
      // A relay (merging) reads the records after this one while it is out: used if it is delivered.
      const sending = send(record);
      readAhead = merging && !ahead ? { from: (record as QueueRecord).nextOffset, peeked: peekFrom((record as QueueRecord).nextOffset) } : undefined;
      const error = await sending;
      if (error !== undefined) readAhead = undefined;
      const { samples } = parseRecordId(record.id);
      if (error === undefined) {
        stats.delivered += mergedRecords.get(record as QueueRecord) ?? 1;
        stats.samplesSent += samples;
        if (ahead) stats.sentAhead++;
        stats.consecutiveFailures = 0;
        attempt = 0;
        probeEndedLastWait = false;
        settle(record, ahead);
        continue;
      }
      stats.lastError = error.cause;
      if (error.code === "SINK_REJECTED" && mergedRecords.has(record as QueueRecord)) {
        // A store refuses a whole request for one bad sample (Prometheus rolls the request
        // back on an out-of-order sample): send these records one by one, so only the bad one
        // is dropped.
        unmergeUntil = (record as QueueRecord).nextOffset;
        stats.mergedSplits++;
        continue;
      }
      if (error.code === "SINK_REJECTED") {
        stats.dropped++;
        stats.samplesDropped += samples;
        if (!loggedRejections.has(error.status)) {
          loggedRejections.add(error.status);
          deps.log.warn("Dropped batch after rejection.", { sink: config.name, status: error.status, reason: error.cause, batch: record.id });
        }
        attempt = 0;
        settle(record, ahead);
        continue;
      }
      // A record sent ahead that failed is left to the drain, in queue order.
      stats.retries++;
      stats.consecutiveFailures++;
      if (stats.consecutiveFailures === 1 || stats.consecutiveFailures % 10 === 0) {
        deps.log.warn("Remote write failed; will retry.", { sink: config.name, reason: error.cause, failures: stats.consecutiveFailures });
      }
      const mayProbe = error.retryAfterMs === undefined && error.status !== 429 && !probeEndedLastWait;
      probeEndedLastWait = await backOff(backoffMs(config.retry, attempt++, random, error.retryAfterMs), mayProbe);
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
      await acked;
    },
    notify(appended) {
      if (freshFirst && appended && appended.length > 0 && isBehind()) freshFirst.offer(appended, deps.clock.nowMs());
      if (isIdle) wake?.();
    },
    health() {
      if (stats.consecutiveFailures >= 3) return { state: "degraded", reason: `last ${stats.consecutiveFailures} sends failed: ${stats.lastError}` };
      return { state: "ok", reason: "ok" };
    },
  };
}
