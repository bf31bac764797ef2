/**
 * Snappy block-format decompressor for untrusted bodies, bounded BEFORE it allocates.
 *
 * Byte layout (the inverse of agent/codec/snappy-compress.ts): varint(uncompressed length, at
 * most 5 bytes, < 2^32), then elements until the end of the input:
 *   literal  tag 0bxxxxxx00: length-1 in the top 6 bits when < 60, else 60..63 = 1..4 little-
 *            endian length-1 bytes follow; then the bytes themselves.
 *   copy-1   tag 0booolll01 + 1 byte: length 4..11, offset < 2048.
 *   copy-2   tag 0bllllll10 + 2 bytes little-endian offset: length 1..64.
 *   copy-4   tag 0bllllll11 + 4 bytes little-endian offset: length 1..64.
 * A copy repeats `length` bytes starting `offset` back in the output (offset < length repeats a
 * pattern, so those are copied byte by byte).
 *
 * Bounds, in this order, so a "snappy bomb" costs nothing:
 *   1. the framed stream format ("\xff\x06\0\0sNaPpY", forbidden by remote write) → 415;
 *   2. the declared length against `maxBytes` → 413, before anything is allocated;
 *   3. the declared length against what the input can possibly expand to (a 3-byte copy-2
 *      element yields at most 64 bytes: ≤ 64/3 per input byte) → 400, so a small body can never
 *      make us allocate more than ~21× its own size;
 *   4. every element against the input end and the declared output length → 400; the output
 *      must come out exactly as long as declared.
 * snappyjs' uncompress(body, maxLength) checks (2) too, but not (3), and throws on bad input.
 */
import { Buffer } from "node:buffer";
import { err, ok, type Result } from "../../agent/core/result";
import { ingestError, type IngestError } from "./ingest-error";

const FRAMED_STREAM_HEADER = [0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59];
/** Most output bytes per input byte: a copy-2 element is 3 bytes and copies up to 64. */
const MAX_OUTPUT_PER_INPUT = 64 / 3;
const MAX_LENGTH_VARINT_BYTES = 5;
/** Literals and non-overlapping copies up to this length are copied in a loop, longer ones natively. */
const SHORT_COPY = 16;

/** The uncompressed length a Snappy block declares and the bytes its varint takes. */
export interface SnappyHeader {
  uncompressedBytes: number;
  headerBytes: number;
}

/** Reads the length prefix only; never allocates. */
export function readSnappyHeader(src: Uint8Array): Result<SnappyHeader, IngestError> {
  if (hasFramedStreamHeader(src)) {
    return err(
      ingestError(415, "snappy_framed_format", "body uses the framed Snappy stream format; remote write requires the Snappy block format"),
    );
  }
  let value = 0;
  for (let i = 0; i < MAX_LENGTH_VARINT_BYTES && i < src.length; i++) {
    const b = src[i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (value > 0xffffffff) break;
      return ok({ uncompressedBytes: value, headerBytes: i + 1 });
    }
  }
  return err(malformed("its length prefix is not a varint below 2^32"));
}

/**
 * Decompresses a Snappy block of at most `maxBytes` uncompressed bytes, into the front of
 * `scratch` when it is long enough (the caller's reusable buffer), else into a new buffer.
 */
export function snappyDecompressBounded(src: Uint8Array, maxBytes: number, scratch?: Uint8Array): Result<Uint8Array, IngestError> {
  const header = readSnappyHeader(src);
  if (!header.ok) return header;
  const { uncompressedBytes, headerBytes } = header.value;
  if (uncompressedBytes > maxBytes) {
    return err(
      ingestError(
        413,
        "decompressed_too_large",
        `body declares ${uncompressedBytes} uncompressed bytes, more than the limit of ${maxBytes} bytes (maxDecompressedBytes)`,
      ),
    );
  }
  const compressedBytes = src.length - headerBytes;
  if (uncompressedBytes > Math.ceil(compressedBytes * MAX_OUTPUT_PER_INPUT)) {
    return err(malformed(`it declares ${uncompressedBytes} uncompressed bytes, more than its ${compressedBytes} compressed bytes can hold`));
  }
  // Not zero-filled: elements write the output front to back without gaps, and success needs
  // exactly the declared length written, so every byte handed out was written; on failure the
  // buffer is dropped. (Zero-filling cost ~10 % of decompression.)
  const out = scratch !== undefined && scratch.length >= uncompressedBytes ? scratch.subarray(0, uncompressedBytes) : Buffer.allocUnsafe(uncompressedBytes);
  const problem = decodeElements(src, headerBytes, out);
  return problem === null ? ok(out) : err(malformed(problem));
}

