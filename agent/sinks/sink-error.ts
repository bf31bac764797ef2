import { isRetryableOtlpStatus } from "./otlp/otlp-status";

/** How a delivery failed (STYLE §5): retryable stays queued; rejected is dropped, counted, logged once. */
export type SinkError =
  | { code: "SINK_RETRYABLE"; status?: number; retryAfterMs?: number; cause: string }
  | { code: "SINK_REJECTED"; status: number; cause: string };

/**
 * Classifies an HTTP answer: 2xx delivered; `isRetryable(status)` kept and retried; any other
 * status rejected (dropped, counted, logged once). The cause keeps at most 1 KiB of the body.
 */
function classifyStatus(status: number, body: string, retryAfterMs: number | undefined, isRetryable: (s: number) => boolean): SinkError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const cause = `HTTP ${status}${body ? `: ${body.slice(0, 1024).trim()}` : ""}`;
  if (isRetryable(status)) return { code: "SINK_RETRYABLE", status, retryAfterMs, cause };
  return { code: "SINK_REJECTED", status, cause };
}

/** Prometheus remote write 1.0: 5xx and 429 are retried; other 4xx cannot be fixed by retrying. */
export function classifyRemoteWriteStatus(status: number, body: string, retryAfterMs: number | undefined): SinkError | undefined {
  return classifyStatus(status, body, retryAfterMs, (s) => s === 429 || s >= 500);
}

/** OTLP/HTTP (opentelemetry-proto spec): only 429, 502, 503 and 504 are retryable. */
export function classifyOtlpStatus(status: number, body: string, retryAfterMs: number | undefined): SinkError | undefined {
  return classifyStatus(status, body, retryAfterMs, isRetryableOtlpStatus);
}
