/**
 * The hub's remote-write 1.0 receive path, as four steps over one body:
 *
 *   decompressRemoteWrite   Snappy block → WriteRequest bytes, bounded before allocating
 *                           (snappy-decompress.ts): 413 over the limit, 415 framed Snappy.
 *   scanWriteRequest        one pass: per TimeSeries its byte range, key, metric name, counts
 *                           and policy verdict (write-request-scan.ts); 400 when malformed.
 *   rebuildWriteRequest     the kept TimeSeries (and metadata) copied byte for byte into a new
 *                           WriteRequest: upstream receives exactly the sender's bytes.
 *   compressWriteRequest    Snappy again (agent/codec/snappy-compress.ts).
 *
 * When every series is kept, forward the sender's original body instead of rebuilding: same
 * bytes, no compression cost.
 *
 * Rebuild layout: a WriteRequest is nothing but its top-level fields back to back (each range
 * carries its own tag and length prefix), so concatenating kept ranges in their original order
 * is a valid WriteRequest, and keeps every series' samples in the order the sender sent them.
 */
import { SnappyCompressor } from "../../agent/codec/snappy-compress";
import type { Result } from "../../agent/core/result";
import type { IngestError } from "./ingest-error";
import { snappyDecompressBounded } from "./snappy-decompress";
import type { ByteRange } from "./write-request-scan";

export type { IngestError, IngestErrorReason } from "./ingest-error";
export { scanWriteRequest } from "./write-request-scan";
export type { ByteRange, ScanLimits, ScannedSeries, ScanResult } from "./write-request-scan";
export type { SeriesRejection, SeriesRejectReason } from "./hub-policy";

/** Snappy-decompresses a remote-write body of at most `maxDecompressedBytes`. */
export function decompressRemoteWrite(body: Uint8Array, maxDecompressedBytes: number, scratch?: Uint8Array): Result<Uint8Array, IngestError> {
  return snappyDecompressBounded(body, maxDecompressedBytes, scratch);
}

/**
 * A WriteRequest of the `kept` series ranges and `metadata` ranges of `buf` (both as
 * scanWriteRequest returned them: ascending, not overlapping), in their original byte order.
 * Adjacent ranges are copied as one.
 */
export function rebuildWriteRequest(buf: Uint8Array, kept: readonly ByteRange[], metadata: readonly ByteRange[] = []): Uint8Array {
  const starts: number[] = [];
  const ends: number[] = [];
  let i = 0;
  let j = 0;
  let previousEnd = 0;
  while (i < kept.length || j < metadata.length) {
    const range = j >= metadata.length || (i < kept.length && kept[i].start < metadata[j].start) ? kept[i++] : metadata[j++];
    const { start, end } = range;
    if (!(start >= previousEnd && end > start && end <= buf.length)) {
      throw new Error(`BUG: rebuildWriteRequest ranges must ascend inside the buffer (got [${start}, ${end}) after ${previousEnd}, buffer ${buf.length})`);
    }
    if (starts.length > 0 && start === previousEnd) ends[ends.length - 1] = end;
    else {
      starts.push(start);
      ends.push(end);
    }
    previousEnd = end;
  }
  let total = 0;
  for (let k = 0; k < starts.length; k++) total += ends[k] - starts[k];
  const out = new Uint8Array(total);
  let at = 0;
  for (let k = 0; k < starts.length; k++) {
    out.set(buf.subarray(starts[k], ends[k]), at);
    at += ends[k] - starts[k];
  }
  return out;
}

/**
 * Snappy block compression of a (rebuilt) WriteRequest. Pass a long-lived compressor on hot
 * paths: it keeps its hash table and output buffer between calls (not reentrant).
 */
export function compressWriteRequest(writeRequest: Uint8Array, compressor: SnappyCompressor = new SnappyCompressor()): Uint8Array {
  return compressor.compress(writeRequest);
}
