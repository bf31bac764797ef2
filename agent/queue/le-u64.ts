/**
 * Unsigned 64-bit little-endian integers as plain numbers (exact below 2^53), without BigInt on
 * the hot path. Offsets and millisecond timestamps never come near 2^53.
 */
const TWO_POW_32 = 0x1_0000_0000;

export function writeU64(view: DataView, at: number, value: number): void {
  const v = Math.max(0, Math.floor(value));
  view.setUint32(at, v % TWO_POW_32, true);
  view.setUint32(at + 4, Math.floor(v / TWO_POW_32), true);
}

export function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO_POW_32;
}
