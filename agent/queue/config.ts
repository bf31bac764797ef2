/**
 * Disk queue configuration: the shape callers pass, the defaults, and parseQueueConfig() which
 * names the field and the value in every error (STYLE §5).
 */
import { err, ok, type Result } from "../core/result";
import type { QueueError } from "./errors";

export type FsyncPolicy = "always" | "batch" | "never";

export interface DiskQueueConfig {
  /** Directory holding this queue's segments and checkpoint; one directory per sink. */
  dir: string;
  /** Bytes on disk before the queue sheds old data. Default 512 MiB. */
  maxBytes?: number;
  /** A segment is sealed and a new one started past this size. Default 8 MiB. */
  segmentBytes?: number;
  /**
   * When append() resolves. "batch" (default): after an fdatasync shared by every append that
   * was waiting. "always": after an fdatasync of that record alone. "never": after write(2);
   * survives kill -9 but not power loss.
   */
  fsync?: FsyncPolicy;
  /**
   * With fsync "batch": the least time between two flushes (write + fdatasync), in ms. 0 (default)
   * flushes as soon as the previous flush is done. A few ms lets more appends share one fdatasync
   * under load, for a few ms more before append() resolves; an append after a quiet spell is
   * flushed at once.
   */
  syncIntervalMs?: number;
  /**
   * Memory for the newest durable records, so a sink that keeps up reads them without going back
   * to disk (recent-records.ts). Default 1 MiB (an agent's flushes of ~10 KB for ~15 min); 0 reads
   * everything from disk.
   */
  recentBytes?: number;
}

export type ResolvedQueueConfig = Required<DiskQueueConfig>;

export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
export const MIN_SEGMENT_BYTES = 4096;
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_RECENT_BYTES = 1024 * 1024;
export const MAX_SYNC_INTERVAL_MS = 1000;

export const FSYNC_POLICIES: readonly FsyncPolicy[] = ["always", "batch", "never"];

export function parseQueueConfig(input: DiskQueueConfig): Result<ResolvedQueueConfig, QueueError> {
  const fail = (message: string) => err<QueueError>({ code: "QUEUE_CONFIG", message });
  const { dir, maxBytes = DEFAULT_MAX_BYTES, segmentBytes = DEFAULT_SEGMENT_BYTES, fsync = "batch", syncIntervalMs = 0, recentBytes = DEFAULT_RECENT_BYTES } = input;
  if (typeof dir !== "string" || dir.length === 0) return fail(`queue.dir must be a non-empty path (got ${show(dir)})`);
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) return fail(`queue.maxBytes must be an integer > 0 (got ${show(maxBytes)})`);
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES || segmentBytes > MAX_SEGMENT_BYTES) {
    return fail(`queue.segmentBytes must be an integer from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES} (got ${show(segmentBytes)})`);
  }
  // Shedding removes whole finished segments; with fewer than two there is nothing to remove.
  if (maxBytes < 2 * segmentBytes) {
    return fail(`queue.maxBytes must be at least 2 × queue.segmentBytes = ${2 * segmentBytes} (got ${maxBytes})`);
  }
  if (!FSYNC_POLICIES.includes(fsync)) return fail(`queue.fsync must be one of always, batch, never (got ${show(fsync)})`);
  if (typeof syncIntervalMs !== "number" || !(syncIntervalMs >= 0 && syncIntervalMs <= MAX_SYNC_INTERVAL_MS)) {
    return fail(`queue.syncIntervalMs must be a number of ms from 0 to ${MAX_SYNC_INTERVAL_MS} (got ${show(syncIntervalMs)})`);
  }
  if (!Number.isSafeInteger(recentBytes) || recentBytes < 0) return fail(`queue.recentBytes must be an integer >= 0 (got ${show(recentBytes)})`);
  return ok({ dir, maxBytes, segmentBytes, fsync, syncIntervalMs, recentBytes });
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
