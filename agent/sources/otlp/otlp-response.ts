/**
 * OTLP/HTTP response bodies, in the encoding of the request (opentelemetry-proto
 * docs/specification.md, "OTLP/HTTP Response").
 *
 * - Success: 200 + ExportMetricsServiceResponse. Full success leaves partial_success unset, so
 *   the protobuf body is empty and the JSON body is `{}`. A partial success carries
 *   rejected_data_points (int64: a decimal string in JSON) and error_message; proto3 default
 *   values (0, "") are omitted, and when both are default the field is left unset.
 * - Failure: the HTTP status plus a google.rpc.Status{code, message} body. `code` is the gRPC
 *   code the Collector maps the HTTP status to (collector internal/httphelper), e.g. 400 →
 *   INVALID_ARGUMENT (3).
 *
 * Protobuf is written by hand (ExportMetricsServiceResponse{partial_success=1
 * {rejected_data_points=1 int64, error_message=2 string}}, google.rpc.Status{code=1 int32,
 * message=2 string}); the golden tests compare the bytes with protobufjs' generated encoder.
 */
import { ProtobufWriter } from "../../codec/protobuf-writer";
import type { OtlpFormat } from "./otlp-decode";

export interface OtlpResponseBody {
  body: Uint8Array;
  contentType: string;
}

export interface OtlpPartialSuccess {
  rejectedDataPoints: number;
  errorMessage: string;
}

const PROTOBUF_CONTENT_TYPE = "application/x-protobuf";
const JSON_CONTENT_TYPE = "application/json";

// google.rpc.Code values.
const GRPC_UNKNOWN = 2;
const GRPC_CODE_BY_HTTP_STATUS: Record<number, number> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  404: 12, // UNIMPLEMENTED
  429: 8, // RESOURCE_EXHAUSTED
  502: 14, // UNAVAILABLE
  503: 14,
  504: 14,
};

const textEncoder = new TextEncoder();

export function encodeOtlpResponse(format: OtlpFormat, partial?: OtlpPartialSuccess): OtlpResponseBody {
  const partialSuccess: { rejectedDataPoints?: number; errorMessage?: string } = {};
  if (partial !== undefined && partial.rejectedDataPoints !== 0) partialSuccess.rejectedDataPoints = partial.rejectedDataPoints;
  if (partial !== undefined && partial.errorMessage !== "") partialSuccess.errorMessage = partial.errorMessage;
  const isFullSuccess = partialSuccess.rejectedDataPoints === undefined && partialSuccess.errorMessage === undefined;

  if (format === "protobuf") {
    const out = new ProtobufWriter();
    if (!isFullSuccess) {
      const inner = new ProtobufWriter()
        .varintField(1, partialSuccess.rejectedDataPoints ?? 0)
        .stringField(2, partialSuccess.errorMessage ?? "")
        .finish();
      out.bytesField(1, inner);
    }
    return { body: out.finish(), contentType: PROTOBUF_CONTENT_TYPE };
  }
  const json: { rejectedDataPoints?: string; errorMessage?: string } = {};
  if (partialSuccess.rejectedDataPoints !== undefined) json.rejectedDataPoints = String(partialSuccess.rejectedDataPoints);
  if (partialSuccess.errorMessage !== undefined) json.errorMessage = partialSuccess.errorMessage;
  return encodeJson(isFullSuccess ? {} : { partialSuccess: json });
}

export function encodeOtlpError(format: OtlpFormat, httpStatus: number, message: string): OtlpResponseBody {
  const code = GRPC_CODE_BY_HTTP_STATUS[httpStatus] ?? GRPC_UNKNOWN;
  if (format === "protobuf") {
    return { body: new ProtobufWriter().varintField(1, code).stringField(2, message).finish(), contentType: PROTOBUF_CONTENT_TYPE };
  }
  return encodeJson({ code, message });
}

function encodeJson(value: object): OtlpResponseBody {
  return { body: textEncoder.encode(JSON.stringify(value)), contentType: JSON_CONTENT_TYPE };
}
