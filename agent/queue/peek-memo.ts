/**
 * Remembers the record boundaries of recent peeks, so that ack() can count what it
 * acknowledges, and peek({ fromOffset }) can check its offset, without reading the records again.
 * Bounded: the most recent MAX_MEMOS peeks; anything else falls back to reading.
 */
import type { ReadResult } from "./record-reader";

const MAX_MEMOS = 16;

interface Memo {
  offsets: number[];
  nextOffsets: number[];
  nextOffset: number;
}

export interface PeekMemo {
  remember(from: number, result: ReadResult): void;
  /** True when some remembered peek started, ended, or had a record start or end at `offset`. */
  isBoundary(offset: number): boolean;
  /**
   * The record offsets in [from, upTo) if a peek from `from` covered up to `upTo` (or ended
   * before it: then `reached` is where it ended); null when nothing remembered applies.
   */
  recordsFrom(from: number, upTo: number): { offsets: number[]; reached: number } | null;
  forgetBelow(offset: number): void;
  /** Data in [start, end) is gone: memos over it would miscount. */
  forgetOverlapping(start: number, end: number): void;
}

export function createPeekMemo(): PeekMemo {
  const memos = new Map<number, Memo>();
  return {
    remember(from, result) {
      memos.delete(from);
      memos.set(from, {
        offsets: result.records.map((r) => r.offset),
        nextOffsets: result.records.map((r) => r.nextOffset),
        nextOffset: result.nextOffset,
      });
      if (memos.size > MAX_MEMOS) memos.delete(memos.keys().next().value as number);
    },
    isBoundary(offset) {
      for (const [from, memo] of memos) {
        if (from === offset || memo.nextOffset === offset) return true;
        if (memo.offsets.includes(offset) || memo.nextOffsets.includes(offset)) return true;
      }
      return false;
    },
    recordsFrom(from, upTo) {
      const memo = memos.get(from);
      if (!memo || (upTo < memo.nextOffset && !memo.nextOffsets.includes(upTo))) return null;
      return { offsets: memo.offsets.filter((o) => o < upTo), reached: Math.min(upTo, memo.nextOffset) };
    },
    forgetBelow(offset) {
      for (const from of [...memos.keys()]) if (from < offset) memos.delete(from);
    },
    forgetOverlapping(start, end) {
      for (const [from, memo] of [...memos]) if (from < end && memo.nextOffset > start) memos.delete(from);
    },
  };
}
