/**
 * Renders an exponential histogram as Prometheus classic `le` buckets, one per exponential
 * bucket boundary, for exposition formats without native histograms.
 *
 * Order, ascending by bound: negative buckets from the most negative (OTel index i on the
 * negative side covers [-base^(i+1), -base^i); its bound is -lowerBoundary(i)), then the zero
 * bucket (bound = zeroThreshold, so le="0" by default), then positive buckets (index i covers
 * (base^i, base^(i+1)]; bound lowerBoundary(i+1), Number.MAX_VALUE for the top index). Every
 * bucket of the dense runs is emitted, empty ones included (at most maxSize per sign), and the
 * zero bucket always. Counts are cumulative; the caller appends le="+Inf" = count.
 *
 * Positive bounds are exact: `le` is upper-inclusive like OTel's (lower, upper] buckets. On the
 * negative side a value exactly at -base^i belongs to the bucket whose bound is the next one up,
 * so le=-base^i undercounts by the values sitting exactly on it (rare; such a value is counted
 * from the next bound on). Preconditions: scale in [-10, 20] with valid indexes, as produced by
 * ExpoHistogram.
 */
import type { ExpoHistogramData } from "../core/points";
import { highestIndex, lowerBoundary, upperBoundary } from "./expo-mapping";

export interface ClassicBuckets {
  /** Strictly ascending; excludes +Inf. */
  upperBounds: number[];
  /** cumulativeCounts[k] = observations <= upperBounds[k]. */
  cumulativeCounts: number[];
}

export function expoToClassicBuckets(d: ExpoHistogramData): ClassicBuckets {
  const upperBounds: number[] = [];
  const cumulativeCounts: number[] = [];
  let running = 0;

  const negative = d.negative;
  for (let j = negative.counts.length - 1; j >= 0; j--) {
    running += negative.counts[j];
    upperBounds.push(-boundary(negative.offset + j, d.scale));
    cumulativeCounts.push(running);
  }

  running += d.zeroCount;
  upperBounds.push(d.zeroThreshold);
  cumulativeCounts.push(running);

  const positive = d.positive;
  for (let j = 0; j < positive.counts.length; j++) {
    running += positive.counts[j];
    const index = positive.offset + j;
    upperBounds.push(index === highestIndex(d.scale) ? upperBoundary(index, d.scale) : boundary(index + 1, d.scale));
    cumulativeCounts.push(running);
  }
  return { upperBounds, cumulativeCounts };
}

/**
 * lowerBoundary, but exact where the boundary is a power of two: at scale > 0 the logarithm
 * formula gives e.g. 7.999999999999998 for 8, which would print as an ugly `le` and miss the
 * values sitting exactly on 8 (they belong to the bucket below, whose bound must be exactly 8).
 */
function boundary(index: number, scale: number): number {
  if (scale > 0 && (index & ((1 << scale) - 1)) === 0) {
    const exponent = index >> scale;
    if (exponent >= -1022 && exponent <= 1023) return 2 ** exponent;
  }
  return lowerBoundary(index, scale);
}
