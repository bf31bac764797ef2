import { isRetryableOtlpStatus } from "./otlp/otlp-status";

/** How a delivery failed (STYLE §5): retryable stays queued; rejected is dropped, counted, logged once. */
export type SinkError =
  | { code: "SINK_RETRYABLE"; status?: number; retryAfterMs?: number; cause: string }
  | { code: "SINK_REJECTED"; status: number; cause: string };

/**
 * Classifies an HTTP answer from a Prometheus remote-write receiver (PRW 1.0): 2xx delivered;
 * 5xx and 429 retryable; any other 4xx rejected (retrying cannot fix a bad request).
 */
export function classifyRemoteWriteStatus(status: number, body: string, retryAfterMs: number | undefined): SinkError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const cause = `HTTP ${status}${body ? `: ${body.slice(0, 1024).trim()}` : ""}`;
  if (status === 429 || status >= 500) return { code: "SINK_RETRYABLE", status, retryAfterMs, cause };
  return { code: "SINK_REJECTED", status, cause };
}

/** OTLP/HTTP (opentelemetry-proto spec): only 429, 502, 503 and 504 are retryable. */
export function classifyOtlpStatus(status: number, body: string, retryAfterMs: number | undefined): SinkError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const cause = `HTTP ${status}${body ? `: ${body.slice(0, 1024).trim()}` : ""}`;
  if (isRetryableOtlpStatus(status)) return { code: "SINK_RETRYABLE", status, retryAfterMs, cause };
  return { code: "SINK_REJECTED", status, cause };
}
