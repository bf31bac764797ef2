/**
 * An open-addressing hash table of 64-bit hashes (hash64.ts) in typed arrays, with an optional
 * 32-bit value per slot: 8 bytes per slot for a set, 12 with values, and no per-entry objects
 * for the garbage collector to walk.
 *
 * Layout: parallel arrays `hi[]`, `lo[]` (and `values[]`) of a power-of-two number of slots; a
 * slot with hi = lo = 0 is empty (Hash64 never produces lo = 0). Linear probing from
 * `lo & mask`. Removal is by backward shift (Knuth's algorithm R), so there are no tombstones
 * and probe chains never degrade. The table doubles when it passes 3/4 full, up to `maxSlots`;
 * callers bound their entry count so a full-size table stays at most 3/4 full.
 */
export const MAX_LOAD = 0.75;

/** Slots needed to hold `entries` at no more than MAX_LOAD. */
export function slotsFor(entries: number): number {
  let slots = 16;
  while (slots * MAX_LOAD < entries) slots *= 2;
  return slots;
}

export class Hash64Table {
  hi: Uint32Array;
  lo: Uint32Array;
  /** Per-slot values; empty (length 0) when the table was made without values. */
  values: Uint32Array;
  mask: number;
  size = 0;

  constructor(
    initialSlots: number,
    private readonly maxSlots: number,
    private readonly withValues: boolean,
  ) {
    const slots = Math.min(slotsFor(initialSlots * MAX_LOAD), maxSlots);
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.values = new Uint32Array(withValues ? slots : 0);
    this.mask = slots - 1;
  }

  get slots(): number {
    return this.mask + 1;
  }

  /** Bytes held by the slot arrays. */
  get bytes(): number {
    return this.hi.byteLength + this.lo.byteLength + this.values.byteLength;
  }

  /** Slot of the hash, or -1. */
  find(hi: number, lo: number): number {
    const mask = this.mask;
    const his = this.hi;
    const los = this.lo;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const l = los[i];
      if (l === lo && his[i] === hi) return i;
      if (l === 0 && his[i] === 0) return -1;
    }
  }

  /** Adds a hash that is not in the table; returns its slot. */
  insert(hi: number, lo: number, value: number): number {
    if ((this.size + 1) > this.slots * MAX_LOAD && this.slots < this.maxSlots) this.grow();
    const mask = this.mask;
    let i = lo & mask;
    while (this.lo[i] !== 0 || this.hi[i] !== 0) i = (i + 1) & mask;
    this.hi[i] = hi;
    this.lo[i] = lo;
    if (this.withValues) this.values[i] = value;
    this.size++;
    return i;
  }

  /** Whether slot `i` holds an entry. */
  isOccupied(i: number): boolean {
    return this.lo[i] !== 0 || this.hi[i] !== 0;
  }

  /** Empties slot `i`, shifting later members of its probe chain back (no tombstones). */
  removeAt(i: number): void {
    const mask = this.mask;
    const his = this.hi;
    const los = this.lo;
    const vals = this.values;
    let hole = i;
    for (let j = (hole + 1) & mask; los[j] !== 0 || his[j] !== 0; j = (j + 1) & mask) {
      const home = los[j] & mask;
      // The entry at j may move into the hole only if its home is not cyclically in (hole, j].
      const staysPut = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (staysPut) continue;
      his[hole] = his[j];
      los[hole] = los[j];
      if (this.withValues) vals[hole] = vals[j];
      hole = j;
    }
    his[hole] = 0;
    los[hole] = 0;
    this.size--;
  }

  private grow(): void {
    const oldHi = this.hi;
    const oldLo = this.lo;
    const oldValues = this.values;
    const slots = oldHi.length * 2;
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.values = new Uint32Array(this.withValues ? slots : 0);
    this.mask = slots - 1;
    this.size = 0;
    for (let k = 0; k < oldHi.length; k++) {
      if (oldLo[k] !== 0 || oldHi[k] !== 0) this.insert(oldHi[k], oldLo[k], this.withValues ? oldValues[k] : 0);
    }
  }
}
