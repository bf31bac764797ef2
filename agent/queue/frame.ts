/**
 * The queue's frame format: how one record (or one segment seal) is laid out on disk.
 *
 * All integers little-endian. A frame is a fixed 24-byte header, then the id, then the payload,
 * with no padding:
 *
 *   off  len  field
 *    0    2   magic          0xE7 0x51
 *    2    1   version        1
 *    3    1   kind           1 = record, 2 = seal (last frame of a finished segment)
 *    4    1   priority       0 = most important … 255 = least
 *    5    1   reserved       0
 *    6    2   idBytes        u16, ≤ MAX_ID_BYTES
 *    8    4   payloadBytes   u32
 *   12    8   timestampMs    u64, wall-clock ms when the record was appended
 *   20    4   crc32          CRC-32 (IEEE) of bytes [0, 20) ++ id ++ payload
 *   24    idBytes            id, UTF-8 (host id + sequence: the sink's idempotency key)
 *   ..    payloadBytes       payload, opaque
 *
 * A seal frame has an empty id, priority 0 and a 24-byte payload summarising the segment so that
 * opening a queue needs only the last 48 bytes of each finished segment:
 *
 *    0    4   records        u32, record frames in the segment
 *    4    1   minPriority    most important class present
 *    5    1   maxPriority    least important class present
 *    6    2   reserved       0
 *    8    8   firstTimestampMs  u64
 *   16    8   lastTimestampMs   u64
 *
 * A frame is accepted only if magic, version, kind and reserved match, it fits in the bytes
 * available, and its CRC matches; anything else is damage, and the reader resynchronises by
 * scanning for the next offset where an intact frame starts.
 */
import { crc32 } from "./crc32";
import { readU64, writeU64 } from "./le-u64";

export const FRAME_MAGIC_0 = 0xe7;
export const FRAME_MAGIC_1 = 0x51;
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 24;
export const MAX_ID_BYTES = 1024;

export const KIND_RECORD = 1;
export const KIND_SEAL = 2;

const SEAL_PAYLOAD_BYTES = 24;
export const SEAL_FRAME_BYTES = FRAME_HEADER_BYTES + SEAL_PAYLOAD_BYTES;

/** The part of the header covered by the CRC before the id and payload. */
const CRC_COVERED_HEADER_BYTES = 20;

export interface FrameHeader {
  kind: number;
  priority: number;
  idBytes: number;
  payloadBytes: number;
  timestampMs: number;
  crc: number;
  frameBytes: number;
}

export interface SegmentSummary {
  records: number;
  minPriority: number;
  maxPriority: number;
  firstTimestampMs: number;
  lastTimestampMs: number;
}

export interface RecordFields {
  id: Uint8Array;
  priority: number;
  timestampMs: number;
  payload: Uint8Array;
}

export function recordFrameBytes(idBytes: number, payloadBytes: number): number {
  return FRAME_HEADER_BYTES + idBytes + payloadBytes;
}

/** One allocation holding the whole frame, ready for a single write. */
export function encodeRecordFrame(record: RecordFields): Uint8Array {
  return encodeFrame(KIND_RECORD, record.priority, record.timestampMs, record.id, record.payload);
}

export function encodeSealFrame(summary: SegmentSummary, timestampMs: number): Uint8Array {
  const payload = new Uint8Array(SEAL_PAYLOAD_BYTES);
  const view = new DataView(payload.buffer);
  view.setUint32(0, summary.records, true);
  payload[4] = summary.minPriority;
  payload[5] = summary.maxPriority;
  writeU64(view, 8, summary.firstTimestampMs);
  writeU64(view, 16, summary.lastTimestampMs);
  return encodeFrame(KIND_SEAL, 0, timestampMs, new Uint8Array(0), payload);
}

export function decodeSealPayload(payload: Uint8Array): SegmentSummary | null {
  if (payload.length !== SEAL_PAYLOAD_BYTES) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    records: view.getUint32(0, true),
    minPriority: payload[4],
    maxPriority: payload[5],
    firstTimestampMs: readU64(view, 8),
    lastTimestampMs: readU64(view, 16),
  };
}

/**
 * The header at `at`, or null when the bytes there cannot start a frame (wrong magic, version,
 * kind or reserved byte, or fewer than 24 bytes left). Says nothing about the CRC yet.
 */
export function parseFrameHeader(buf: Uint8Array, at: number): FrameHeader | null {
  if (at + FRAME_HEADER_BYTES > buf.length) return null;
  if (buf[at] !== FRAME_MAGIC_0 || buf[at + 1] !== FRAME_MAGIC_1 || buf[at + 2] !== FRAME_VERSION) return null;
  const kind = buf[at + 3];
  if ((kind !== KIND_RECORD && kind !== KIND_SEAL) || buf[at + 5] !== 0) return null;
  const view = new DataView(buf.buffer, buf.byteOffset + at, FRAME_HEADER_BYTES);
  const idBytes = view.getUint16(6, true);
  if (idBytes > MAX_ID_BYTES) return null;
  const payloadBytes = view.getUint32(8, true);
  return {
    kind,
    priority: buf[at + 4],
    idBytes,
    payloadBytes,
    timestampMs: readU64(view, 12),
    crc: view.getUint32(20, true),
    frameBytes: FRAME_HEADER_BYTES + idBytes + payloadBytes,
  };
}

/** True when the whole frame is inside `buf` and its CRC matches. */
export function isFrameIntact(buf: Uint8Array, at: number, header: FrameHeader): boolean {
  if (at + header.frameBytes > buf.length) return false;
  const head = crc32(buf.subarray(at, at + CRC_COVERED_HEADER_BYTES));
  return crc32(buf.subarray(at + FRAME_HEADER_BYTES, at + header.frameBytes), head) === header.crc;
}

export function frameId(buf: Uint8Array, at: number, header: FrameHeader): Uint8Array {
  const start = at + FRAME_HEADER_BYTES;
  return buf.subarray(start, start + header.idBytes);
}

export function framePayload(buf: Uint8Array, at: number, header: FrameHeader): Uint8Array {
  const start = at + FRAME_HEADER_BYTES + header.idBytes;
  return buf.subarray(start, start + header.payloadBytes);
}

function encodeFrame(kind: number, priority: number, timestampMs: number, id: Uint8Array, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + id.length + payload.length);
  const view = new DataView(frame.buffer);
  frame[0] = FRAME_MAGIC_0;
  frame[1] = FRAME_MAGIC_1;
  frame[2] = FRAME_VERSION;
  frame[3] = kind;
  frame[4] = priority;
  frame[5] = 0;
  view.setUint16(6, id.length, true);
  view.setUint32(8, payload.length, true);
  writeU64(view, 12, timestampMs);
  frame.set(id, FRAME_HEADER_BYTES);
  frame.set(payload, FRAME_HEADER_BYTES + id.length);
  const head = crc32(frame.subarray(0, CRC_COVERED_HEADER_BYTES));
  view.setUint32(20, crc32(frame.subarray(FRAME_HEADER_BYTES), head), true);
  return frame;
}
