/**
 * Why the hub refuses a whole request before any series is looked at. `reason` is snake_case and
 * stable (a metric label: hub_requests_rejected_total{reason}); `message` goes into the response
 * body and names the limit and the value, so the sender's log says what to change.
 *
 *   400  the body is not what it claims to be (malformed Snappy or protobuf) — never retried
 *   413  a bound was crossed (decompressed size, series per request)
 *   415  the right data in the wrong format (framed Snappy, remote write 2.0, wrong headers)
 */
export interface IngestError {
  status: 400 | 413 | 415;
  reason: IngestErrorReason;
  message: string;
}

export type IngestErrorReason =
  | "malformed_snappy"
  | "malformed_protobuf"
  | "malformed_json"
  | "invalid_utf8"
  | "decompressed_too_large"
  | "too_many_series"
  | "snappy_framed_format"
  | "unsupported_content_type"
  | "unsupported_content_encoding"
  | "unsupported_remote_write_version";

export function ingestError(status: IngestError["status"], reason: IngestErrorReason, message: string): IngestError {
  return { status, reason, message };
}
