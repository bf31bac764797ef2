/**
 * CRC-32 (IEEE 802.3, the zlib/gzip polynomial 0xEDB88320, reflected) over byte ranges.
 *
 * Uses the native `zlib.crc32` when the runtime has it (Node ≥ 20.15, Bun 1.4.5: both checked),
 * and an equivalent table-driven version otherwise, so the on-disk checksum is the same whichever
 * runtime wrote or reads a segment.
 */
import * as zlib from "node:zlib";

type Crc32 = (data: Uint8Array, initial?: number) => number;

const nativeCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data`, continuing from `initial` (the CRC of the preceding bytes). */
export const crc32: Crc32 =
  typeof nativeCrc32 === "function" ? (data, initial = 0) => nativeCrc32(data, initial) : crc32Table;

/** The constant 1 KiB lookup table of the reflected polynomial. */
const TABLE = buildTable();

/** Table-driven CRC-32, byte at a time; the fallback when zlib.crc32 is missing. */
export function crc32Table(data: Uint8Array, initial = 0): number {
  let crc = ~initial >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

function buildTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}
