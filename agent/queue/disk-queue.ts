/**
 * A durable, append-only queue of opaque records on local disk: one per sink. append() resolves
 * once the record is durable (per the fsync policy); the sink peek()s records from the oldest
 * unacknowledged one, delivers them, and ack()s; only acknowledged data is deleted.
 *
 * ## Files (one directory per queue)
 *
 *   00000000000000000000.seg   segments, named by the offset of their first byte (20 digits)
 *   00000000000008388656.seg   … each at most segmentBytes of records plus a 48-byte seal
 *   ack.checkpoint             how far the sink has acknowledged (checkpoint.ts)
 *
 * Offsets are byte positions in one logical stream: a segment starting at S holds offsets
 * [S, S + file size), and the next segment starts where the previous one ended (or later, when a
 * write failed half-way). A record's offset is where its frame starts.
 *
 * ## Record frame (frame.ts), little-endian, no padding
 *
 *   off  len  field
 *    0    2   magic          0xE7 0x51
 *    2    1   version        1
 *    3    1   kind           1 = record, 2 = seal
 *    4    1   priority       0 = most important … 255
 *    5    1   reserved       0
 *    6    2   idBytes        u16, ≤ 1024
 *    8    4   payloadBytes   u32
 *   12    8   timestampMs    u64, wall clock at append
 *   20    4   crc32          CRC-32 (IEEE, zlib.crc32) of bytes [0, 20) ++ id ++ payload
 *   24    idBytes            id, UTF-8: host id + sequence, the sink's idempotency key
 *   ..    payloadBytes       payload
 *
 * A segment that is finished ends with a seal frame (kind 2, 24-byte payload: record count,
 * min/max priority, first/last timestamp), so opening reads 48 bytes per finished segment and
 * scans only the last segment: a 500 MiB backlog opens in milliseconds with bounded memory.
 *
 * ## Ordering and delivery
 *
 * - Offsets increase in the order append() was called; peek() returns records in offset order.
 * - The newest durable records (recentBytes, default 1 MiB) are also kept in memory, and a peek
 *   that starts at one of them is served from there, going on from disk only where memory stops
 *   (recent-records.ts): a sink that keeps up reads nothing back. The files stay the truth.
 * - Delivery is at-least-once. ack(offset) is durable (checkpoint written, fsynced unless
 *   fsync = "never") before it resolves; after a restart peek() starts at the checkpoint, so a
 *   record is replayed at most once more per crash, and only if its ack had not resolved.
 * - Shedding (maxBytes) deletes whole finished segments, the least important and oldest first
 *   (shed-policy.ts); surviving records keep their order and offsets, with a gap between.
 *
 * ## What a crash leaves behind
 *
 * - Mid-append: the last segment ends in a partial frame (or zeros after power loss). Open scans
 *   the last segment, truncates the torn tail, counts it as dropped "corrupt" and logs the file
 *   and position. Its append had not resolved, so no accepted record is lost.
 * - Mid-seal: the torn seal is that same torn tail; the segment becomes appendable again.
 * - Between sealing and creating the next segment: the last segment is sealed; the next append
 *   creates a new one.
 * - Mid-checkpoint write: the other checkpoint slot still holds the previous ack.
 * - Between checkpoint and deleting acked segments: open deletes them.
 * - Damage anywhere else (bit rot, a bad sector): readers skip to the next intact frame, so
 *   only the damaged record is lost; it is counted and logged once per open.
 */
