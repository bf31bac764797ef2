/**
 * A 64-bit hash of a string as two 32-bit halves, for sets that keep hashes instead of keys
 * (active series, dedupe ids): 8 bytes per key instead of the key string and a Map entry.
 *
 * `hi` is FNV-1a over the UTF-16 code units (one at a time: FNV over wider words would leave
 * its low bits blind to every other unit), `lo` is MurmurHash3's x86_32 mixing over pairs of
 * units; both get Murmur's final avalanche (fmix32), so any bit range is usable as a table index. The halves come from different functions, so a collision needs both to collide: for n
 * keys in a set, a new key is mistaken for a member with probability ≈ n / 2^64
 * (2·10^6 keys: 1·10^-13 per lookup).
 *
 * Hashes are stable across processes and runtimes (pure integer arithmetic), so they can be
 * written to disk and read back by the next process.
 */
export class Hash64 {
  /** High half of the last hash. */
  hi = 0;
  /** Low half of the last hash; never both halves 0 (that pattern marks an empty table slot). */
  lo = 0;

  /** Hashes `key` into `hi` and `lo`. */
  hash(key: string): void {
    let fnv = 0x811c9dc5;
    let mm = 0x9747b28c;
    const n = key.length;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const c0 = key.charCodeAt(i);
      const c1 = key.charCodeAt(i + 1);
      fnv = Math.imul(fnv ^ c0, 0x01000193);
      fnv = Math.imul(fnv ^ c1, 0x01000193);
      mm = murmurRound(mm, c0 | (c1 << 16));
    }
    if (i < n) {
      const c = key.charCodeAt(i);
      fnv = Math.imul(fnv ^ c, 0x01000193);
      mm = murmurRound(mm, c);
    }
    this.hi = fmix32(fnv ^ n);
    this.lo = fmix32(mm ^ n) || 1;
  }
}

function murmurRound(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
