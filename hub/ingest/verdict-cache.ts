/**
 * A bounded map from a series' raw label bytes to what was decided about it, so a series seen
 * before costs one compare of its bytes instead of decoding and checking its labels.
 *
 * Lookup, in two ways:
 *   - predicted: every entry remembers the entry that followed it last time (`successor`).
 *     Senders write their series in the same order request after request (our agents always;
 *     a Prometheus shard mostly), so the entry after the previous series' is tried first, by
 *     comparing bytes — the compare a hit needs anyway. No hashing in the steady state.
 *   - hashed: otherwise the bytes are hashed (xxHash32, seeded randomly per cache, so a sender
 *     cannot precompute label sets whose hashes collide to make one chain long), the entry is
 *     found by hash (a small integer, looked up without touching a string) and confirmed by
 *     comparing bytes. Ordinary collisions chain and cost one compare each.
 * Nothing is ever trusted on a hash: a hit is a byte-for-byte match with the entry's own copy
 * of the label bytes (up to 512 bytes in a JS loop, longer ones with a native memcmp:
 * Buffer#compare over a sub-range, whose call overhead only pays off for longer ranges).
 * No key string is kept: the entry's byte copy is the identity, and a series seen before costs
 * no string at all.
 *
 * Storage: entries' bytes are packed into shared 1 MiB arena chunks (one ArrayBuffer per chunk,
 * not per entry); an entry promoted into the current generation is copied into the current
 * chunk, so a chunk is only kept alive by the two live generations.
 *
 * Bound: two generations. Lookups hit `current`, then `previous` (moving the entry into
 * `current`); when `current` holds half the capacity it becomes `previous` and the old
 * `previous` is dropped. At that point successor links from live entries into the dropped
 * generation are cut, so nothing dropped stays reachable. So at most `maxEntries` are held,
 * entries used within the last half-capacity insertions survive, and eviction costs one pass
 * over half the entries instead of LRU list updates on every hit. A dropped series is simply
 * judged again when it comes back.
 * Memory: per entry the byte copy (the label bytes' size) plus ~200 bytes of objects and Map
 * slot: ~400 bytes for a typical 8-label series (a key string as well made it ~600).
 */
import { Buffer } from "node:buffer";

/** One request body, seen two ways (no copies): bytes for compares, a view for hashing. */
export interface LabelBytes {
  readonly bytes: Buffer;
  readonly view: DataView;
}

export function labelBytesOf(buf: Uint8Array): LabelBytes {
  return {
    bytes: Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength),
    view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
  };
}

export interface CacheEntry<V> {
  /** hashLabelBytes of the label bytes with this cache's seed (30 bits). */
  readonly hash: number;
  readonly value: V;
}

interface Slot<V> extends CacheEntry<V> {
  /** Where the entry's copy of the label bytes is: chunk[offset, offset + byteLength). */
  chunk: Buffer;
  chunkView: DataView;
  offset: number;
  readonly byteLength: number;
  /** The next entry with the same hash. */
  next: Slot<V> | undefined;
  /** The entry looked up right after this one last time. */
  successor: Slot<V> | undefined;
  /** Generation the entry was last inserted into: live while ≥ the cache's generation - 1. */
  generation: number;
}

/** Hashes are kept to 30 bits: small integers (Smis) in V8 on every platform. */
const HASH_MASK = 0x3fffffff;
const CHUNK_BYTES = 1 << 20;
/** Byte ranges up to this long are copied in JS; longer ones natively. */
const SHORT_BYTES = 64;
/**
 * Label bytes up to this long are compared in JS, 16 bytes a step: Buffer#compare over a
 * sub-range costs ~55 ns a call under Bun before it compares anything, the JS loop ~45 ns for a
 * typical 200-byte label set (the predicted-series compare was ~22 % of the hub's JS samples).
 */
const JS_COMPARE_BYTES = 512;

export class VerdictCache<V> {
  /** Seed of hashLabelBytes for this cache. */
  readonly seed: number;
  private current = new Map<number, Slot<V>>();
  private previous = new Map<number, Slot<V>>();
  private currentSize = 0;
  private previousSize = 0;
  private generation = 1;
  private readonly generationSize: number;
  private chunk: Buffer = Buffer.alloc(0);
  private chunkView: DataView = new DataView(new ArrayBuffer(0));
  private chunkUsed = 0;
  /**
   * The last get() that missed, so add() on the same bytes reuses its hash. (Holds on to that
   * body until the next add(), which the scanner makes right after a miss.)
   */
  private missSource: LabelBytes | undefined;
  private missFrom = 0;
  private missTo = 0;
  private missHash = 0;
  hits = 0;
  predictedHits = 0;
  misses = 0;

  constructor(maxEntries: number, seed = (Math.random() * 0x100000000) >>> 0) {
    if (!(Number.isInteger(maxEntries) && maxEntries >= 2)) {
      throw new Error(`BUG: VerdictCache maxEntries must be an integer >= 2 (got ${maxEntries})`);
    }
    this.generationSize = maxEntries >>> 1;
    this.seed = seed;
  }