import type { Clock, Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import { openCheckpoint, type CheckpointFile } from "./checkpoint";
import { parseQueueConfig, type DiskQueueConfig, type FsyncPolicy, type ResolvedQueueConfig } from "./config";
import { describeQueueError, fsError, type QueueError } from "./errors";
import { MAX_ID_BYTES, encodeRecordFrame, framePayload, parseFrameHeader } from "./frame";
import { createPeekMemo } from "./peek-memo";
import { createHealthTracker, type QueueHealth } from "./queue-health";
import { nodeQueueFs, type QueueFile, type QueueFs } from "./queue-fs";
import {
  bytesOnDisk,
  forgetSegment,
  headSegment,
  logEnd,
  pendingBytes,
  pendingTotals,
  segmentHolding,
  unackedRecordsIn,
  type QueueState,
} from "./queue-state";
import { RecentRecords } from "./recent-records";
import { readRecords, type QueueRecord, type ReadLimits, type ReadResult, type SegmentSource } from "./record-reader";
import { recoverSegments, type RecoveredSegments } from "./recover-segments";
import { createSegmentWriter } from "./segment-writer";
import { createSerial } from "./serial";
import { segmentEnd, segmentPath, type SegmentInfo } from "./segment-info";
import { pickSegmentToShed, type ShedReason } from "./shed-policy";

export type { QueueRecord, ReadResult as PeekResult, QueueError, QueueHealth, DiskQueueConfig, FsyncPolicy };

export interface DiskQueueDeps {
  clock: Clock;
  log: Logger;
  /** Defaults to the real filesystem; tests inject failures here. */
  fs?: QueueFs;
}

export interface AppendOptions {
  /** Idempotency id, e.g. `${hostId}/${sequence}`; 1 to 1024 UTF-8 bytes. */
  id: string;
  /** 0 (default) = most important; larger = shed first. 1 verbose metrics, 2 logs. */
  priority?: number;
}

export interface PeekOptions {
  /** Default 1000; at least 1. */
  maxRecords?: number;
  /** Payload bytes; default 1 MiB. At least one record is returned whatever its size. */
  maxBytes?: number;
  /** Read past the ack position (pipelining): a nextOffset from an earlier peek. */
  fromOffset?: number;
}

export type DropReason = "corrupt" | "full_rejected" | ShedReason;

export interface QueueStats {
  recordsPending: number;
  bytesPending: number;
  bytesOnDisk: number;
  segments: number;
  /** Age of the oldest unacknowledged record by the clock; 0 when empty. */
  oldestRecordAgeMs: number;
  ackOffset: number;
  endOffset: number;
  /** Records lost, by reason ("corrupt" counts damaged ranges, normally one record each). */
  dropped: Record<DropReason, number>;
}

export interface DiskQueue {
  /** Resolves once the record is durable per the fsync policy, with its offset; never rejects. */
  append(payload: Uint8Array, options: AppendOptions): Promise<Result<{ offset: number }, QueueError>>;
  /** Records from the oldest unacknowledged one (or fromOffset), without removing them. */
  peek(options?: PeekOptions): Promise<Result<ReadResult, QueueError>>;
  /** Acknowledges every record before `upToOffset` (a record's or a peek's nextOffset), durably. */
  ack(upToOffset: number): Promise<Result<void, QueueError>>;
  stats(): QueueStats;
  /** stats().bytesPending alone, without building the rest: cheap enough for every request. */
  bytesPending(): number;
  health(): QueueHealth;
  /** Flushes appends already made, then releases the files. Later calls return QUEUE_CLOSED. */
  close(): Promise<void>;
}

const DEFAULT_PEEK_RECORDS = 1000;
const DEFAULT_PEEK_BYTES = 1024 * 1024;
const ACK_WALK_RECORDS = 4096;
const ACK_WALK_BYTES = 4 * 1024 * 1024;

export async function openDiskQueue(input: DiskQueueConfig, deps: DiskQueueDeps): Promise<Result<DiskQueue, QueueError>> {
  const parsed = parseQueueConfig(input);
  if (!parsed.ok) return parsed;
  const config = parsed.value;
  const fs = deps.fs ?? nodeQueueFs;
  let checkpoint: CheckpointFile | undefined;
  try {
    await fs.mkdirp(config.dir);
    checkpoint = await openCheckpoint(fs, config.dir);
    const recovered = await recoverSegments(fs, config.dir);
    return ok(await startQueue(config, { ...deps, fs }, checkpoint, recovered));
  } catch (e) {
    await checkpoint?.close().catch(() => {});
    const error = fsError("open", config.dir, e);
    deps.log.error("Could not open the disk queue.", { dir: config.dir, error: describeQueueError(error) });
    return err(error);
  }
}

async function startQueue(
  config: ResolvedQueueConfig,
  deps: Required<DiskQueueDeps>,
  checkpoint: CheckpointFile,
  recovered: RecoveredSegments,
): Promise<DiskQueue> {
  const { clock, log, fs } = deps;
  const { dir } = config;
  const serial = createSerial();
  const health = createHealthTracker(clock);
  const peekMemo = createPeekMemo();
  const recent = new RecentRecords(config.recentBytes);
  const dropped: Record<DropReason, number> = { corrupt: 0, full_low_priority: 0, full: 0, full_rejected: 0, disk_full: 0 };
  /** Offsets of damaged ranges already counted, so re-reading them does not count them again. */
  const countedCorrupt = new Set<number>();
  const state: QueueState = {
    segments: recovered.segments,
    active: recovered.active && { ...recovered.active, needsRoll: false },
    ackOffset: checkpoint.loaded.ackOffset,
    headAcked: 0,
    minNextStart: 0,
  };
  let reader: { start: number; file: QueueFile } | null = null;
  /** Append time of the oldest unacknowledged record; null when there is none. */
  let headTimestampMs: number | null = null;
  let isClosing = false;

  const writer = createSegmentWriter(state, config, { fs, clock, log, serial }, {
    makeRoom,
    shedForDiskSpace,
    noteFailure,
    noteSuccess,
    onDurable: (timestampMs) => {
      headTimestampMs ??= timestampMs;
    },
    onRecordDurable: (offset, p) => {
      // Checked first: a frame memory would not keep is not parsed into a record either.
      const header = recent.accepts(p.frame.length) ? parseFrameHeader(p.frame, 0) : null;
      if (header === null) return;
      const payload = framePayload(p.frame, 0, header);
      recent.add({ offset, nextOffset: offset + p.frame.length, id: p.id, priority: p.priority, timestampMs: p.timestampMs, payload }, p.frame.length);
    },
  });

  // ---- health and damage --------------------------------------------------------------------

  function noteFailure(error: QueueError): void {
    const reason = describeQueueError(error);
    if (health.degrade(reason)) log.error("Disk queue operation failed; the queue is degraded.", { dir, code: error.code, reason });
  }

  function noteSuccess(): void {
    if (health.recover()) log.info("Disk queue writes recovered.", { dir });
  }

  function reportCorrupt(segment: SegmentInfo, position: number, bytes: number, truncated = false): void {
    const offset = segment.start + position;
    if (countedCorrupt.has(offset)) return;
    countedCorrupt.add(offset);
    dropped.corrupt += 1;
    const file = segmentPath(dir, segment.start);
    const msg = truncated ? "Truncated a torn record at the end of a queue segment." : "Skipped a damaged queue record.";
    log.warn(msg, { file, position, bytes });
  }

  // ---- reading ------------------------------------------------------------------------------

  const source: SegmentSource = {
    segments: () => state.segments,
    fileFor: openForReading,
    reportCorrupt: (segment, position, bytes) => reportCorrupt(segment, position, bytes),
  };

  /**
   * Records from `from`, exactly as a read from disk returns them: from memory while it holds
   * them back to back (the newest records), the rest from disk (past a seal, or older records).
   */
  async function readFrom(from: number, limits: ReadLimits): Promise<ReadResult> {
    const held = recent.read(from, limits);
    if (held === null) return readRecords(source, from, limits);
    const end = Math.min(limits.stopAt ?? Number.POSITIVE_INFINITY, logEnd(state));
    // Memory stopped on a limit (the next record is held but did not fit), or at the end.
    if (held.nextOffset >= end || recent.holds(held.nextOffset)) return held;
    // Otherwise the disk goes on: past a seal (also when full: a read ends after the seal it
    // meets), or to records memory no longer holds.
    return readRecords(source, held.nextOffset, limits, held.records);
  }

  async function openForReading(segment: SegmentInfo): Promise<QueueFile | null> {
    if (state.active?.info === segment) return state.active.file;
    if (reader?.start === segment.start) return reader.file;
    await closeReader();
    try {
      reader = { start: segment.start, file: await fs.open(segmentPath(dir, segment.start), "read") };
      return reader.file;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
      const lost = unackedRecordsIn(state, segment);
      forgetSegment(state, segment);
      peekMemo.forgetOverlapping(segment.start, segmentEnd(segment));
      recent.forgetOverlapping(segment.start, segmentEnd(segment));
      dropped.corrupt += lost;
      log.warn("A queue segment vanished from disk; skipping it.", { file: segmentPath(dir, segment.start), records: lost });
      return null;
    }
  }

  async function closeReader(): Promise<void> {
    const open = reader;
    reader = null;
    await open?.file.close().catch(() => {});
  }

  async function refreshHeadTimestamp(): Promise<void> {
    try {
      const next = await readFrom(state.ackOffset, { maxRecords: 1, maxBytes: 0 });
      headTimestampMs = next.records[0]?.timestampMs ?? null;
    } catch {
      // Reading fails again at the next peek and is reported there; the age stays as it was.
    }
  }

  // ---- removing segments --------------------------------------------------------------------

  async function removeSegment(segment: SegmentInfo): Promise<Result<void, QueueError>> {
    const path = segmentPath(dir, segment.start);
    if (reader?.start === segment.start) await closeReader();
    try {
      await fs.remove(path);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") return err(fsError("remove", path, e));
    }
    forgetSegment(state, segment);
    return ok(undefined);
  }

  async function shedSegment(segment: SegmentInfo, reason: ShedReason): Promise<Result<void, QueueError>> {
    const lost = unackedRecordsIn(state, segment);
    const wasHead = segment === headSegment(state);
    const removed = await removeSegment(segment);
    if (!removed.ok) {
      noteFailure(removed.error);
      return removed;
    }
    peekMemo.forgetOverlapping(segment.start, segmentEnd(segment));
    recent.forgetOverlapping(segment.start, segmentEnd(segment));
    dropped[reason] += lost;
    log.warn("Shed a queue segment to stay within bounds.", { file: segmentPath(dir, segment.start), reason, records: lost });
    if (wasHead) await refreshHeadTimestamp();
    return ok(undefined);
  }

  /** Sheds until `extraBytes` more fit in maxBytes, never trading away more important data. */
  async function makeRoom(extraBytes: number, priority: number): Promise<Result<void, QueueError>> {
    while (bytesOnDisk(state) + extraBytes > config.maxBytes) {
      const decision = pickSegmentToShed(state.segments, priority);
      if (decision.kind !== "shed") {
        dropped.full_rejected += 1;
        const message = `queue at maxBytes ${config.maxBytes} holds only data more important than priority ${priority}`;
        return err({ code: "QUEUE_FULL", message });
      }
      const shed = await shedSegment(decision.segment, decision.reason);
      if (!shed.ok) return shed;
    }
    return ok(undefined);
  }

  /** The disk (not the budget) is full: give up the least important finished segment. */
  async function shedForDiskSpace(): Promise<boolean> {
    const decision = pickSegmentToShed(state.segments, null);
    return decision.kind === "shed" && (await shedSegment(decision.segment, decision.reason)).ok;
  }

  async function deleteAckedSegments(): Promise<void> {
    for (const segment of state.segments.filter((s) => s.sealed && segmentEnd(s) <= state.ackOffset)) {
      const removed = await removeSegment(segment);
      if (removed.ok) continue;
      log.warn("Could not delete an acknowledged queue segment; will retry.", { reason: describeQueueError(removed.error) });
    }
  }

  // ---- the public calls ---------------------------------------------------------------------

  function append(payload: Uint8Array, options: AppendOptions): Promise<Result<{ offset: number }, QueueError>> {
    if (isClosing) return Promise.resolve(err({ code: "QUEUE_CLOSED" }));
    const invalid = checkRecord(payload, options);
    if (invalid) return Promise.resolve(err(invalid));
    const priority = options.priority ?? 0;
    const timestampMs = clock.nowMs();
    const frame = encodeRecordFrame({ id: Buffer.from(options.id, "utf8"), priority, timestampMs, payload });
    if (frame.length > config.segmentBytes) {
      return Promise.resolve(err({ code: "QUEUE_RECORD_TOO_LARGE", frameBytes: frame.length, maxFrameBytes: config.segmentBytes }));
    }
    return new Promise((resolve) => writer.submit({ frame, id: options.id, priority, timestampMs, resolve }));
  }

  /** Offsets a read may start from: ones the queue handed out, segment starts, and gaps. */
  function isReadableFrom(offset: number): boolean {
    if (offset < state.ackOffset || offset > logEnd(state)) return false;
    if (offset === state.ackOffset || offset === logEnd(state) || peekMemo.isBoundary(offset)) return true;
    return !state.segments.some((s) => s.start < offset && offset < segmentEnd(s));
  }

  function peek(options: PeekOptions = {}): Promise<Result<ReadResult, QueueError>> {
    if (isClosing) return Promise.resolve(err({ code: "QUEUE_CLOSED" }));
    // Limits only bound the batch: out-of-range values are clamped rather than refused.
    const maxRecords = Math.max(1, Math.floor(options.maxRecords ?? DEFAULT_PEEK_RECORDS) || 1);
    const maxBytes = Math.max(0, options.maxBytes ?? DEFAULT_PEEK_BYTES) || 0;
    return serial(async () => {
      const from = options.fromOffset ?? state.ackOffset;
      if (!isReadableFrom(from)) {
        const message = `peek fromOffset ${from} is not a record boundary at or after the ack position ${state.ackOffset}`;
        return err<QueueError>({ code: "QUEUE_BAD_OFFSET", message });
      }
      try {
        const result = await readFrom(from, { maxRecords, maxBytes });
        peekMemo.remember(from, result);
        return ok(result);
      } catch (e) {
        const error = fsError("read", dir, e);
        noteFailure(error);
        return err(error);
      }
    });
  }

  /** Counts records in [ackOffset, upTo), and those at or after `headStart`; null if upTo is not a boundary. */
  async function countAcked(upTo: number, headStart: number): Promise<{ total: number; inHead: number } | null> {
    let position = state.ackOffset;
    let total = 0;
    let inHead = 0;
    while (position < upTo) {
      const remembered = peekMemo.recordsFrom(position, upTo);
      const step = remembered ?? (await walkRecords(position, upTo));
      total += step.offsets.length;
      inHead += step.offsets.filter((o) => o >= headStart).length;
      if (step.reached === position) break;
      position = step.reached;
    }
    return position === upTo ? { total, inHead } : null;
  }

  async function walkRecords(from: number, upTo: number): Promise<{ offsets: number[]; reached: number }> {
    const walked = await readFrom(from, { maxRecords: ACK_WALK_RECORDS, maxBytes: ACK_WALK_BYTES, stopAt: upTo });
    return { offsets: walked.records.map((r) => r.offset), reached: walked.nextOffset };
  }

  function ack(upTo: number): Promise<Result<void, QueueError>> {
    if (isClosing) return Promise.resolve(err({ code: "QUEUE_CLOSED" }));
    return serial(async () => {
      if (!Number.isSafeInteger(upTo) || upTo < state.ackOffset || upTo > logEnd(state)) {
        const message = `ack offset ${upTo} is outside [${state.ackOffset}, ${logEnd(state)}]`;
        return err<QueueError>({ code: "QUEUE_BAD_OFFSET", message });
      }
      if (upTo === state.ackOffset) return ok(undefined);
      const oldHead = headSegment(state);
      const newHead = segmentHolding(state, upTo);
      let counted: { total: number; inHead: number } | null;
      try {
        counted = await countAcked(upTo, newHead?.start ?? Number.POSITIVE_INFINITY);
      } catch (e) {
        const error = fsError("read", dir, e);
        noteFailure(error);
        return err(error);
      }
      if (!counted) return err<QueueError>({ code: "QUEUE_BAD_OFFSET", message: `ack offset ${upTo} is not a record boundary` });
      const headAcked = newHead ? (newHead === oldHead ? state.headAcked : 0) + counted.inHead : 0;
      try {
        await checkpoint.write(upTo, headAcked, config.fsync !== "never");
      } catch (e) {
        const error = fsError("write", checkpoint.path, e);
        noteFailure(error);
        return err(error);
      }
      state.ackOffset = upTo;
      state.headAcked = headAcked;
      peekMemo.forgetBelow(upTo);
      recent.forgetBelow(upTo);
      for (const offset of [...countedCorrupt]) if (offset < upTo) countedCorrupt.delete(offset);
      await deleteAckedSegments();
      await refreshHeadTimestamp();
      return ok(undefined);
    });
  }

  function stats(): QueueStats {
    const pending = pendingTotals(state);
    return {
      recordsPending: pending.records,
      bytesPending: pending.bytes,
      bytesOnDisk: bytesOnDisk(state),
      segments: state.segments.length,
      oldestRecordAgeMs: headTimestampMs === null || pending.records === 0 ? 0 : Math.max(0, clock.nowMs() - headTimestampMs),
      ackOffset: state.ackOffset,
      endOffset: logEnd(state),
      dropped: { ...dropped },
    };
  }

  async function close(): Promise<void> {
    if (isClosing) return;
    isClosing = true;
    await serial(async () => {
      await writer.close();
      recent.clear();
      await closeReader();
      await checkpoint.close().catch(() => {});
    });
  }

  // ---- start-up -----------------------------------------------------------------------------

  function adoptRecovered(): void {
    for (const d of recovered.damage) reportCorrupt(d.segment, d.position, d.bytes, d.truncated);
    if (checkpoint.loaded.damaged) {
      log.warn("Queue checkpoint unreadable; replaying from the oldest record.", { file: checkpoint.path });
    }
    const last = state.segments[state.segments.length - 1];
    if (!last) {
      state.minNextStart = state.ackOffset; // empty: new offsets continue after acknowledged ones
      return;
    }
    if (state.ackOffset > segmentEnd(last)) {
      // Only after power loss with fsync "never": data the sink had acknowledged is gone too.
      const endOffset = segmentEnd(last);
      const fields = { dir, ackOffset: state.ackOffset, endOffset };
      log.warn("Queue checkpoint is past the end of the data; data was lost before the last stop.", fields);
      state.ackOffset = segmentEnd(last);
      state.headAcked = headSegment(state)?.records ?? 0;
      return;
    }
    const head = headSegment(state);
    state.headAcked = head ? Math.min(checkpoint.loaded.headAcked, head.records) : 0;
  }

  adoptRecovered();
  await serial(async () => {
    await deleteAckedSegments();
    await refreshHeadTimestamp();
  });

  return { append, peek, ack, stats, bytesPending: () => pendingBytes(state), health: () => health.current(), close };
}

/** Why a record cannot be queued, or null. */
function checkRecord(payload: Uint8Array, options: AppendOptions): QueueError | null {
  const invalid = (message: string): QueueError => ({ code: "QUEUE_INVALID_RECORD", message });
  if (!(payload instanceof Uint8Array)) return invalid("payload must be a Uint8Array");
  const priority = options.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > 255) {
    return invalid(`priority must be an integer from 0 to 255 (got ${priority})`);
  }
  if (typeof options.id !== "string" || options.id.length === 0) return invalid("id must be a non-empty string");
  const idBytes = Buffer.byteLength(options.id, "utf8");
  if (idBytes > MAX_ID_BYTES) return invalid(`id must be at most ${MAX_ID_BYTES} UTF-8 bytes (got ${idBytes})`);
  return null;
}
