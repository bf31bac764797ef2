/**
 * What the queue remembers about each segment file without reading it: where it starts in the
 * queue's byte-offset space, how long it is, and a summary of the records in it (from the
 * segment's seal, or counted while appending / scanning).
 *
 * Segment files are named by their start offset, zero-padded to 20 decimal digits so that name
 * order is offset order: `00000000000000000000.seg`, `00000000000008388656.seg`, …
 */
import { join } from "node:path";
import type { SegmentSummary } from "./frame";

export interface SegmentInfo extends SegmentSummary {
  /** Offset of the segment's first byte; offsets of later segments are larger. */
  readonly start: number;
  /** Bytes of the file that hold checked frames (a damaged tail is cut off at open). */
  bytes: number;
  /** True once the seal frame is written (or the segment is otherwise finished): no more appends. */
  sealed: boolean;
}

const SEGMENT_NAME = /^(\d{20})\.seg$/;

export function segmentFileName(start: number): string {
  return `${String(start).padStart(20, "0")}.seg`;
}

export function segmentPath(dir: string, start: number): string {
  return join(dir, segmentFileName(start));
}

/** The start offset encoded in a segment file name, or null for any other file. */
export function parseSegmentFileName(name: string): number | null {
  const match = SEGMENT_NAME.exec(name);
  if (!match) return null;
  const start = Number(match[1]);
  return Number.isSafeInteger(start) ? start : null;
}

export function segmentEnd(segment: SegmentInfo): number {
  return segment.start + segment.bytes;
}

export function emptySummary(): SegmentSummary {
  return { records: 0, minPriority: 255, maxPriority: 0, firstTimestampMs: 0, lastTimestampMs: 0 };
}

/** Folds one record into a segment summary. */
export function addToSummary(summary: SegmentSummary, priority: number, timestampMs: number): void {
  if (summary.records === 0) summary.firstTimestampMs = timestampMs;
  summary.records += 1;
  summary.minPriority = Math.min(summary.minPriority, priority);
  summary.maxPriority = Math.max(summary.maxPriority, priority);
  summary.lastTimestampMs = timestampMs;
}
