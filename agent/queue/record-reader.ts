/**
 * Reads records in offset order across segment files, from any record boundary, within limits.
 * Seals are stepped over; damaged ranges are reported to the caller's ledger and stepped over,
 * so one bad frame costs that frame only. Missing offsets (segments shed in between) are skipped.
 */
import { frameId, framePayload } from "./frame";
import type { QueueFile } from "./queue-fs";
import { createFrameScanner, DEFAULT_CHUNK_BYTES } from "./segment-scanner";
import { segmentEnd, type SegmentInfo } from "./segment-info";

export interface QueueRecord {
  /** Where the record starts; increases with append order. */
  offset: number;
  /** Where the record ends: ack(nextOffset) acknowledges it and everything before it. */
  nextOffset: number;
  /** The caller's idempotency id (host id + sequence), as given to append(). */
  id: string;
  priority: number;
  /** Wall-clock ms when the record was appended. */
  timestampMs: number;
  payload: Uint8Array;
}

export interface ReadLimits {
  /** At least 1; the read stops before the record that would exceed it. */
  maxRecords: number;
  /** Payload bytes; the first record is returned even if it alone exceeds this. */
  maxBytes: number;
  /** Stop at this offset: no record at or after it is returned. */
  stopAt?: number;
}

export interface ReadResult {
  records: QueueRecord[];
  /**
   * Where the next read continues: the start of the first record not returned, or the end of the
   * queue. Passing it to ack() acknowledges every returned record and any seal or damaged range
   * stepped over on the way.
   */
  nextOffset: number;
}

export interface SegmentSource {
  /** Segments in offset order. */
  segments(): readonly SegmentInfo[];
  /** The open file, or null when it has vanished (the source drops and counts it; the read goes on). */
  fileFor(segment: SegmentInfo): Promise<QueueFile | null>;
  /** Called once per damaged range met; the source dedupes, counts and logs. */
  reportCorrupt(segment: SegmentInfo, position: number, bytes: number): void;
}

/**
 * File read errors are thrown; the queue turns them into QUEUE_IO. `before`: records this read
 * continues (read from memory up to `from`); they count against the limits and lead the result.
 */
export async function readRecords(source: SegmentSource, from: number, limits: ReadLimits, before: readonly QueueRecord[] = []): Promise<ReadResult> {
  const decoder = new TextDecoder();
  const stopAt = limits.stopAt ?? Number.POSITIVE_INFINITY;
  const records: QueueRecord[] = [...before];
  let payloadBytes = 0;
  for (const r of before) payloadBytes += r.payload.length;
  let position = from;

  for (;;) {
    if (position >= stopAt) return { records, nextOffset: position };
    const segment = source.segments().find((s) => segmentEnd(s) > position);
    if (!segment) return { records, nextOffset: position };
    // A gap (shed segments) holds no records: stopping inside it is stopping on a boundary.
    if (segment.start >= stopAt) return { records, nextOffset: stopAt };
    position = Math.max(position, segment.start);

    const file = await source.fileFor(segment);
    if (!file) {
      position = segmentEnd(segment);
      continue;
    }
    // A sender peeking one record at a time reads a small window, not 256 KiB per record.
    const chunk = limits.maxRecords <= 4 ? 16 * 1024 : DEFAULT_CHUNK_BYTES;
    const scanner = createFrameScanner(file, segment.bytes, position - segment.start, chunk);
    for (;;) {
      const step = await scanner.next();
      const offset = segment.start + step.position;
      if (step.kind === "end") {
        position = segmentEnd(segment);
        break;
      }
      if (offset >= stopAt) return { records, nextOffset: offset };
      if (step.kind === "corrupt") {
        source.reportCorrupt(segment, step.position, step.bytes);
        position = offset + step.bytes;
        continue;
      }
      if (step.kind === "seal") {
        position = offset + step.header.frameBytes;
        continue;
      }
      const isFull =
        records.length >= limits.maxRecords || (records.length > 0 && payloadBytes + step.header.payloadBytes > limits.maxBytes);
      if (isFull) return { records, nextOffset: offset };
      position = offset + step.header.frameBytes;
      payloadBytes += step.header.payloadBytes;
      records.push({
        offset,
        nextOffset: position,
        id: decoder.decode(frameId(step.buf, step.at, step.header)),
        priority: step.header.priority,
        timestampMs: step.header.timestampMs,
        payload: framePayload(step.buf, step.at, step.header),
      });
    }
  }
}
