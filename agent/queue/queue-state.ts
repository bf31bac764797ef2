/**
 * Where a queue's data is, in memory: its segments in offset order, the segment open for
 * appending, and how far the sink has acknowledged. Plus the questions every part of the queue
 * asks of it (where does the log end, how much is pending, which segment holds the ack position).
 */
import type { QueueFile } from "./queue-fs";
import { segmentEnd, type SegmentInfo } from "./segment-info";

export interface ActiveSegment {
  info: SegmentInfo;
  file: QueueFile;
  /** A failed write could not be undone: the file's tail is unknown, so start a new segment. */
  needsRoll: boolean;
}

export interface QueueState {
  /** In offset order; possibly with gaps where segments were shed. */
  segments: SegmentInfo[];
  /** The last segment, when it is open for appending. */
  active: ActiveSegment | null;
  /** Every record before this offset is acknowledged. */
  ackOffset: number;
  /** Records acknowledged inside the head segment (the one holding ackOffset). */
  headAcked: number;
  /** New segments start at or after this: past the end of any file written or removed. */
  minNextStart: number;
}

/** The offset the next record would get at the latest: the end of the queue. */
export function logEnd(state: QueueState): number {
  const last = state.segments[state.segments.length - 1];
  return Math.max(last ? segmentEnd(last) : 0, state.minNextStart);
}

/** The segment holding the ack position: the records of it before that position are acked. */
export function headSegment(state: QueueState): SegmentInfo | undefined {
  const { segments, active, ackOffset } = state;
  return (
    segments.find((s) => s.start <= ackOffset && ackOffset < segmentEnd(s)) ??
    (active && segmentEnd(active.info) === ackOffset ? active.info : undefined)
  );
}

/** The segment that will hold `offset` as its ack position, by the same rule. */
export function segmentHolding(state: QueueState, offset: number): SegmentInfo | undefined {
  return headSegment({ ...state, ackOffset: offset });
}

export function unackedRecordsIn(state: QueueState, segment: SegmentInfo, head = headSegment(state)): number {
  if (segment === head) return Math.max(0, segment.records - state.headAcked);
  return segmentEnd(segment) <= state.ackOffset ? 0 : segment.records;
}

export function bytesOnDisk(state: QueueState): number {
  return state.segments.reduce((sum, s) => sum + s.bytes, 0);
}

export function pendingTotals(state: QueueState): { records: number; bytes: number } {
  const head = headSegment(state);
  let records = 0;
  for (const s of state.segments) records += unackedRecordsIn(state, s, head);
  return { records, bytes: pendingBytes(state) };
}

/** Bytes of the segments after the ack position (frames and seals), without counting records. */
export function pendingBytes(state: QueueState): number {
  let bytes = 0;
  for (const s of state.segments) bytes += Math.max(0, segmentEnd(s) - Math.max(s.start, state.ackOffset));
  return bytes;
}

/** Drops a segment from the state (its file is already gone). */
export function forgetSegment(state: QueueState, segment: SegmentInfo): void {
  const wasHead = segment === headSegment(state);
  state.segments.splice(state.segments.indexOf(segment), 1);
  state.minNextStart = Math.max(state.minNextStart, segmentEnd(segment));
  if (wasHead) state.headAcked = 0;
}
