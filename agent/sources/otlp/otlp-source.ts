/**
 * OTLP/HTTP metrics source: `POST /v1/metrics` with a protobuf or JSON body, optionally gzip.
 *
 * Answers per the OTLP spec: 200 with `partial_success` naming the rules that rejected points;
 * 400 (google.rpc.Status) for a body that does not decode; 413 for a body over the limit (before
 * or after decompression, so a gzip bomb costs at most the limit); 415 for other content types.
 * The response uses the request's encoding.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { gunzipSync } from "node:zlib";
import type { Logger } from "../../core/deps";
import type { Point } from "../../core/points";
import { err, ok, type Result } from "../../core/result";
import { splitListen } from "../../config/config";
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
}

export interface OtlpSourceDeps {
  log: Logger;
  /** Hands decoded points to the pipeline; returns what was rejected there. */
  ingest(points: Point[]): OtlpIngestResult;
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

type Format = "protobuf" | "json";

export function createOtlpSource(config: OtlpSourceConfig, deps: OtlpSourceDeps): OtlpSource {
  let server: Server | undefined;
  let listening = false;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.split("?")[0] !== "/v1/metrics") return reply(res, 404, "text/plain", "not found\n");
    if (req.method !== "POST") return reply(res, 405, "text/plain", "use POST\n", { allow: "POST" });
    const format = formatOf(req.headers["content-type"]);
    if (format === undefined) {
      deps.countMalformed("unsupported_content_type");
      return replyError(res, "json", 415, `unsupported content-type ${JSON.stringify(req.headers["content-type"] ?? "")}; use application/x-protobuf or application/json`);
    }
    readBody(req, config.maxBodyBytes, (bodyResult) => {
      if (!bodyResult.ok) {
        deps.countMalformed(bodyResult.error.reason);
        return replyError(res, format, bodyResult.error.status, bodyResult.error.message);
      }
      let body = bodyResult.value;
      const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
      if (encoding === "gzip") {
        try {
          body = gunzipSync(body, { maxOutputLength: config.maxBodyBytes });
        } catch (e) {
          const tooBig = (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError;
          deps.countMalformed(tooBig ? "body_too_large" : "bad_gzip");
          return replyError(res, format, tooBig ? 413 : 400, tooBig ? `decompressed body exceeds ${config.maxBodyBytes} bytes` : "body is not valid gzip");
        }
      } else if (encoding !== "identity") {
        deps.countMalformed("unsupported_encoding");
        return replyError(res, format, 415, `unsupported content-encoding ${encoding}; use gzip or none`);
      }
      const decoded = decodeOtlpMetrics(body, format, { includeResourceAttributes: config.resourceLabels });
      if (!decoded.ok) {
        deps.countMalformed(decoded.error.code === "OTLP_BAD_JSON" ? "bad_json" : decoded.error.code === "OTLP_BAD_UTF8" ? "invalid_utf8" : "bad_protobuf");
        return replyError(res, format, 400, decoded.error.message);
      }
      for (const [reason, n] of Object.entries(decoded.value.rejected.reasons)) deps.countMalformed(reason, n);
      const result = deps.ingest(decoded.value.points);
      const rejected = decoded.value.rejected.count + result.rejected;
      const messages = [...decoded.value.rejected.messages, ...result.messages];
      const out = encodeOtlpResponse(format, rejected > 0 ? { rejectedDataPoints: rejected, errorMessage: messages.join("; ") } : undefined);
      reply(res, 200, out.contentType, out.body);
    });
  };

  const replyError = (res: ServerResponse, format: Format, status: number, message: string) => {
    const out = encodeOtlpError(format, status, message);
    reply(res, status, out.contentType, out.body);
  };

  return {
    id: "source.otlp",
    start() {
      const { host, port } = splitListen(config.listen);
      return new Promise((resolve) => {
        server = createServer(handle);
        server.keepAliveTimeout = 65_000;
        server.once("error", (e) => resolve(err({ code: "LISTEN_FAILED", message: `OTLP listen on ${config.listen} failed: ${e.message}` })));
        server.listen(port, host, () => {
          listening = true;
          server!.on("error", (e) => deps.log.error("OTLP server error.", { error: e }));
          resolve(ok(undefined));
        });
      });
    },
    stop() {
      listening = false;
      return new Promise((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
    isListening: () => listening,
    address() {
      const a = server?.address();
      return a && typeof a === "object" ? { address: a.address, port: a.port } : undefined;
    },
  };
}

function formatOf(contentType: string | undefined): Format | undefined {
  const ct = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (ct === "application/x-protobuf" || ct === "application/protobuf") return "protobuf";
  if (ct === "application/json") return "json";
  return undefined;
}

type BodyError = { status: number; reason: string; message: string };

function readBody(req: IncomingMessage, maxBytes: number, done: (r: Result<Buffer, BodyError>) => void): void {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) {
    req.resume();
    return done(err({ status: 413, reason: "body_too_large", message: `body of ${declared} bytes exceeds ${maxBytes} bytes` }));
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on("data", (c: Buffer) => {
    if (failed) return;
    size += c.length;
    if (size > maxBytes) {
      failed = true;
      done(err({ status: 413, reason: "body_too_large", message: `body exceeds ${maxBytes} bytes` }));
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    if (!failed) done(ok(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
  });
  req.on("error", () => {
    if (!failed) {
      failed = true;
      done(err({ status: 400, reason: "aborted", message: "request aborted" }));
    }
  });
}

function reply(res: ServerResponse, status: number, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}
