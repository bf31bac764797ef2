/**
 * Write-ahead journal for OTLP requests: an OTLP 2xx means "accepted", so a request is made
 * durable here before it is aggregated and answered.
 *
 *   request ─decode ok─▶ journal.append (fsync) ─▶ aggregate ─▶ 2xx
 *   flush: state.json records journalSeq (every request ≤ it is inside the saved state) ─▶ trim
 *   start: restore state.json ─▶ replay journal records with seq > journalSeq
 *
 * Records live in a DiskQueue under `<dataDir>/journal`; each carries id `otlp:<seq>` and the
 * payload [format byte (0 protobuf, 1 json)][decompressed body]. A crash between saving the
 * state and trimming leaves records the state already holds: their seq ≤ journalSeq, so replay
 * skips them. A crash before the state is saved leaves them all to replay. Either way each
 * accepted request is counted exactly once. Every record still present, replayed or skipped, is
 * also shown to the dedupe window (otlp-dedupe.ts) with its append time, so a sender's retry of
 * a journaled request is recognised after the crash.
 */
import { join } from "node:path";
import type { Clock, Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import { openDiskQueue, type DiskQueue } from "../queue/disk-queue";

export type JournalFormat = "protobuf" | "json";

interface Entry {
  seq: number;
  offset: number;
}

export class OtlpJournal {
  private nextSeq = 1;
  /** Appended and not yet trimmed, in seq order. */
  private readonly entries: Entry[] = [];
  /** Highest seq such that it and every lower seq have been aggregated. */
  private included = 0;
  private readonly ingestedAhead = new Set<number>();

  private constructor(
    private readonly queue: DiskQueue,
    private readonly log: Logger,
  ) {}

  static async open(dataDir: string, deps: { clock: Clock; log: Logger }): Promise<Result<OtlpJournal, string>> {
    const q = await openDiskQueue({ dir: join(dataDir, "journal"), maxBytes: 256 * 1024 * 1024 }, deps);
    if (!q.ok) return err(`OTLP journal: ${JSON.stringify(q.error)}`);
    return ok(new OtlpJournal(q.value, deps.log));
  }

  /**
   * Replays every journaled request newer than the saved state (seq > savedSeq) through
   * `ingest`, in order, and shows every record present (replayed or not) to `seen` with its
   * append time. Returns how many were replayed.
   */
  async replay(
    savedSeq: number,
    ingest: (body: Uint8Array, format: JournalFormat) => void,
    seen: (body: Uint8Array, format: JournalFormat, appendedAtMs: number) => void = () => {},
  ): Promise<number> {
    let replayed = 0;
    let from: number | undefined;
    this.included = savedSeq;
    let maxSeq = savedSeq;
    for (;;) {
      const r = await this.queue.peek({ maxRecords: 256, maxBytes: 16 * 1024 * 1024, ...(from !== undefined ? { fromOffset: from } : {}) });
      if (!r.ok) {
        this.log.error("Could not read the OTLP journal; the requests in it are not replayed.", { error: r.error.code });
        break;
      }
      for (const rec of r.value.records) {
        const seq = Number(rec.id.slice("otlp:".length));
        if (!Number.isSafeInteger(seq)) continue;
        maxSeq = Math.max(maxSeq, seq);
        this.entries.push({ seq, offset: rec.offset });
        const body = rec.payload.subarray(1);
        const format: JournalFormat = rec.payload[0] === 1 ? "json" : "protobuf";
        seen(body, format, rec.timestampMs);
        if (seq <= savedSeq) continue;
        ingest(body, format);
        this.markIngested(seq);
        replayed++;
      }
      if (r.value.records.length === 0 || r.value.nextOffset === from) break;
      from = r.value.nextOffset;
    }
    this.nextSeq = maxSeq + 1;
    return replayed;
  }

  /** Makes one request durable; resolves once it is on disk. */
  async append(body: Uint8Array, format: JournalFormat): Promise<Result<{ seq: number }, string>> {
    const seq = this.nextSeq++;
    const payload = new Uint8Array(body.length + 1);
    payload[0] = format === "json" ? 1 : 0;
    payload.set(body, 1);
    const r = await this.queue.append(payload, { id: `otlp:${seq}` });
    if (!r.ok) {
      // Nothing after this seq can become "included" until it is accounted for: treat it as done.
      this.markIngested(seq);
      return err(r.error.code);
    }
    insertSorted(this.entries, { seq, offset: r.value.offset });
    return ok({ seq });
  }

  /** The request with this seq is now inside the aggregator. */
  markIngested(seq: number): void {
    if (seq !== this.included + 1) {
      this.ingestedAhead.add(seq);
      return;
    }
    this.included = seq;
    while (this.ingestedAhead.delete(this.included + 1)) this.included++;
  }

  /** Every request up to this seq is inside the aggregator (what a state save covers). */
  includedSeq(): number {
    return this.included;
  }

  /** Deletes journal records covered by a saved state (seq ≤ savedSeq). */
  async trim(savedSeq: number): Promise<void> {
    let cut = 0;
    while (cut < this.entries.length && this.entries[cut].seq <= savedSeq) cut++;
    if (cut === 0) return;
    let upTo: number;
    if (cut < this.entries.length) {
      upTo = this.entries[cut].offset;
    } else {
      // Everything is covered: ack up to the end of the last covered record, found by reading
      // the (at most one flush interval of) records from the ack position.
      const last = this.entries[cut - 1];
      const r = await this.queue.peek({ maxRecords: cut, maxBytes: 256 * 1024 * 1024 });
      const rec = r.ok ? r.value.records.find((x) => x.offset === last.offset) : undefined;
      if (rec === undefined) return;
      upTo = rec.nextOffset;
    }
    const acked = await this.queue.ack(upTo);
    if (!acked.ok) {
      this.log.warn("Could not trim the OTLP journal; it will be trimmed at the next flush.", { error: acked.error.code });
      return;
    }
    this.entries.splice(0, cut);
  }

  health() {
    return this.queue.health();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}

function insertSorted(entries: Entry[], e: Entry): void {
  let i = entries.length;
  while (i > 0 && entries[i - 1].seq > e.seq) i--;
  entries.splice(i, 0, e);
}
