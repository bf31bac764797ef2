/**
 * Test doubles for the remote-write sink: an in-memory DiskQueue (same offsets-and-ack contract,
 * no files, so vitest's fake timers drive everything) and a scripted fetch that records every
 * request it answers.
 */
import type { Clock } from "../../../agent/core/deps";
import { ok } from "../../../agent/core/result";
import type { DiskQueue, QueueRecord } from "../../../agent/queue/disk-queue";

/** Wall and monotonic time both from Date.now(), which vi.useFakeTimers() controls. */
export const fakeTimerClock: Clock = { nowMs: () => Date.now(), monoMs: () => Date.now() };

export interface MemoryQueue extends DiskQueue {
  /** Records not yet acknowledged, oldest first. */
  pending(): QueueRecord[];
}

export function memoryQueue(clock: Clock = fakeTimerClock): MemoryQueue {
  let records: QueueRecord[] = [];
  let ackOffset = 0;
  let endOffset = 0;
  const queue: MemoryQueue = {
    async append(payload, options) {
      const offset = endOffset;
      endOffset += 24 + options.id.length + payload.length;
      records.push({ offset, nextOffset: endOffset, id: options.id, priority: options.priority ?? 0, timestampMs: clock.nowMs(), payload });
      return ok({ offset });
    },
    async peek(options = {}) {
      const from = options.fromOffset ?? ackOffset;
      const out = records.filter((r) => r.offset >= from).slice(0, options.maxRecords ?? 1000);
      return ok({ records: out, nextOffset: out.length > 0 ? out[out.length - 1].nextOffset : endOffset });
    },
    async ack(upTo) {
      if (upTo < ackOffset || upTo > endOffset) throw new Error(`BUG: ack ${upTo} outside [${ackOffset}, ${endOffset}]`);
      ackOffset = upTo;
      records = records.filter((r) => r.offset >= upTo);
      return ok(undefined);
    },
    stats() {
      const bytes = records.reduce((n, r) => n + r.payload.length, 0);
      const oldest = records[0];
      return {
        recordsPending: records.length,
        bytesPending: bytes,
        bytesOnDisk: bytes,
        segments: 1,
        oldestRecordAgeMs: oldest ? clock.nowMs() - oldest.timestampMs : 0,
        ackOffset,
        endOffset,
        dropped: { corrupt: 0, full_low_priority: 0, full: 0, full_rejected: 0, disk_full: 0 },
      };
    },
    bytesPending() {
      return queue.stats().bytesPending;
    },
    health: () => ({ state: "ok", reason: "ok", since: 0 }) as ReturnType<DiskQueue["health"]>,
    async close() {},
    pending: () => [...records],
  };
  return queue;
}

export interface SeenRequest {
  atMs: number;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The X-Edge-Agent-Batch-Id header; undefined for a probe. */
  batchId: string | undefined;
  status: number | "network_error";
}

export type Answer = number | { status: number; headers?: Record<string, string> } | "network_error";

/** A fetch that answers by `script` and records every request in `seen`. */
export function scriptedFetch(script: (req: Omit<SeenRequest, "status">) => Answer): { fetch: typeof fetch; seen: SeenRequest[] } {
  const seen: SeenRequest[] = [];
  const fake = async (_url: string | URL | Request, init?: RequestInit) => {
    const headers = { ...(init?.headers as Record<string, string>) };
    const req = { atMs: Date.now(), headers, body: init?.body as Uint8Array, batchId: headers["x-edge-agent-batch-id"] };
    const answer = script(req);
    if (answer === "network_error") {
      seen.push({ ...req, status: "network_error" });
      throw new TypeError("fetch failed");
    }
    const { status, headers: responseHeaders } = typeof answer === "number" ? { status: answer, headers: undefined } : answer;
    seen.push({ ...req, status });
    return new Response(status === 204 ? null : status >= 400 ? "nope" : "", { status, headers: responseHeaders });
  };
  return { fetch: fake as typeof fetch, seen };
}
