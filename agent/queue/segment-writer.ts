/**
 * The append path. Appends waiting when a flush starts share one write and one fdatasync (group
 * commit); with syncIntervalMs, a flush starts at most that often, so under load more appends
 * share each fdatasync (fewer syncs, less CPU and fewer disk operations per record, a few ms
 * more wait), while an append after a quiet spell is flushed at once; past segmentBytes the
 * active segment is sealed and a new one created; a failed write is cut off again (ftruncate)
 * so a full or failing disk leaves no torn frame behind, and when even that fails the next
 * append starts a new segment past the damage.
 */
import type { Clock, Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import type { ResolvedQueueConfig } from "./config";
import { describeQueueError, fsError, type QueueError } from "./errors";
import { SEAL_FRAME_BYTES, encodeSealFrame } from "./frame";
import type { QueueFs } from "./queue-fs";
import { logEnd, type ActiveSegment, type QueueState } from "./queue-state";
import { addToSummary, emptySummary, segmentEnd, segmentPath, type SegmentInfo } from "./segment-info";
import type { Serial } from "./serial";

export interface PendingAppend {
  frame: Uint8Array;
  /** The record's id, as given to append(). */
  id: string;
  priority: number;
  timestampMs: number;
  resolve(result: Result<{ offset: number }, QueueError>): void;
}

export interface WriterHooks {
  /** Sheds until `extraBytes` more fit in maxBytes; an error refuses the record. */
  makeRoom(extraBytes: number, priority: number): Promise<Result<void, QueueError>>;
  /** The disk itself is full: shed one finished segment if there is one; true if it did. */
  shedForDiskSpace(): Promise<boolean>;
  noteFailure(error: QueueError): void;
  noteSuccess(): void;
  /** Records became durable; the first of them was appended at `timestampMs`. */
  onDurable(timestampMs: number): void;
  /** One record became durable at `offset` (called in offset order, before onDurable). */
  onRecordDurable(offset: number, append: PendingAppend): void;
}

export interface SegmentWriter {
  /** Queues a frame for the next flush; its promise resolves once it is durable or failed. */
  submit(append: PendingAppend): void;
  /** Fails anything still waiting and closes the active file. Call through the queue's serial. */
  close(): Promise<void>;
}

export interface WriterDeps {
  fs: QueueFs;
  clock: Clock;
  log: Logger;
  serial: Serial;
}

export function createSegmentWriter(
  state: QueueState,
  config: ResolvedQueueConfig,
  deps: WriterDeps,
  hooks: WriterHooks,
): SegmentWriter {
  const { fs, clock, log, serial } = deps;
  const shouldSync = config.fsync !== "never";
  const syncIntervalMs = config.fsync === "batch" ? config.syncIntervalMs : 0;
  let pending: PendingAppend[] = [];
  let isFlushQueued = false;
  let lastFlushMs = Number.NEGATIVE_INFINITY;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;

  function submit(append: PendingAppend): void {
    pending.push(append);
    if (isFlushQueued) return;
    isFlushQueued = true;
    // Timers fire in whole milliseconds: a wait under half of one is not worth a timer.
    const wait = lastFlushMs + syncIntervalMs - clock.monoMs();
    if (wait >= 0.5) flushTimer = setTimeout(queueFlush, wait);
    else queueFlush();
  }

  function queueFlush(): void {
    flushTimer = undefined;
    void serial(async () => {
      isFlushQueued = false;
      lastFlushMs = clock.monoMs();
      const batch = pending;
      pending = [];
      try {
        await writeBatch(batch);
      } catch (e) {
        log.error("BUG: disk queue flush threw.", { dir: config.dir, error: e });
        const error = fsError("append", config.dir, e);
        for (const p of batch) p.resolve(err(error));
      }
    });
  }

  async function writeBatch(batch: PendingAppend[]): Promise<void> {
    let group: PendingAppend[] = [];
    let groupBytes = 0;
    const flushGroup = async () => {
      if (group.length > 0) await writeGroup(group, groupBytes);
      group = [];
      groupBytes = 0;
    };
    for (const p of batch) {
      const room = await hooks.makeRoom(groupBytes + p.frame.length + SEAL_FRAME_BYTES, p.priority);
      if (!room.ok) {
        p.resolve(room);
        continue;
      }
      if (state.active && mustRoll(state.active, groupBytes + p.frame.length)) {
        await flushGroup();
        await sealActive();
      }
      if (!state.active) {
        const opened = await openNewSegment();
        if (!opened.ok) {
          p.resolve(opened);
          continue;
        }
      }
      group.push(p);
      groupBytes += p.frame.length;
      if (config.fsync === "always") await flushGroup();
    }
    await flushGroup();
  }

  function mustRoll(segment: ActiveSegment, extraBytes: number): boolean {
    if (segment.needsRoll) return true;
    return segment.info.bytes > 0 && segment.info.bytes + extraBytes > config.segmentBytes;
  }

  async function writeGroup(group: PendingAppend[], bytes: number): Promise<void> {
    const segment = state.active;
    if (!segment) throw new Error("BUG: writeGroup without an active segment");
    const at = segment.info.bytes;
    const frames = group.map((p) => p.frame);
    let written = await writeAt(segment, frames, at, bytes);
    if (!written.ok && written.error.code === "QUEUE_DISK_FULL" && !segment.needsRoll && (await hooks.shedForDiskSpace())) {
      written = await writeAt(segment, frames, at, bytes);
    }
    if (!written.ok) {
      hooks.noteFailure(written.error);
      for (const p of group) p.resolve(written);
      return;
    }
    hooks.noteSuccess();
    let offset = segment.info.start + at;
    for (const p of group) {
      addToSummary(segment.info, p.priority, p.timestampMs);
      hooks.onRecordDurable(offset, p);
      p.resolve(ok({ offset }));
      offset += p.frame.length;
    }
    segment.info.bytes = at + bytes;
    hooks.onDurable(group[0].timestampMs);
  }

  /** Writes and (per policy) fsyncs; on failure cuts the partial write off, or marks the segment. */
  async function writeAt(segment: ActiveSegment, frames: Uint8Array[], at: number, bytes: number): Promise<Result<void, QueueError>> {
    try {
      await segment.file.write(frames, at);
      if (shouldSync) await segment.file.sync();
      return ok(undefined);
    } catch (e) {
      try {
        await segment.file.truncate(at);
      } catch {
        segment.needsRoll = true;
        state.minNextStart = Math.max(state.minNextStart, segment.info.start + at + bytes);
      }
      return err(fsError("write", segmentPath(config.dir, segment.info.start), e));
    }
  }

  async function sealActive(): Promise<void> {
    const segment = state.active;
    if (!segment) return;
    state.active = null;
    const { info, file } = segment;
    if (!segment.needsRoll) {
      const seal = encodeSealFrame(info, clock.nowMs());
      const sealed = await writeAt(segment, [seal], info.bytes, seal.length);
      if (sealed.ok) info.bytes += seal.length;
      else log.warn("Could not seal a queue segment; the next open scans it.", { reason: describeQueueError(sealed.error) });
    }
    info.sealed = true;
    state.minNextStart = Math.max(state.minNextStart, segmentEnd(info));
    await file.close().catch(() => {});
  }

  async function openNewSegment(): Promise<Result<void, QueueError>> {
    const start = logEnd(state);
    const path = segmentPath(config.dir, start);
    try {
      const file = await fs.open(path, "create");
      if (shouldSync) await fs.syncDir(config.dir);
      const info: SegmentInfo = { start, bytes: 0, sealed: false, ...emptySummary() };
      state.segments.push(info);
      state.active = { info, file, needsRoll: false };
      return ok(undefined);
    } catch (e) {
      const error = fsError("create", path, e);
      hooks.noteFailure(error);
      return err(error);
    }
  }

  async function close(): Promise<void> {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    for (const p of pending.splice(0)) p.resolve(err({ code: "QUEUE_CLOSED" }));
    await state.active?.file.close().catch(() => {});
    state.active = null;
  }

  return { submit, close };
}
