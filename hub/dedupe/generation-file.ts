/**
 * One generation of the dedupe window on disk: an append-only file of id hashes.
 *
 * Name: `dedupe-<startMs>.ids`, the generation's start (wall-clock ms, zero-padded to 15 digits so
 * names sort by time). Body: one record per remembered id, 17 bytes:
 *
 *   <hi: 8 lowercase hex digits><lo: 8 lowercase hex digits>\n      (Hash64 of "tenant\nid")
 *
 * Ordering and crashes: records are appended in remember() order with synchronous write(2)s (a
 * 17-byte page-cache copy; an async write waited for the runtime's small fs thread pool behind
 * the disk queue's fdatasyncs); ids that arrive while the file is being opened share one write.
 * A record whose
 * write(2) returned is in the page cache and survives kill -9; it survives power loss once the
 * periodic fdatasync after it ran. A crash can leave a torn last record (no newline, or zeros
 * after a power loss): readRecords() skips any line that is not exactly 16 hex digits and counts
 * it. A file is never appended to by a later process (each start opens a new generation), so
 * a torn tail is never followed by good records.
 */
import { writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { ioError, type DedupeError } from "./dedupe-config";

export const RECORD_BYTES = 17;

const NAME_PATTERN = /^dedupe-(\d{15})\.ids$/;
const NEWLINE = 0x0a;
const HEX_DIGITS = "0123456789abcdef";
/** Byte → hex digit value, or -1. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d++) HEX_VALUE[HEX_DIGITS.charCodeAt(d)] = d;

export function generationFileName(startMs: number): string {
  return `dedupe-${String(startMs).padStart(15, "0")}.ids`;
}

/** The start of a generation file's name, or undefined for any other file. */
export function parseGenerationFileName(name: string): number | undefined {
  const m = NAME_PATTERN.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Calls `onRecord` for each well-formed record; counts the lines that are not. */
export function readRecords(bytes: Uint8Array, onRecord: (hi: number, lo: number) => void): { records: number; corrupt: number } {
  let records = 0;
  let corrupt = 0;
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    const torn = end < 0;
    if (torn) end = bytes.length;
    const hi = end - start === RECORD_BYTES - 1 && !torn ? hexWord(bytes, start) : -1;
    const lo = hi >= 0 ? hexWord(bytes, start + 8) : -1;
    if (lo >= 0) {
      onRecord(hi, lo);
      records++;
    } else corrupt++;
    start = end + 1;
  }
  return { records, corrupt };
}

/** The 32-bit value of 8 hex digits at `at`, or -1. */
function hexWord(bytes: Uint8Array, at: number): number {
  let v = 0;
  for (let k = 0; k < 8; k++) {
    const d = HEX_VALUE[bytes[at + k]];
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

function writeRecord(out: Uint8Array, at: number, hi: number, lo: number): void {
  for (let k = 7; k >= 0; k--) {
    out[at + k] = HEX_DIGITS.charCodeAt(hi & 15);
    out[at + 8 + k] = HEX_DIGITS.charCodeAt(lo & 15);
    hi >>>= 4;
    lo >>>= 4;
  }
  out[at + 16] = NEWLINE;
}

type Waiter = (result: Result<void, DedupeError>) => void;

/** Appends records to one generation file with group commit and a periodic fdatasync. */
export class GenerationAppender {
  private handle: FileHandle | undefined;
  /** hi, lo pairs waiting for the next write. */
  private pending: number[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private isDirty = false;
  /** The timer's fdatasync while it runs, so close() does not close the file under it. */
  private timedSync: Promise<unknown> | undefined;

  constructor(
    readonly path: string,
    private readonly syncEveryMs: number,
    private readonly log: Logger,
  ) {}

  /** Resolves once the record was written with write(2) (and fdatasync'ed when syncEveryMs is 0). */
  append(hi: number, lo: number): Promise<Result<void, DedupeError>> {
    this.pending.push(hi, lo);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.flushing ??= this.flushPending();
    });
  }

  /** Writes what is pending, fdatasyncs and closes the file. */
  async close(): Promise<void> {
    await this.flushing;
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    await this.timedSync;
    const handle = this.handle;
    this.handle = undefined;
    if (handle === undefined) return;
    if (this.isDirty) await this.sync(handle);
    await handle.close().catch(() => undefined);
  }

  private async flushPending(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const pairs = this.pending;
        const waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        let result = await this.write(pairs);
        if (result.ok) {
          this.isDirty = true;
          if (this.syncEveryMs === 0) result = await this.sync(this.handle!);
          else this.scheduleSync();
        }
        for (const resolve of waiters) resolve(result);
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(pairs: number[]): Promise<Result<void, DedupeError>> {
    const bytes = new Uint8Array((pairs.length / 2) * RECORD_BYTES);
    for (let k = 0; k < pairs.length; k += 2) writeRecord(bytes, (k / 2) * RECORD_BYTES, pairs[k], pairs[k + 1]);
    try {
      this.handle ??= await open(this.path, "a");
      for (let offset = 0; offset < bytes.length; ) {
        offset += writeSync(this.handle.fd, bytes, offset, bytes.length - offset, null);
      }
      return ok(undefined);
    } catch (e) {
      return err(ioError("write", this.path, e));
    }
  }

  private async sync(handle: FileHandle): Promise<Result<void, DedupeError>> {
    try {
      this.isDirty = false;
      await handle.datasync();
      return ok(undefined);
    } catch (e) {
      const error = ioError("fdatasync", this.path, e);
      this.log.warn("Could not fdatasync the dedupe window.", { path: this.path, errno: error.code === "DEDUPE_IO" ? error.errno : "" });
      return err(error);
    }
  }

  private scheduleSync(): void {
    if (this.syncTimer !== undefined) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      const handle = this.handle;
      if (handle === undefined || !this.isDirty) return;
      this.timedSync = this.sync(handle).finally(() => (this.timedSync = undefined));
    }, this.syncEveryMs);
    this.syncTimer.unref?.();
  }
}
