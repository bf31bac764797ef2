/**
 * Which OTLP/HTTP export failures are worth retrying (opentelemetry-proto
 * docs/specification.md, "Failures"; PROTOCOLS.md §3): only 429, 502, 503 and 504. Every other
 * 4xx/5xx, 500 included, MUST NOT be retried — unlike Prometheus remote write, where 5xx is
 * retryable. A partial success is a 200 and is not retried either.
 */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export function isRetryableOtlpStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}
