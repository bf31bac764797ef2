/**
 * Dedupe window configuration and its errors: parseDedupeConfig() names the field and the value
 * in every error (STYLE §5).
 */
import { err, ok, type Result } from "../../agent/core/result";

export interface DedupeWindowConfig {
  /** Directory of the generation files; one per hub. */
  dir: string;
  /** An id is remembered for at least this long. Default 900 (15 min). */
  windowSec?: number;
  /** Ids held in memory at most; past it the oldest generation goes early. Default 2,000,000. */
  maxIds?: number;
  /**
   * fdatasync of the current file at most this long after a write (survives power loss from
   * then on; write(2) alone already survives kill -9). 0: before remember() resolves. Default 1000.
   */
  syncEveryMs?: number;
}

export type ResolvedDedupeWindowConfig = Required<DedupeWindowConfig>;

export type DedupeError =
  | { code: "DEDUPE_CONFIG"; message: string }
  /** A filesystem failure; `errno` is the runtime's code (ENOSPC, EIO, EACCES …). */
  | { code: "DEDUPE_IO"; op: string; path: string; errno: string; message: string };

export const DEDUPE_DEFAULTS = { windowSec: 900, maxIds: 2_000_000, syncEveryMs: 1000 } as const;

export function parseDedupeConfig(input: DedupeWindowConfig, field = "dedupe"): Result<ResolvedDedupeWindowConfig, DedupeError> {
  const fail = (message: string) => err<DedupeError>({ code: "DEDUPE_CONFIG", message });
  const { dir, windowSec = DEDUPE_DEFAULTS.windowSec, maxIds = DEDUPE_DEFAULTS.maxIds, syncEveryMs = DEDUPE_DEFAULTS.syncEveryMs } = input;
  if (typeof dir !== "string" || dir === "") return fail(`${field}.dir must be a non-empty path (got ${show(dir)})`);
  if (!Number.isSafeInteger(windowSec) || windowSec < 2) return fail(`${field}.windowSec must be an integer ≥ 2 (got ${show(windowSec)})`);
  if (!Number.isSafeInteger(maxIds) || maxIds < 3 || maxIds > 1 << 30) {
    return fail(`${field}.maxIds must be an integer from 3 to ${1 << 30} (got ${show(maxIds)})`);
  }
  if (!Number.isSafeInteger(syncEveryMs) || syncEveryMs < 0) return fail(`${field}.syncEveryMs must be an integer ≥ 0 (got ${show(syncEveryMs)})`);
  return ok({ dir, windowSec, maxIds, syncEveryMs });
}

/** Turns a thrown filesystem error into DEDUPE_IO. */
export function ioError(op: string, path: string, cause: unknown): DedupeError {
  const errno = (cause as { code?: unknown } | null)?.code;
  return {
    code: "DEDUPE_IO",
    op,
    path,
    errno: typeof errno === "string" ? errno : "UNKNOWN",
    message: cause instanceof Error ? cause.message : String(cause),
  };
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}
