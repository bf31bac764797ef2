/**
 * Cuts the TimeSeries of one flush into WriteRequest bodies of bounded size and compresses each.
 *
 * Series are written in groups: everything one aggregated series produces (one float sample,
 * one native histogram, or the `_bucket`…/`_sum`/`_count` series of a classic histogram) goes
 * into the same request, so a rejected request never leaves half a histogram stored.
 * A request closes before a group that would take it past `maxSamples` samples+histograms, or
 * after a group that took it past `maxBytes` uncompressed bytes: that group is then moved to the
 * front of the next request (one copyWithin of the group's bytes). A single group larger than
 * `maxBytes` goes out alone, over the bound.
 *
 * Ordering: the caller writes each series at most once per flush, so cutting a flush into
 * several requests never puts two samples of one series out of timestamp order. Requests come
 * out in write order; sending them in that order (per shard) keeps every series ordered across
 * flushes too.
 *
 * The WriteRequest itself has no framing: its body is the concatenation of `timeseries` fields,
 * so a request is exactly the bytes written since the previous cut. Bodies are then Snappy
 * block-compressed (the framed format is not allowed).
 */
import { ProtobufWriter } from "../../codec/protobuf-writer";
import { SnappyCompressor } from "../../codec/snappy-compress";

export interface EncodedWriteRequest {
  /** Snappy-compressed WriteRequest: the HTTP body. */
  body: Uint8Array;
  /** Bytes of the protobuf before compression. */
  uncompressedBytes: number;
  /** TimeSeries entries. */
  series: number;
  /** Float samples (stale markers included). */
  samples: number;
  /** Native histogram samples (stale markers included). */
  histograms: number;
}

const INITIAL_BUFFER_BYTES = 64 << 10;

interface Counts {
  series: number;
  samples: number;
  histograms: number;
}

export class RequestBatcher {
  readonly writer: ProtobufWriter;
  private readonly compressor = new SnappyCompressor();
  private readonly requests: EncodedWriteRequest[] = [];
  /** Counts of the request being built, excluding the open group. */
  private readonly committed: Counts = { series: 0, samples: 0, histograms: 0 };
  private readonly group: Counts = { series: 0, samples: 0, histograms: 0 };
  private groupStart = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxSamples: number,
  ) {
    // Starts small and grows to what flushes need (a 300-series flush is ~60 KiB): an agent
    // should not hold a max-size buffer it never fills.
    this.writer = new ProtobufWriter(Math.min(maxBytes, INITIAL_BUFFER_BYTES));
  }

  /** Opens a group of `samples` samples+histograms (closes the request first if they don't fit). */
  beginGroup(samples: number): void {
    const pending = this.committed.samples + this.committed.histograms;
    if (pending > 0 && pending + samples > this.maxSamples) this.cut(this.writer.length, this.committed);
    this.groupStart = this.writer.length;
  }

  /** Counts TimeSeries written into the open group. */
  addSeries(series: number, samples: number, histograms: number): void {
    this.group.series += series;
    this.group.samples += samples;
    this.group.histograms += histograms;
  }

  /** Closes the group; cuts a request when the bytes bound was crossed. */
  endGroup(): void {
    if (this.writer.length > this.maxBytes && this.groupStart > 0) {
      this.cut(this.groupStart, this.committed);
    }
    addInto(this.committed, this.group);
    clear(this.group);
    if (this.writer.length > this.maxBytes) this.cut(this.writer.length, this.committed);
  }

  /** Forgets anything written since the last finish() (e.g. after an encoding bug threw). */
  reset(): void {
    this.writer.reset();
    this.requests.length = 0;
    clear(this.committed);
    clear(this.group);
    this.groupStart = 0;
  }

  /** Compresses what is left and returns every request of the flush; the batcher is reset. */
  finish(): EncodedWriteRequest[] {
    if (this.writer.length > 0) this.cut(this.writer.length, this.committed);
    const out = this.requests.splice(0);
    this.writer.reset();
    return out;
  }

  /** Emits bytes [0, end) as a request with `counts`, keeping any bytes after `end`. */
  private cut(end: number, counts: Counts): void {
    if (end === 0) return;
    const protobuf = this.writer.view().subarray(0, end);
    this.requests.push({ body: this.compressor.compress(protobuf), uncompressedBytes: end, ...counts });
    this.writer.discardPrefix(end);
    this.groupStart -= end;
    clear(counts);
  }
}

function addInto(into: Counts, c: Counts): void {
  into.series += c.series;
  into.samples += c.samples;
  into.histograms += c.histograms;
}

function clear(c: Counts): void {
  c.series = 0;
  c.samples = 0;
  c.histograms = 0;
}
