/**
 * Walks the frames of one segment file from a position, reading through a bounded window, and
 * reports each step: an intact record, a seal, a damaged range, or the end.
 *
 * Damage never stops the walk: at a frame that fails its checks the scanner resynchronises by
 * searching forward for the next position where an intact frame starts (magic, header checks,
 * CRC), and reports the bytes in between as one corrupt range. Memory stays bounded by the
 * window (`chunkBytes`) plus the largest frame met, whatever the file size.
 */
import { Buffer } from "node:buffer";
import {
  FRAME_HEADER_BYTES,
  FRAME_MAGIC_0,
  KIND_SEAL,
  decodeSealPayload,
  framePayload,
  isFrameIntact,
  parseFrameHeader,
  type FrameHeader,
  type SegmentSummary,
} from "./frame";
import type { QueueFile } from "./queue-fs";

export type ScanStep =
  /** `buf[at …]` holds the whole frame; `buf` is a fresh allocation the caller may keep. */
  | { kind: "record"; position: number; header: FrameHeader; buf: Uint8Array; at: number }
  | { kind: "seal"; position: number; header: FrameHeader; summary: SegmentSummary | null }
  | { kind: "corrupt"; position: number; bytes: number }
  | { kind: "end"; position: number };

export interface FrameScanner {
  /** Reads the next step; a read error is thrown (the caller turns it into QUEUE_IO). */
  next(): Promise<ScanStep>;
}

export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export function createFrameScanner(
  file: QueueFile,
  fileBytes: number,
  startPosition: number,
  chunkBytes = DEFAULT_CHUNK_BYTES,
): FrameScanner {
  let position = startPosition;
  let buf = new Uint8Array(0);
  let bufStart = 0;

  /** Makes [pos, pos + n) readable from `buf`; false when the file ends first. */
  async function ensure(pos: number, n: number): Promise<boolean> {
    if (pos + n > fileBytes) return false;
    if (pos >= bufStart && pos + n <= bufStart + buf.length) return true;
    const length = Math.min(Math.max(chunkBytes, n), fileBytes - pos);
    // Not zero-filled (every byte kept is read into); a plain Uint8Array over it, as callers expect.
    const raw = Buffer.allocUnsafeSlow(length);
    const fresh = new Uint8Array(raw.buffer, raw.byteOffset, length);
    let got = 0;
    while (got < length) {
      const read = await file.read(fresh.subarray(got), length - got, pos + got);
      if (read === 0) break;
      got += read;
    }
    buf = got === length ? fresh : fresh.subarray(0, got);
    bufStart = pos;
    return pos + n <= bufStart + buf.length;
  }

  /** The header of an intact frame starting at `pos`, else null. */
  async function intactFrameAt(pos: number): Promise<FrameHeader | null> {
    if (!(await ensure(pos, FRAME_HEADER_BYTES))) return null;
    const header = parseFrameHeader(buf, pos - bufStart);
    if (!header || pos + header.frameBytes > fileBytes) return null;
    if (!(await ensure(pos, header.frameBytes))) return null;
    return isFrameIntact(buf, pos - bufStart, header) ? header : null;
  }

  /** The next position after `from` where an intact frame starts, or fileBytes. */
  async function resync(from: number): Promise<number> {
    let pos = from + 1;
    while (pos + FRAME_HEADER_BYTES <= fileBytes) {
      if (!(await ensure(pos, FRAME_HEADER_BYTES))) break;
      const index = buf.indexOf(FRAME_MAGIC_0, pos - bufStart);
      if (index < 0) {
        pos = bufStart + buf.length;
        continue;
      }
      const candidate = bufStart + index;
      if (await intactFrameAt(candidate)) return candidate;
      pos = candidate + 1;
    }
    return fileBytes;
  }

  return {
    async next(): Promise<ScanStep> {
      if (position >= fileBytes) return { kind: "end", position: fileBytes };
      const at = position;
      const header = await intactFrameAt(at);
      if (!header) {
        position = await resync(at);
        return { kind: "corrupt", position: at, bytes: position - at };
      }
      position = at + header.frameBytes;
      const index = at - bufStart;
      if (header.kind === KIND_SEAL) {
        return { kind: "seal", position: at, header, summary: decodeSealPayload(framePayload(buf, index, header)) };
      }
      return { kind: "record", position: at, header, buf, at: index };
    },
  };
}