/** Fills `out` from the elements of src[from…]; returns what is wrong, or null. */
function decodeElements(src: Uint8Array, from: number, out: Uint8Array): string | null {
  const n = src.length;
  const outLength = out.length;
  let s = from;
  let d = 0;
  while (s < n) {
    const tag = src[s++];
    const type = tag & 3;
    if (type === 0) {
      let length = tag >>> 2;
      if (length >= 60) {
        const extra = length - 59;
        if (extra > n - s) return `literal length truncated at byte ${s}`;
        length = src[s];
        if (extra > 1) length |= src[s + 1] << 8;
        if (extra > 2) length |= src[s + 2] << 16;
        if (extra > 3) length = (length | (src[s + 3] << 24)) >>> 0;
        s += extra;
      }
      length += 1;
      if (length > n - s) return `literal of ${length} bytes overruns the input at byte ${s}`;
      if (length > outLength - d) return `literal of ${length} bytes overruns the declared length at byte ${s}`;
      if (length <= SHORT_COPY) {
        for (let i = 0; i < length; i++) out[d + i] = src[s + i];
      } else {
        out.set(src.subarray(s, s + length), d);
      }
      s += length;
      d += length;
      continue;
    }
    let length: number;
    let offset: number;
    if (type === 1) {
      if (s >= n) return `copy truncated at byte ${s}`;
      length = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | src[s];
      s += 1;
    } else if (type === 2) {
      if (2 > n - s) return `copy truncated at byte ${s}`;
      length = (tag >>> 2) + 1;
      offset = src[s] | (src[s + 1] << 8);
      s += 2;
    } else {
      if (4 > n - s) return `copy truncated at byte ${s}`;
      length = (tag >>> 2) + 1;
      offset = (src[s] | (src[s + 1] << 8) | (src[s + 2] << 16) | (src[s + 3] << 24)) >>> 0;
      s += 4;
    }
    if (offset === 0 || offset > d) return `copy offset ${offset} is outside the ${d} bytes written at byte ${s}`;
    // A match longer than 64 bytes is written as copies with the same offset, one after the other
    // (label sets repeated series after series are such matches): joined, they cost one native
    // copy instead of one per 64 bytes. Joined or not, the bytes come out the same.
    while (s < n) {
      const next = src[s];
      const nextType = next & 3;
      let nextLength: number;
      let nextOffset: number;
      let size: number;
      if (nextType === 2) {
        if (3 > n - s) break;
        nextLength = (next >>> 2) + 1;
        nextOffset = src[s + 1] | (src[s + 2] << 8);
        size = 3;
      } else if (nextType === 1) {
        if (2 > n - s) break;
        nextLength = 4 + ((next >>> 2) & 7);
        nextOffset = ((next >>> 5) << 8) | src[s + 1];
        size = 2;
      } else if (nextType === 3) {
        if (5 > n - s) break;
        nextLength = (next >>> 2) + 1;
        nextOffset = (src[s + 1] | (src[s + 2] << 8) | (src[s + 3] << 16) | (src[s + 4] << 24)) >>> 0;
        size = 5;
      } else break;
      if (nextOffset !== offset) break;
      length += nextLength;
      s += size;
    }
    if (length > outLength - d) return `copy of ${length} bytes overruns the declared length at byte ${s}`;
    let at = d - offset;
    if (length <= SHORT_COPY || offset < SHORT_COPY) {
      // Short, or a short repeating pattern (offset < length): byte by byte, in order.
      const stop = d + length;
      while (d < stop) out[d++] = out[at++];
    } else if (offset >= length) {
      out.copyWithin(d, at, at + length);
      d += length;
    } else {
      // A longer repeating pattern: `offset` bytes at a time, each from bytes already written.
      const stop = d + length;
      while (d < stop) {
        const chunk = Math.min(offset, stop - d);
        out.copyWithin(d, at, at + chunk);
        d += chunk;
        at += chunk;
      }
    }
  }
  return d === outLength ? null : `it decodes to ${d} bytes, not the ${outLength} it declares`;
}

function hasFramedStreamHeader(src: Uint8Array): boolean {
  if (src.length < FRAMED_STREAM_HEADER.length) return false;
  for (let i = 0; i < FRAMED_STREAM_HEADER.length; i++) if (src[i] !== FRAMED_STREAM_HEADER[i]) return false;
  return true;
}

function malformed(problem: string): IngestError {
  return ingestError(400, "malformed_snappy", `body is not valid Snappy block format: ${problem}`);
}
