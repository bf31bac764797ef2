/**
 * The newest durable records, kept in memory: a sink that keeps up asks for records appended a
 * moment ago, and reading them back from disk (a pread, the CRC check, the frame parse, a fresh
 * payload copy) was about 5 % of the hub's main thread at 700k samples/s. The segment files stay
 * the truth: what is not held here (older, evicted, after a restart, past a seal) is read from
 * disk as before.
 *
 * A record enters only once its append is durable (written, and fsynced per the policy), with
 * the exact offsets it has on disk, so a read served from memory returns what a read from disk
 * would: the same offsets, ids and payload bytes (the payload is a view of the frame that was
 * written). A read that runs out of held records before its limits (a seal, a frame too large to
 * hold) goes on from disk (disk-queue.ts readFrom). Bounded by frame bytes, oldest dropped
 * first; acknowledged or shed ranges are forgotten at once.
 */
import type { QueueRecord, ReadLimits, ReadResult } from "./record-reader";

export class RecentRecords {
  /** By offset, in append (so offset) order. */
  private readonly byOffset = new Map<number, { record: QueueRecord; bytes: number }>();
  private heldBytes = 0;

  constructor(private readonly maxBytes: number) {}

  get bytes(): number {
    return this.heldBytes;
  }

  get size(): number {
    return this.byOffset.size;
  }

  holds(offset: number): boolean {
    return this.byOffset.has(offset);
  }

  /**
   * Whether a frame of this size is kept at all: not with no memory, and not one larger than a
   * quarter of it, which would flush everything else out for one read.
   */
  accepts(frameBytes: number): boolean {
    return frameBytes > 0 && frameBytes <= this.maxBytes / 4;
  }

  /** A durable record; `bytes` is its frame size. Records must come in offset order. */
  add(record: QueueRecord, bytes: number): void {
    if (!this.accepts(bytes)) return;
    this.byOffset.set(record.offset, { record, bytes });
    this.heldBytes += bytes;
    while (this.heldBytes > this.maxBytes) this.dropOldest();
  }

  /**
   * Records from `from` on, within the limits, as far as memory holds them back to back; null
   * when the record at `from` is not held (read from disk instead).
   */
  read(from: number, limits: ReadLimits): ReadResult | null {
    let held = this.byOffset.get(from);
    if (held === undefined) return null;
    const stopAt = limits.stopAt ?? Number.POSITIVE_INFINITY;
    const records: QueueRecord[] = [];
    let payloadBytes = 0;
    let position = from;
    while (held !== undefined && position < stopAt) {
      const record = held.record;
      const isFull = records.length >= limits.maxRecords || (records.length > 0 && payloadBytes + record.payload.length > limits.maxBytes);
      if (isFull) break;
      records.push(record);
      payloadBytes += record.payload.length;
      position = record.nextOffset;
      held = this.byOffset.get(position);
    }
    return { records, nextOffset: position };
  }

  /** Drops every record that starts before `offset` (acknowledged). */
  forgetBelow(offset: number): void {
    for (const [at] of this.byOffset) {
      if (at >= offset) return;
      this.dropOldest();
    }
  }

  /** Drops records overlapping [start, end) (a segment shed or gone). */
  forgetOverlapping(start: number, end: number): void {
    for (const [at, held] of this.byOffset) {
      if (at < end && held.record.nextOffset > start) {
        this.byOffset.delete(at);
        this.heldBytes -= held.bytes;
      }
    }
  }

  clear(): void {
    this.byOffset.clear();
    this.heldBytes = 0;
  }

  private dropOldest(): void {
    const first = this.byOffset.entries().next();
    if (first.done) return;
    this.byOffset.delete(first.value[0]);
    this.heldBytes -= first.value[1].bytes;
  }
}
