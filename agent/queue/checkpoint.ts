/**
 * The ack checkpoint: how far a sink has acknowledged, kept in `<dir>/ack.checkpoint`.
 *
 * The file holds two 512-byte slots (at 0 and 512); each write goes to the slot the previous
 * write did not use, so a torn write can only damage the slot being written and the other still
 * holds the previous checkpoint. On open the intact slot with the higher sequence wins. Slot
 * layout, little-endian:
 *
 *   off  len  field
 *    0    4   magic         "QACK"
 *    4    4   version       1
 *    8    8   sequence      u64, +1 per write
 *   16    8   ackOffset     u64, every record below this offset is acknowledged
 *   24    4   headAcked     u32, records acknowledged inside the segment holding ackOffset
 *   28    4   crc32         CRC-32 of bytes [0, 28)
 *
 * The file is allocated in full (zeros) when created, so that acknowledging — which is what frees
 * space — never needs new disk blocks, even on a full disk.
 *
 * A crash mid-write leaves the previous checkpoint readable, so at most the records acked since
 * the last completed write are replayed. Both slots unreadable: replay from the oldest segment
 * (duplicates, never loss).
 */
import { join } from "node:path";
import { crc32 } from "./crc32";
import { readU64, writeU64 } from "./le-u64";
import type { QueueFile, QueueFs } from "./queue-fs";

export const CHECKPOINT_FILE = "ack.checkpoint";
const SLOT_BYTES = 512;
const SLOT_USED_BYTES = 32;
const MAGIC = [0x51, 0x41, 0x43, 0x4b]; // "QACK"
const VERSION = 1;

export interface Checkpoint {
  sequence: number;
  ackOffset: number;
  headAcked: number;
}

export interface CheckpointFile {
  readonly path: string;
  /** What was on disk at open; `damaged` when the file existed but no slot was intact. */
  readonly loaded: Checkpoint & { found: boolean; damaged: boolean };
  write(ackOffset: number, headAcked: number, sync: boolean): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating if missing) the checkpoint file; filesystem errors are thrown. */
export async function openCheckpoint(fs: QueueFs, dir: string): Promise<CheckpointFile> {
  const path = join(dir, CHECKPOINT_FILE);
  const { file, created } = await openOrCreate(fs, path);
  const raw = new Uint8Array(2 * SLOT_BYTES);
  const got = created ? 0 : await file.read(raw, raw.length, 0);
  if (got < raw.length) await allocate(fs, dir, file, got, raw.length);
  const bytes = raw.subarray(0, got);
  const slots = [0, SLOT_BYTES].map((at) => decodeSlot(bytes.subarray(at, at + SLOT_USED_BYTES)));
  const best = slots.reduce<Checkpoint | null>((a, b) => (b && (!a || b.sequence > a.sequence) ? b : a), null);
  const loaded = {
    ...(best ?? { sequence: 0, ackOffset: 0, headAcked: 0 }),
    found: best !== null,
    damaged: best === null && bytes.some((b) => b !== 0),
  };
  let sequence = loaded.sequence;
  return {
    path,
    loaded,
    async write(ackOffset, headAcked, sync) {
      const next = sequence + 1;
      await file.write([encodeSlot({ sequence: next, ackOffset, headAcked })], (next % 2) * SLOT_BYTES);
      if (sync) await file.sync();
      sequence = next;
    },
    close: () => file.close(),
  };
}

async function openOrCreate(fs: QueueFs, path: string): Promise<{ file: QueueFile; created: boolean }> {
  try {
    return { file: await fs.open(path, "update"), created: false };
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
    return { file: await fs.open(path, "create"), created: true };
  }
}

/** Zero-fills [from, to) and makes the file's existence and size durable. */
async function allocate(fs: QueueFs, dir: string, file: QueueFile, from: number, to: number): Promise<void> {
  await file.write([new Uint8Array(to - from)], from);
  await file.sync();
  await fs.syncDir(dir);
}

function encodeSlot(c: Checkpoint): Uint8Array {
  const slot = new Uint8Array(SLOT_USED_BYTES);
  const view = new DataView(slot.buffer);
  slot.set(MAGIC, 0);
  view.setUint32(4, VERSION, true);
  writeU64(view, 8, c.sequence);
  writeU64(view, 16, c.ackOffset);
  view.setUint32(24, c.headAcked, true);
  view.setUint32(28, crc32(slot.subarray(0, 28)), true);
  return slot;
}

function decodeSlot(slot: Uint8Array): Checkpoint | null {
  if (slot.length < SLOT_USED_BYTES) return null;
  if (MAGIC.some((b, i) => slot[i] !== b)) return null;
  const view = new DataView(slot.buffer, slot.byteOffset, SLOT_USED_BYTES);
  if (view.getUint32(4, true) !== VERSION || view.getUint32(28, true) !== crc32(slot.subarray(0, 28))) return null;
  return { sequence: readU64(view, 8), ackOffset: readU64(view, 16), headAcked: view.getUint32(24, true) };
}