  get size(): number {
    return this.currentSize + this.previousSize;
  }

  /**
   * The entry for bytes [from, to) of `source`, or undefined. `after` is the entry looked up
   * just before in the same request (undefined for the first series): its successor is tried
   * first, and the link is updated to whatever is found.
   */
  get(source: LabelBytes, from: number, to: number, after?: CacheEntry<V>): CacheEntry<V> | undefined {
    const before = after as Slot<V> | undefined;
    const predicted = this.livePredicted(after);
    if (predicted !== undefined && hasBytes(predicted, source, from, to)) return this.predictedHit(predicted);
    const hash = hashLabelBytes(source.view, from, to, this.seed);
    const found = this.find(hash, source, from, to);
    if (found === undefined) {
      this.misses++;
      this.missSource = source;
      this.missFrom = from;
      this.missTo = to;
      this.missHash = hash;
      return undefined;
    }
    this.hits++;
    if (before !== undefined) before.successor = found;
    return found;
  }

  /** Byte length of the entry predicted after `after` (its successor, if live); -1 if none. */
  predictedLength(after: CacheEntry<V> | undefined): number {
    return this.livePredicted(after)?.byteLength ?? -1;
  }

  /**
   * The entry predicted after `after` if `source` holds its exact bytes at `from` (a hit, as in
   * get()); undefined otherwise. For callers that know where a predicted key would end
   * (predictedLength) before they know where the key really ends.
   */
  confirmPredicted(source: LabelBytes, from: number, after: CacheEntry<V> | undefined): CacheEntry<V> | undefined {
    const predicted = this.livePredicted(after);
    if (predicted === undefined || !hasBytes(predicted, source, from, from + predicted.byteLength)) return undefined;
    return this.predictedHit(predicted);
  }

  /** The successor of `after`, if it is still in a live generation. */
  private livePredicted(after: CacheEntry<V> | undefined): Slot<V> | undefined {
    const predicted = (after as Slot<V> | undefined)?.successor;
    return predicted !== undefined && predicted.generation >= this.generation - 1 ? predicted : undefined;
  }

  /** Counts a predicted hit; an entry of the previous generation moves into the current one. */
  private predictedHit(predicted: Slot<V>): Slot<V> {
    this.hits++;
    this.predictedHits++;
    if (predicted.generation !== this.generation) this.promote(predicted);
    return predicted;
  }

  /**
   * Adds the entry for bytes [from, to) of `source` (after get() missed on them); `after` as for
   * get().
   */
  add(source: LabelBytes, from: number, to: number, value: V, after?: CacheEntry<V>): CacheEntry<V> {
    const isLastMiss = source === this.missSource && from === this.missFrom && to === this.missTo;
    const hash = isLastMiss ? this.missHash : hashLabelBytes(source.view, from, to, this.seed);
    this.missSource = undefined;
    const slot: Slot<V> = {
      hash,
      value,
      chunk: this.chunk,
      chunkView: this.chunkView,
      offset: 0,
      byteLength: to - from,
      next: undefined,
      successor: undefined,
      generation: 0,
    };
    this.store(slot, source.bytes, from);
    this.insert(slot);
    if (after !== undefined) (after as Slot<V>).successor = slot;
    return slot;
  }

  clear(): void {
    this.current = new Map();
    this.previous = new Map();
    this.currentSize = 0;
    this.previousSize = 0;
    this.generation += 2; // every old entry is now dead, also for successor links
    this.chunk = Buffer.alloc(0);
    this.chunkView = new DataView(new ArrayBuffer(0));
    this.chunkUsed = 0;
    this.missSource = undefined;
  }

  /** Finds by hash in current, then previous (promoting from previous). */
  private find(hash: number, source: LabelBytes, from: number, to: number): Slot<V> | undefined {
    for (let slot = this.current.get(hash); slot !== undefined; slot = slot.next) {
      if (hasBytes(slot, source, from, to)) return slot;
    }
    for (let slot = this.previous.get(hash); slot !== undefined; slot = slot.next) {
      if (!hasBytes(slot, source, from, to)) continue;
      this.promote(slot);
      return slot;
    }
    return undefined;
  }

  /** Moves a slot of the previous generation into the current one (bytes into the current chunk). */
  private promote(slot: Slot<V>): void {
    let before: Slot<V> | undefined;
    let at = this.previous.get(slot.hash);
    while (at !== undefined && at !== slot) {
      before = at;
      at = at.next;
    }
    if (at === undefined) throw new Error("BUG: a previous-generation entry is missing from its hash chain");
    if (before !== undefined) before.next = slot.next;
    else if (slot.next !== undefined) this.previous.set(slot.hash, slot.next);
    else this.previous.delete(slot.hash);
    this.previousSize--;
    this.store(slot, slot.chunk, slot.offset);
    this.insert(slot);
  }

