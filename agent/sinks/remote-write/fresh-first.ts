/**
 * Fresh-first delivery (opt-in, `order: fresh-first`): while a sink's queue holds a backlog, the
 * records of each new flush are sent at once, ahead of it, and the backlog drains oldest first
 * behind them. Only for stores that accept out-of-order samples (VictoriaMetrics, Mimir/AMP
 * with an out-of-order window, Prometheus with out_of_order_time_window): remote write 1.0
 * requires per-series timestamp order, which sending ahead breaks.
 *
 *   append ─▶ offer(record) ── queue behind? ── yes ─▶ fresh (memory) ─▶ sent ahead ─▶ sentAhead
 *   drain: peek at the ack position ─▶ in sentAhead? ── yes ─▶ ack without sending
 *
 * The queue acknowledges in order only (ack(upTo)), so a record delivered ahead stays queued
 * until the drain reaches it; `sentAhead` (offsets, in memory) makes the drain skip it then.
 * After a crash the set is gone and those records are sent again: at-least-once, as everywhere
 * (the hub drops the repeat by its batch id; a store keeps identical samples once).
 *
 * Bounds: a record is fresh for `freshForMs` after its append (two flush intervals) and at most
 * MAX_FRESH records / MAX_FRESH_BYTES are held; older ones are simply left to the drain. At most
 * MAX_SENT_AHEAD offsets are remembered; past that, nothing more is sent ahead.
 */

/** A record as just appended to the sink's queue. */
export interface AppendedRecord {
  offset: number;
  id: string;
  payload: Uint8Array;
}

interface FreshRecord extends AppendedRecord {
  appendedAtMs: number;
}

const MAX_FRESH = 256;
const MAX_FRESH_BYTES = 16 * 1024 * 1024;
const MAX_SENT_AHEAD = 100_000;

export class FreshFirstTracker {
  private fresh: FreshRecord[] = [];
  private freshBytes = 0;
  private readonly sentAhead = new Set<number>();

  constructor(private readonly freshForMs: number) {}

  /** Holds records appended while the queue is behind, until they are sent or grow stale. */
  offer(records: readonly AppendedRecord[], nowMs: number): void {
    for (const r of records) {
      this.fresh.push({ ...r, appendedAtMs: nowMs });
      this.freshBytes += r.payload.length;
    }
    while (this.fresh.length > MAX_FRESH || this.freshBytes > MAX_FRESH_BYTES) this.dropOldest();
  }

  /** The oldest fresh record not yet acknowledged in order, taken off the fresh list. */
  takeFresh(ackOffset: number, nowMs: number): AppendedRecord | undefined {
    while (this.fresh.length > 0 && (this.fresh[0].offset < ackOffset || nowMs - this.fresh[0].appendedAtMs > this.freshForMs)) this.dropOldest();
    if (this.fresh.length === 0 || !this.canSendAhead(ackOffset)) return undefined;
    const next = this.fresh.shift()!;
    this.freshBytes -= next.payload.length;
    return { offset: next.offset, id: next.id, payload: next.payload };
  }

  /** The record was delivered (or rejected and counted) ahead of the drain. */
  markSentAhead(offset: number): void {
    this.sentAhead.add(offset);
  }

  /** True (once) when the drain reaches a record already handled ahead of it. */
  consumeSentAhead(offset: number): boolean {
    return this.sentAhead.delete(offset);
  }

  get heldRecords(): number {
    return this.fresh.length;
  }

  private canSendAhead(ackOffset: number): boolean {
    if (this.sentAhead.size < MAX_SENT_AHEAD) return true;
    // Offsets below the ack position were shed by the queue before the drain reached them.
    for (const offset of this.sentAhead) if (offset < ackOffset) this.sentAhead.delete(offset);
    return this.sentAhead.size < MAX_SENT_AHEAD;
  }

  private dropOldest(): void {
    const dropped = this.fresh.shift();
    if (dropped) this.freshBytes -= dropped.payload.length;
  }
}
