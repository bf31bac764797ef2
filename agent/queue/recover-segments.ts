/**
 * Finds a queue's segments at open and decides where appends continue, reading as little as
 * possible so that a large backlog opens in milliseconds with bounded memory:
 *
 * - Finished segments: only their last 48 bytes (the seal). A segment without an intact seal
 *   (a write failed while sealing it, or its seal was damaged) is scanned once, streaming, to
 *   rebuild its summary.
 * - The last segment: scanned in full (it is at most segmentBytes), because a crash may have
 *   torn its tail. Damage followed by intact frames is kept and skipped later by readers;
 *   damage that runs to the end of the file is a torn write and is truncated away, so new
 *   appends follow the last intact frame.
 */
import { KIND_SEAL, SEAL_FRAME_BYTES, decodeSealPayload, framePayload, isFrameIntact, parseFrameHeader } from "./frame";
import type { QueueFile, QueueFs } from "./queue-fs";
import { createFrameScanner } from "./segment-scanner";
import { addToSummary, emptySummary, parseSegmentFileName, segmentPath, type SegmentInfo } from "./segment-info";

export interface DamageFound {
  segment: SegmentInfo;
  position: number;
  bytes: number;
  /** True when this was a torn tail that has been cut off the file. */
  truncated: boolean;
}

export interface RecoveredSegments {
  /** In offset order; all sealed except possibly the last. */
  segments: SegmentInfo[];
  /** The last segment opened for appending, or null when it is sealed (or there is none). */
  active: { info: SegmentInfo; file: QueueFile } | null;
  damage: DamageFound[];
}

/** Filesystem errors are thrown; the caller turns them into QUEUE_IO. */
export async function recoverSegments(fs: QueueFs, dir: string): Promise<RecoveredSegments> {
  const starts = (await fs.list(dir))
    .map(parseSegmentFileName)
    .filter((start): start is number => start !== null)
    .sort((a, b) => a - b);
  const segments: SegmentInfo[] = [];
  const damage: DamageFound[] = [];
  for (const start of starts.slice(0, -1)) {
    segments.push(await loadFinishedSegment(fs, segmentPath(dir, start), start, damage));
  }
  if (starts.length === 0) return { segments, active: null, damage };

  const last = await loadLastSegment(fs, segmentPath(dir, starts[starts.length - 1]), starts[starts.length - 1], damage);
  segments.push(last.info);
  if (last.info.sealed) {
    await last.file.close();
    return { segments, active: null, damage };
  }
  return { segments, active: last, damage };
}

async function loadFinishedSegment(fs: QueueFs, path: string, start: number, damage: DamageFound[]): Promise<SegmentInfo> {
  const file = await fs.open(path, "read");
  try {
    const bytes = await file.size();
    const sealed = await readSeal(file, bytes);
    if (sealed) return { start, bytes, sealed: true, ...sealed };
    const info: SegmentInfo = { start, bytes, sealed: true, ...emptySummary() };
    await scanSegment(file, info, damage);
    return info;
  } finally {
    await file.close();
  }
}

async function loadLastSegment(
  fs: QueueFs,
  path: string,
  start: number,
  damage: DamageFound[],
): Promise<{ info: SegmentInfo; file: QueueFile }> {
  const file = await fs.open(path, "update");
  try {
    const info: SegmentInfo = { start, bytes: await file.size(), sealed: false, ...emptySummary() };
    const { endsWithSeal, tornTailAt } = await scanSegment(file, info, damage);
    if (tornTailAt !== null) {
      damage[damage.length - 1].truncated = true;
      await file.truncate(tornTailAt);
      await file.sync();
      info.bytes = tornTailAt;
    }
    info.sealed = endsWithSeal;
    return { info, file };
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
}

/** The summary in the segment's trailing seal frame, or null when there is no intact seal. */
async function readSeal(file: QueueFile, fileBytes: number) {
  if (fileBytes < SEAL_FRAME_BYTES) return null;
  const buf = new Uint8Array(SEAL_FRAME_BYTES);
  if ((await file.read(buf, SEAL_FRAME_BYTES, fileBytes - SEAL_FRAME_BYTES)) !== SEAL_FRAME_BYTES) return null;
  const header = parseFrameHeader(buf, 0);
  if (!header || header.kind !== KIND_SEAL || header.frameBytes !== SEAL_FRAME_BYTES || !isFrameIntact(buf, 0, header)) return null;
  return decodeSealPayload(framePayload(buf, 0, header));
}

/**
 * Streams the whole segment into `info`'s summary, recording damage. A damaged range that runs
 * to the end of the file is reported as `tornTailAt` (not truncated here).
 */
async function scanSegment(file: QueueFile, info: SegmentInfo, damage: DamageFound[]) {
  const scanner = createFrameScanner(file, info.bytes, 0);
  let endsWithSeal = false;
  let tornTailAt: number | null = null;
  for (;;) {
    const step = await scanner.next();
    if (step.kind === "end") break;
    if (step.kind !== "corrupt") endsWithSeal = step.kind === "seal";
    if (step.kind === "record") addToSummary(info, step.header.priority, step.header.timestampMs);
    if (step.kind === "corrupt") {
      if (step.position + step.bytes >= info.bytes) tornTailAt = step.position;
      damage.push({ segment: info, position: step.position, bytes: step.bytes, truncated: false });
    }
  }
  return { endsWithSeal, tornTailAt };
}
