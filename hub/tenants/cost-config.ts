/**
 * The price list the cost model (cost.ts) applies, with defaults from Amazon Managed Service for
 * Prometheus (AMP), and parseCostConfig() which names the field and value in every error.
 *
 * AMP's published model (https://aws.amazon.com/prometheus/pricing/, read through the tool
 * library's stored copy, 2026-11): each metric sample ingested is counted; ingestion is tiered
 * on the month's cumulative samples; stored samples and metadata are billed per GB-month with
 * 1 GB = 2^30 bytes, a stored sample typically taking 1 or 2 bytes; ingestion and storage are
 * prorated by the hour and billed at the end of the month; no charge for data transfer in.
 * The stored copy's excerpt ends before the price table itself. The us-east-1 list prices below
 * match three independent secondary sources that quote the page (VictoriaMetrics, "Pricing
 * comparison for Managed Prometheus", 2022-04-04; two cost reports of 2025), but were not read
 * from AWS's own table:
 *   ingestion  first 2 B samples/month      $0.90 per 10 M samples
 *              next 250 B samples/month     $0.35 per 10 M samples
 *              over 252 B samples/month     $0.16 per 10 M samples
 *   storage    $0.03 per GB-month
 * Not modelled: query samples processed ($0.10 per billion; the hub sees no queries), the
 * account-wide free tier (40 M samples, 10 GB a month; ignoring it errs high), managed-collector
 * charges (not involved in forwarded remote write). AMP prices no active series: series reach
 * the bill only as label metadata in storage (see seriesHourUsd).
 * Every figure is configurable; check the page for your region before trusting an estimate.
 */
import { ok, type Result } from "../../agent/core/result";
import { configError, firstProblem, notNonNegative, notPositive, show, type TenantConfigError } from "./config-checks";

export interface IngestTier {
  /** Monthly cumulative samples up to which this price applies; null for the last, open tier. */
  upToSamples: number | null;
  usdPer10M: number;
}

export interface CostConfig {
  /** Ingestion price tiers, ascending, the last one open (upToSamples: null). Default: AMP's. */
  ingestTiers?: IngestTier[];
  /** Storage price per GB-month (GB = 2^30 bytes). Default 0.03. */
  storageUsdPerGbMonth?: number;
  /** Stored bytes per sample. Default 2, the high end of AMP's "typically 1 or 2 bytes". */
  storedBytesPerSample?: number;
  /** Days a sample stays stored (and billed). Default 150 (AMP's default; a workspace can keep up to 1095). */
  retentionDays?: number;
  /**
   * Price per active series per hour. Default 0: AMP has no per-series price (its label metadata,
   * ~200 B a series at $0.03/GB-month, is ~7.6e-12 USD a series-hour). For a backend that bills
   * series, its own price.
   */
  seriesHourUsd?: number;
}

export type ResolvedCostConfig = Required<CostConfig>;

export const AMP_INGEST_TIERS: readonly IngestTier[] = Object.freeze([
  { upToSamples: 2e9, usdPer10M: 0.9 },
  { upToSamples: 252e9, usdPer10M: 0.35 },
  { upToSamples: null, usdPer10M: 0.16 },
]);

export const COST_DEFAULTS: ResolvedCostConfig = {
  ingestTiers: AMP_INGEST_TIERS.map((t) => ({ ...t })),
  storageUsdPerGbMonth: 0.03,
  storedBytesPerSample: 2,
  retentionDays: 150,
  seriesHourUsd: 0,
};

export function parseCostConfig(input: CostConfig, field = "cost"): Result<ResolvedCostConfig, TenantConfigError> {
  const {
    ingestTiers = COST_DEFAULTS.ingestTiers,
    storageUsdPerGbMonth = COST_DEFAULTS.storageUsdPerGbMonth,
    storedBytesPerSample = COST_DEFAULTS.storedBytesPerSample,
    retentionDays = COST_DEFAULTS.retentionDays,
    seriesHourUsd = COST_DEFAULTS.seriesHourUsd,
  } = input;
  const tierProblem = checkTiers(ingestTiers, `${field}.ingestTiers`);
  const problem = firstProblem(
    tierProblem,
    notNonNegative(`${field}.storageUsdPerGbMonth`, storageUsdPerGbMonth),
    notNonNegative(`${field}.storedBytesPerSample`, storedBytesPerSample),
    notPositive(`${field}.retentionDays`, retentionDays),
    notNonNegative(`${field}.seriesHourUsd`, seriesHourUsd),
  );
  if (problem !== undefined) return configError(problem);
  if (!Number.isInteger(retentionDays)) return configError(`${field}.retentionDays must be a whole number of days (got ${retentionDays})`);
  return ok({
    ingestTiers: ingestTiers.map((t) => ({ upToSamples: t.upToSamples, usdPer10M: t.usdPer10M })),
    storageUsdPerGbMonth,
    storedBytesPerSample,
    retentionDays,
    seriesHourUsd,
  });
}

function checkTiers(tiers: unknown, field: string): string | undefined {
  if (!Array.isArray(tiers) || tiers.length === 0) return `${field} must be a non-empty list (got ${show(tiers)})`;
  let previous = 0;
  for (let i = 0; i < tiers.length; i++) {
    const t = tiers[i] as IngestTier;
    const price = notNonNegative(`${field}[${i}].usdPer10M`, t?.usdPer10M);
    if (price !== undefined) return price;
    const isLast = i === tiers.length - 1;
    if (isLast && t.upToSamples !== null) return `${field}[${i}].upToSamples must be null: the last tier is open (got ${show(t.upToSamples)})`;
    if (isLast) break;
    if (typeof t.upToSamples !== "number" || !(t.upToSamples > previous)) {
      return `${field}[${i}].upToSamples must be a number above the previous tier's ${previous} (got ${show(t.upToSamples)})`;
    }
    previous = t.upToSamples;
  }
  return undefined;
}

/** USD for `samples` more samples when the month already had `monthSamples`, across tiers. */
export function ingestUsd(tiers: readonly IngestTier[], monthSamples: number, samples: number): number {
  let usd = 0;
  let at = monthSamples;
  let left = samples;
  for (const tier of tiers) {
    const upTo = tier.upToSamples ?? Infinity;
    if (at >= upTo) continue;
    const inTier = Math.min(left, upTo - at);
    usd += (inTier * tier.usdPer10M) / 1e7;
    at += inTier;
    left -= inTier;
    if (left <= 0) break;
  }
  return usd;
}
