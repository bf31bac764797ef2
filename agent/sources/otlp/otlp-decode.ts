/**
 * OTLP/HTTP metrics export request body (protobuf or JSON, already un-gzipped) → Points.
 *
 * Outcomes:
 * - the body is not a decodable ExportMetricsServiceRequest → error value (OTLP_BAD_PROTOBUF,
 *   OTLP_BAD_JSON, or OTLP_BAD_UTF8 for a JSON body that is not UTF-8); the caller answers 400;
 * - otherwise every data point is either a Point, skipped (NoRecordedValue flag: an explicit
 *   "no data" marker, not an error), or counted in `rejected` under a reason, which feeds the
 *   response's partial_success. One bad point never affects the others.
 *
 * Mapping (otlp-mapping.ts): Sum monotonic → counter, non-monotonic → updown; Gauge → gauge;
 * Histogram → explicit; ExponentialHistogram → expo; Summary → rejected (unsupported_type).
 * Names are sanitised to the Prometheus charset; data point attributes become labels; resource
 * attributes only when their sanitised name is in `includeResourceAttributes` (point wins).
 * A histogram without `sum` gets NaN, an exponential one without min / max gets +Inf / -Inf.
 * With `pointTimes`, a point's time_unix_nano becomes Point.timeMs (floored to whole ms).
 */
import type { Point } from "../../core/points";
import { err, ok, type Result } from "../../core/result";
import { createDecodeContext, type DecodeContext, type RejectedPoints } from "./otlp-mapping";
import { decodeJsonMetrics, MalformedJsonError } from "./otlp-json-decoder";
import { decodeProtobufMetrics } from "./otlp-protobuf-decoder";
import { MalformedProtobufError } from "./protobuf-reader";

export type { RejectReason, RejectedPoints } from "./otlp-mapping";

export type OtlpFormat = "protobuf" | "json";

export interface OtlpDecoded {
  points: Point[];
  rejected: RejectedPoints;
}

export interface OtlpDecodeError {
  code: "OTLP_BAD_PROTOBUF" | "OTLP_BAD_JSON" | "OTLP_BAD_UTF8";
  message: string;
}

export interface OtlpDecodeOptions {
  /** Sanitised resource attribute names copied into every point's labels. Default: none. */
  includeResourceAttributes?: ReadonlySet<string>;
  /**
   * Carry each data point's time_unix_nano into Point.timeMs (whole ms; 0 / absent → unset).
   * Default false: the agent stamps its own flushes, and its points stay exactly as they were.
   */
  pointTimes?: boolean;
}

const NO_RESOURCE_ATTRIBUTES: ReadonlySet<string> = new Set();

// Stateless between calls (never used in streaming mode), so one instance of each serves every
// request: TextDecoder construction is not free and this runs per request.
// Protobuf strings: keep a leading U+FEFF, it is part of the value.
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
// JSON bodies: a leading BOM is not part of the document (RFC 8259 §8.1 lets parsers skip it).
const STRICT_UTF8_SKIP_BOM = new TextDecoder("utf-8", { fatal: true });

export function decodeOtlpMetrics(
  body: Uint8Array,
  format: OtlpFormat,
  options: OtlpDecodeOptions = {},
): Result<OtlpDecoded, OtlpDecodeError> {
  const ctx = createDecodeContext(options.includeResourceAttributes ?? NO_RESOURCE_ATTRIBUTES, options.pointTimes ?? false);
  const failure = format === "protobuf" ? decodeProtobuf(body, ctx) : decodeJson(body, ctx);
  if (failure !== null) return err(failure);
  return ok({ points: ctx.points, rejected: ctx.rejected });
}

function decodeProtobuf(body: Uint8Array, ctx: DecodeContext): OtlpDecodeError | null {
  try {
    decodeProtobufMetrics(body, STRICT_UTF8, ctx);
    return null;
  } catch (e) {
    if (e instanceof MalformedProtobufError) return { code: "OTLP_BAD_PROTOBUF", message: `malformed protobuf: ${e.message}` };
    throw e;
  }
}

function decodeJson(body: Uint8Array, ctx: DecodeContext): OtlpDecodeError | null {
  let text: string;
  try {
    text = STRICT_UTF8_SKIP_BOM.decode(body);
  } catch {
    return { code: "OTLP_BAD_UTF8", message: "JSON body is not valid UTF-8" };
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (e) {
    return { code: "OTLP_BAD_JSON", message: `malformed JSON: ${(e as Error).message}` };
  }
  try {
    decodeJsonMetrics(document, ctx);
    return null;
  } catch (e) {
    if (e instanceof MalformedJsonError) return { code: "OTLP_BAD_JSON", message: `invalid OTLP JSON: ${e.message}` };
    throw e;
  }
}
