/**
 * OTLP/HTTP metrics source: `POST /v1/metrics` with a protobuf or JSON body, optionally gzip.
 *
 * Answers per the OTLP spec: 200 with `partial_success` naming the rules that rejected points;
 * 400 (google.rpc.Status) for a body that does not decode; 413 for a body over the limit (before
 * or after decompression, so a gzip bomb costs at most the limit); 415 for other content types.
 * The response uses the request's encoding. A retry of a request already accepted (the pipeline
 * says `duplicate`, see pipeline/otlp-dedupe.ts) is answered 200 again without being ingested;
 * its partial_success repeats the decoder's rejections (not counted again), not the policy's.
 */
import { gunzipSync } from "node:zlib";
import type { Logger } from "../../core/deps";
import type { Point } from "../../core/points";
import { err, ok, type Result } from "../../core/result";
import { startHttpServer, type HttpHandler, type HttpReply, type HttpServerHandle } from "../../platform/http-server";
import { decodeOtlpMetrics } from "./otlp-decode";
import { encodeOtlpError, encodeOtlpResponse } from "./otlp-response";

export interface OtlpSourceConfig {
  listen: string;
  maxBodyBytes: number;
  /** Resource attributes copied into labels (the policy allowlist: e.g. region set once on the resource). */
  resourceLabels: ReadonlySet<string>;
}

export interface OtlpIngestResult {
  rejected: number;
  messages: string[];
  /** True when this exact request was accepted before (a retry): nothing was ingested. */
  duplicate?: boolean;
}

export interface OtlpSourceDeps {
  log: Logger;
  /**
   * Hands decoded points (and the decompressed body they came from, for the write-ahead journal)
   * to the pipeline; resolves with what was rejected there, or an error when the request could
   * not be made durable (answered 503, so the sender retries).
   */
  ingest(points: Point[], body: Uint8Array, format: Format): Promise<Result<OtlpIngestResult, string>>;
  /** Counts malformed input (or points the decoder could not represent) by reason. */
  countMalformed(reason: string, n?: number): void;
}

export interface OtlpSource {
  readonly id: "source.otlp";
  start(): Promise<Result<void, { code: "LISTEN_FAILED"; message: string }>>;
  stop(): Promise<void>;
  isListening(): boolean;
  address(): { address: string; port: number } | undefined;
}

export type Format = "protobuf" | "json";

export function createOtlpSource(config: OtlpSourceConfig, deps: OtlpSourceDeps): OtlpSource {
  let server: HttpServerHandle | undefined;
  const handle = createOtlpHandler(config, deps);
  return {
    id: "source.otlp",
    async start() {
      const r = await startHttpServer(config.listen, handle, deps.log);
      if (!r.ok) return err({ code: "LISTEN_FAILED", message: `OTLP ${r.error}` });
      server = r.value;
      return ok(undefined);
    },
    async stop() {
      const s = server;
      server = undefined;
      await s?.close();
    },
    isListening: () => server !== undefined,
    address: () => server?.address(),
  };
}

/** The request → reply logic, independent of the HTTP server underneath. */
export function createOtlpHandler(config: OtlpSourceConfig, deps: OtlpSourceDeps): HttpHandler {
  const replyError = (format: Format, status: number, message: string): HttpReply => {
    const out = encodeOtlpError(format, status, message);
    return { status, contentType: out.contentType, body: out.body };
  };
  return async (req) => {
    if (req.path !== "/v1/metrics") return { status: 404, contentType: "text/plain", body: "not found; OTLP metrics go to POST /v1/metrics\n" };
    if (req.method !== "POST") return { status: 405, contentType: "text/plain", body: "use POST\n", headers: { allow: "POST" } };
    const format = formatOf(req.header("content-type"));
    if (format === undefined) {
      deps.countMalformed("unsupported_content_type");
      return replyError("json", 415, `unsupported content-type ${JSON.stringify(req.header("content-type") ?? "")}; use application/x-protobuf or application/json`);
    }
    const bodyResult = await req.readBody(config.maxBodyBytes);
    if (!bodyResult.ok) {
      deps.countMalformed(bodyResult.error.reason);
      return replyError(format, bodyResult.error.status, bodyResult.error.message);
    }
    let body = bodyResult.value;
    const encoding = (req.header("content-encoding") ?? "identity").toLowerCase();
    if (encoding === "gzip") {
      try {
        body = gunzipSync(body, { maxOutputLength: config.maxBodyBytes });
      } catch (e) {
        const tooBig = (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError;
        deps.countMalformed(tooBig ? "body_too_large" : "bad_gzip");
        return replyError(format, tooBig ? 413 : 400, tooBig ? `decompressed body exceeds ${config.maxBodyBytes} bytes` : "body is not valid gzip");
      }
    } else if (encoding !== "identity") {
      deps.countMalformed("unsupported_encoding");
      return replyError(format, 415, `unsupported content-encoding ${encoding}; use gzip or none`);
    }
    const decoded = decodeOtlpMetrics(body, format, { includeResourceAttributes: config.resourceLabels });
    if (!decoded.ok) {
      const reason = decoded.error.code === "OTLP_BAD_JSON" ? "bad_json" : decoded.error.code === "OTLP_BAD_UTF8" ? "invalid_utf8" : "bad_protobuf";
      deps.countMalformed(reason);
      return replyError(format, 400, decoded.error.message);
    }
    const ingested = await deps.ingest(decoded.value.points, body, format);
    if (!ingested.ok || !ingested.value.duplicate) {
      for (const [reason, n] of Object.entries(decoded.value.rejected.reasons)) deps.countMalformed(reason, n);
    }
    if (!ingested.ok) {
      deps.countMalformed("not_durable");
      const out = encodeOtlpError(format, 503, `the agent could not make the request durable (${ingested.error}); retry later`);
      return { status: 503, contentType: out.contentType, body: out.body, headers: { "retry-after": "5" } };
    }
    const result = ingested.value;
    const rejected = decoded.value.rejected.count + result.rejected;
    const messages = [...decoded.value.rejected.messages, ...result.messages];
    const out = encodeOtlpResponse(format, rejected > 0 ? { rejectedDataPoints: rejected, errorMessage: messages.join("; ") } : undefined);
    return { status: 200, contentType: out.contentType, body: out.body };
  };
}

function formatOf(contentType: string | undefined): Format | undefined {
  const ct = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (ct === "application/x-protobuf" || ct === "application/protobuf") return "protobuf";
  if (ct === "application/json") return "json";
  return undefined;
}

