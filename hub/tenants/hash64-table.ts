/**
 * An open-addressing hash table of 64-bit hashes (hash64.ts) in one typed array, with an optional
 * 32-bit value per slot: 8 bytes per slot for a set, 12 with values, and no per-entry objects
 * for the garbage collector to walk.
 *
 * Layout: one Uint32Array of cells, slot i at cells[i * stride]: [lo, hi] for a set, [lo, hi,
 * value] with values, for a power-of-two number of slots. A slot's words (almost always) share
 * one cache line, so a lookup in a table far larger than the CPU cache costs one miss, not one per
 * array (three parallel arrays made the hub's per-series admission ~10 % of its CPU). A slot with
 * hi = lo = 0 is empty (Hash64 never produces lo = 0). Linear probing from `lo & mask`. Removal
 * is by backward shift (Knuth's algorithm R), so there are no tombstones and probe chains never
 * degrade. The table doubles when it passes 3/4 full, up to `maxSlots`; callers bound their
 * entry count so a full-size table stays at most 3/4 full.
 */
export const MAX_LOAD = 0.75;

/** Slots needed to hold `entries` at no more than MAX_LOAD. */
export function slotsFor(entries: number): number {
  let slots = 16;
  while (slots * MAX_LOAD < entries) slots *= 2;
  return slots;
}

export class Hash64Table {
  /** [lo, hi(, value)] per slot. */
  private cells: Uint32Array;
  /** Words per slot: 2 for a set, 3 with values. */
  private readonly stride: number;
  mask: number;
  size = 0;

  constructor(
    initialSlots: number,
    private readonly maxSlots: number,
    private readonly withValues: boolean,
  ) {
    const slots = Math.min(slotsFor(initialSlots * MAX_LOAD), maxSlots);
    this.stride = withValues ? 3 : 2;
    this.cells = new Uint32Array(slots * this.stride);
    this.mask = slots - 1;
  }

  get slots(): number {
    return this.mask + 1;
  }

  /** Bytes held by the slot array. */
  get bytes(): number {
    return this.cells.byteLength;
  }

  /** Slot of the hash, or -1. */
  find(hi: number, lo: number): number {
    const mask = this.mask;
    const cells = this.cells;
    const stride = this.stride;
    for (let i = lo & mask; ; i = (i + 1) & mask) {
      const at = i * stride;
      const l = cells[at];
      if (l === lo && cells[at + 1] === hi) return i;
      if (l === 0 && cells[at + 1] === 0) return -1;
    }
  }

  /** Value of slot `i` (a table with values). */
  valueAt(i: number): number {
    return this.cells[i * 3 + 2];
  }

  setValue(i: number, value: number): void {
    this.cells[i * 3 + 2] = value;
  }

  /** Adds a hash that is not in the table; returns its slot. */
  insert(hi: number, lo: number, value: number): number {
    if (this.size + 1 > this.slots * MAX_LOAD && this.slots < this.maxSlots) this.grow();
    const mask = this.mask;
    const cells = this.cells;
    const stride = this.stride;
    let i = lo & mask;
    while (cells[i * stride] !== 0 || cells[i * stride + 1] !== 0) i = (i + 1) & mask;
    const at = i * stride;
    cells[at] = lo;
    cells[at + 1] = hi;
    if (this.withValues) cells[at + 2] = value;
    this.size++;
    return i;
  }

  /** Whether slot `i` holds an entry. */
  isOccupied(i: number): boolean {
    const at = i * this.stride;
    return this.cells[at] !== 0 || this.cells[at + 1] !== 0;
  }

  /** Empties slot `i`, shifting later members of its probe chain back (no tombstones). */
  removeAt(i: number): void {
    const mask = this.mask;
    const cells = this.cells;
    const stride = this.stride;
    let hole = i;
    for (let j = (hole + 1) & mask; cells[j * stride] !== 0 || cells[j * stride + 1] !== 0; j = (j + 1) & mask) {
      const home = cells[j * stride] & mask;
      // The entry at j may move into the hole only if its home is not cyclically in (hole, j].
      const staysPut = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (staysPut) continue;
      cells.copyWithin(hole * stride, j * stride, j * stride + stride);
      hole = j;
    }
    cells.fill(0, hole * stride, hole * stride + stride);
    this.size--;
  }

  private grow(): void {
    const old = this.cells;
    const stride = this.stride;
    const slots = (this.mask + 1) * 2;
    this.cells = new Uint32Array(slots * stride);
    this.mask = slots - 1;
    this.size = 0;
    for (let at = 0; at < old.length; at += stride) {
      if (old[at] !== 0 || old[at + 1] !== 0) this.insert(old[at + 1], old[at], this.withValues ? old[at + 2] : 0);
    }
  }
}