  /** Copies the slot's bytes (from `bytes` at `from`) into the current arena chunk. */
  private store(slot: Slot<V>, bytes: Buffer, from: number): void {
    const length = slot.byteLength;
    if (this.chunkUsed + length > this.chunk.length) {
      this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, length));
      this.chunkView = new DataView(this.chunk.buffer, this.chunk.byteOffset, this.chunk.byteLength);
      this.chunkUsed = 0;
    }
    const chunk = this.chunk;
    const at = this.chunkUsed;
    if (length <= SHORT_BYTES) {
      for (let i = 0; i < length; i++) chunk[at + i] = bytes[from + i];
    } else {
      chunk.set(bytes.subarray(from, from + length), at); // Node's Buffer#copy costs ~3× more here
    }
    slot.chunk = chunk;
    slot.chunkView = this.chunkView;
    slot.offset = at;
    this.chunkUsed += length;
  }

  private insert(slot: Slot<V>): void {
    if (this.currentSize >= this.generationSize) this.rotate();
    slot.generation = this.generation;
    slot.next = this.current.get(slot.hash);
    this.current.set(slot.hash, slot);
    this.currentSize++;
  }

  /** current → previous; the old previous is dropped, and links into it are cut. */
  private rotate(): void {
    this.previous = this.current;
    this.previousSize = this.currentSize;
    this.current = new Map();
    this.currentSize = 0;
    this.generation++;
    const oldest = this.generation - 1;
    for (const head of this.previous.values()) {
      for (let slot: Slot<V> | undefined = head; slot !== undefined; slot = slot.next) {
        if (slot.successor !== undefined && slot.successor.generation < oldest) slot.successor = undefined;
      }
    }
  }
}

function hasBytes<V>(slot: Slot<V>, source: LabelBytes, from: number, to: number): boolean {
  const length = slot.byteLength;
  if (length !== to - from) return false;
  if (length > JS_COMPARE_BYTES) return slot.chunk.compare(source.bytes, from, to, slot.offset, slot.offset + length) === 0;
  const view = source.view;
  const own = slot.chunkView;
  const offset = slot.offset;
  let i = 0;
  for (; i + 16 <= length; i += 16) {
    const a = from + i;
    const b = offset + i;
    const differ =
      (view.getInt32(a, true) ^ own.getInt32(b, true)) |
      (view.getInt32(a + 4, true) ^ own.getInt32(b + 4, true)) |
      (view.getInt32(a + 8, true) ^ own.getInt32(b + 8, true)) |
      (view.getInt32(a + 12, true) ^ own.getInt32(b + 12, true));
    if (differ !== 0) return false;
  }
  for (; i + 4 <= length; i += 4) if (view.getInt32(from + i, true) !== own.getInt32(offset + i, true)) return false;
  for (; i < length; i++) if (view.getUint8(from + i) !== own.getUint8(offset + i)) return false;
  return true;
}

const PRIME1 = 0x9e3779b1 | 0;
const PRIME2 = 0x85ebca77 | 0;
const PRIME3 = 0xc2b2ae3d | 0;
const PRIME4 = 0x27d4eb2f | 0;
const PRIME5 = 0x165667b1 | 0;

/**
 * xxHash32 of bytes [from, to) of `view` with `seed`, cut to 30 bits: four independent lanes of
 * 4-byte little-endian words (DataView loads compile to one unaligned load in V8 and JSC), ~0.25
 * ns per byte. The same bytes give the same hash wherever they sit.
 */
export function hashLabelBytes(view: DataView, from: number, to: number, seed: number): number {
  let i = from;
  let h: number;
  if (to - from >= 16) {
    let v1 = (seed + PRIME1 + PRIME2) | 0;
    let v2 = (seed + PRIME2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - PRIME1) | 0;
    for (const limit = to - 16; i <= limit; i += 16) {
      v1 = Math.imul(rotl(v1 + Math.imul(view.getInt32(i, true), PRIME2), 13), PRIME1);
      v2 = Math.imul(rotl(v2 + Math.imul(view.getInt32(i + 4, true), PRIME2), 13), PRIME1);
      v3 = Math.imul(rotl(v3 + Math.imul(view.getInt32(i + 8, true), PRIME2), 13), PRIME1);
      v4 = Math.imul(rotl(v4 + Math.imul(view.getInt32(i + 12, true), PRIME2), 13), PRIME1);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + PRIME5) | 0;
  }
  h = (h + (to - from)) | 0;
  for (; i + 4 <= to; i += 4) h = Math.imul(rotl(h + Math.imul(view.getInt32(i, true), PRIME3), 17), PRIME4);
  for (; i < to; i++) h = Math.imul(rotl(h + Math.imul(view.getUint8(i), PRIME5), 11), PRIME1);
  h ^= h >>> 15;
  h = Math.imul(h, PRIME2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME3);
  h ^= h >>> 16;
  return h & HASH_MASK;
}

function rotl(x: number, bits: number): number {
  return (x << bits) | (x >>> (32 - bits));
}
