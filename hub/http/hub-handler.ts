/**
 * The hub's one HTTP address:
 *
 *   POST /api/v1/write, /api/v1/push   Prometheus remote write 1.0 (snappy protobuf)   tenant token
 *   POST /v1/metrics                   OTLP/HTTP metrics (protobuf or JSON)            tenant token
 *   GET  /metrics  /-/ready  /-/healthy                                                open
 *   GET  /api/v1/fleet[?selector=…]    agents seen, version, config hash, cadence…     admin token
 *   POST /api/v1/fleet/cadence         {"selector":"region=eu-west-1","mode":"incident","ttlSeconds":1800}
 *   GET  /api/v1/status                tenants, upstreams, queues                      admin token
 */
import { PROM_TEXT_CONTENT_TYPE } from "../../agent/admin/prom-text";
import type { Logger } from "../../agent/core/deps";
import type { HttpHandler, HttpReply, HttpRequest } from "../../agent/platform/http-server";
import { encodeOtlpError, encodeOtlpResponse } from "../../agent/sources/otlp/otlp-response";
import type { TenantAuth } from "../auth/tenant-auth";
import type { HubConfig, TenantConfig } from "../config/hub-config";
import { parseSelector, type Fleet } from "../fleet/fleet";
import { convertOtlpToRemoteWrite } from "../ingest/otlp-to-remote-write";
import type { HubCounters } from "../pipeline/hub-counters";
import type { HubIngest, WriteContext, WriteOutcome } from "../pipeline/hub-ingest";

export interface HubHandlerDeps {
  config: HubConfig;
  auth: TenantAuth;
  ingest: HubIngest;
  fleet: Fleet;
  counters: HubCounters;
  log: Logger;
  nowMs(): number;
  ready(): { ready: boolean; reason: string };
  renderMetrics(): string;
  status(): unknown;
}

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json";

export function createHubHandler(deps: HubHandlerDeps): HttpHandler {
  const { auth, fleet } = deps;

  /** Tenant from the bearer token, the client certificate the listener verified, or a subject a trusted proxy passed. */
  function tenantOf(req: HttpRequest): TenantConfig | undefined {
    const subject = auth.subjectHeader ? req.header(auth.subjectHeader) : undefined;
    return auth.tenantFor(req.header("authorization"), subject !== undefined ? req.remoteAddress() : "", subject, req.tlsSubject());
  }

  function context(req: HttpRequest, tenant: TenantConfig): WriteContext {
    const agentLabels = req.header("x-edge-agent-labels");
    const host = agentLabels ? /(?:^|,)host=([^,]*)/.exec(agentLabels)?.[1] : undefined;
    const sender = host ?? `${req.remoteAddress()}|${req.header("user-agent") ?? ""}`;
    return {
      tenant,
      senderKey: `${tenant.id}|${sender}`,
      batchId: req.header("x-edge-agent-batch-id") || undefined,
      upstream: req.header("x-edge-hub-upstream") || undefined,
    };
  }

  /** Fleet view + the cadence header for the answer. */
  function fleetHeaders(req: HttpRequest, tenant: TenantConfig): Record<string, string> {
    const cadence = fleet.observe(tenant.id, {
      labels: req.header("x-edge-agent-labels"),
      version: req.header("x-edge-agent-version"),
      config: req.header("x-edge-agent-config"),
      cadence: req.header("x-edge-agent-cadence"),
      series: req.header("x-edge-agent-series"),
    });
    return cadence ? { "x-edge-hub-cadence": cadence } : {};
  }

  function textReply(outcome: WriteOutcome, extra: Record<string, string>): HttpReply {
    return {
      status: outcome.status,
      contentType: outcome.status === 204 ? undefined : TEXT,
      body: outcome.status === 204 ? undefined : `${outcome.message}\n`,
      headers: { ...extra, ...outcome.headers },
    };
  }

  async function remoteWrite(req: HttpRequest): Promise<HttpReply> {
    const tenant = tenantOf(req);
    if (!tenant) {
      deps.counters.requestRejected("__unauthenticated__", "unauthorized");
      return { status: 401, contentType: TEXT, body: "missing or unknown bearer token\n", headers: { "www-authenticate": 'Bearer realm="edge-hub"' } };
    }
    deps.counters.request(tenant.id);
    const encoding = req.header("content-encoding");
    if (encoding !== undefined && encoding.toLowerCase() !== "snappy") {
      deps.counters.requestRejected(tenant.id, "unsupported_encoding");
      return { status: 415, contentType: TEXT, body: `content-encoding ${JSON.stringify(encoding)} is not supported; remote write uses snappy\n` };
    }
    const type = req.header("content-type") ?? "";
    if (/proto=io\.prometheus\.write\.v2/.test(type)) {
      deps.counters.requestRejected(tenant.id, "unsupported_protocol");
      return { status: 415, contentType: TEXT, body: "remote write 2.0 is not supported yet; send 1.0 (prometheus.WriteRequest)\n" };
    }
    const ctx = context(req, tenant);
    const pacing = deps.ingest.paceFor(ctx);
    if (pacing) await pacing;
    const body = await req.readBody(tenant.limits.maxRequestBytes);
    if (!body.ok) {
      deps.counters.requestRejected(tenant.id, body.error.reason);
      return { status: body.error.status, contentType: TEXT, body: `${body.error.message}\n` };
    }
    const headers = fleetHeaders(req, tenant);
    const outcome = await deps.ingest.writeCompressed(ctx, body.value);
    return textReply(outcome, headers);
  }

  async function otlp(req: HttpRequest): Promise<HttpReply> {
    const type = (req.header("content-type") ?? "").toLowerCase();
    const format = type.startsWith("application/json") ? "json" : type.startsWith("application/x-protobuf") ? "protobuf" : undefined;
    if (format === undefined) return { status: 415, contentType: TEXT, body: "content-type must be application/x-protobuf or application/json\n" };
    const fail = (status: number, message: string, headers?: Record<string, string>): HttpReply => {
      const e = encodeOtlpError(format, status, message);
      return { status, contentType: e.contentType, body: e.body, headers };
    };
    const tenant = tenantOf(req);
    if (!tenant) {
      deps.counters.requestRejected("__unauthenticated__", "unauthorized");
      return fail(401, "missing or unknown bearer token");
    }
    deps.counters.request(tenant.id);
    const encoding = (req.header("content-encoding") ?? "identity").toLowerCase();
    if (encoding !== "identity" && encoding !== "gzip") return fail(415, `content-encoding ${encoding} is not supported (identity or gzip)`);
    const ctx = context(req, tenant);
    const pacing = deps.ingest.paceFor(ctx);
    if (pacing) await pacing;
    const body = await req.readBody(tenant.limits.maxRequestBytes);
    if (!body.ok) return fail(body.error.status, body.error.message);
    let raw = body.value;
    if (encoding === "gzip") {
      const { gunzipSync } = await import("node:zlib");
      try {
        raw = gunzipSync(raw, { maxOutputLength: deps.config.limits.maxDecompressedBytes });
      } catch (e) {
        const tooBig = /maxOutputLength|buffer/i.test((e as Error).message);
        return fail(tooBig ? 413 : 400, tooBig ? `decompressed body exceeds ${deps.config.limits.maxDecompressedBytes} bytes` : "body is not valid gzip");
      }
    }
    const converted = convertOtlpToRemoteWrite(raw, format, { timestampMs: deps.nowMs() });
    if (!converted.ok) {
      deps.counters.requestRejected(tenant.id, converted.error.reason);
      return fail(converted.error.status, converted.error.message);
    }
    const headers = fleetHeaders(req, tenant);
    const outcome = await deps.ingest.writeConverted(ctx, converted.value.writeRequest, converted.value.snappyBody);
    const convertRejected = converted.value.rejected.reduce((n, r) => n + r.count, 0);
    // Transient or whole-request refusals keep their status; series-level refusals (policy 400,
    // quota 409) become an OTLP partial success, which the OTLP spec says not to retry.
    if (outcome.status !== 204 && outcome.status !== 400 && outcome.status !== 409) {
      return fail(outcome.status, outcome.message, { ...headers, ...outcome.headers });
    }
    const rejected = convertRejected + outcome.rejectedSamples;
    for (const r of converted.value.restamped) deps.counters.pointsRestamped(tenant.id, r.reason, r.count);
    const messages = [
      ...converted.value.rejected.map((r) => `${r.count} points: ${r.reason}`),
      // Stored, so not rejected: an OTLP partial success with 0 rejected points is a warning.
      ...converted.value.restamped.map((r) => `${r.count} points stored at the receive time: ${r.reason}`),
      ...(outcome.status === 204 ? [] : [outcome.message]),
    ];
    const ok = encodeOtlpResponse(format, messages.length > 0 ? { rejectedDataPoints: rejected, errorMessage: messages.join("; ") } : undefined);
    return { status: 200, contentType: ok.contentType, body: ok.body, headers };
  }

  function admin(req: HttpRequest): HttpReply | undefined {
    if (!auth.adminEnabled) return { status: 403, contentType: TEXT, body: "admin endpoints are off: set adminTokenFile (or --admin-token-file)\n" };
    if (!auth.isAdmin(req.header("authorization"))) return { status: 401, contentType: TEXT, body: "admin token required\n" };
    return undefined;
  }

  async function setCadence(req: HttpRequest): Promise<HttpReply> {
    const body = await req.readBody(64 * 1024);
    if (!body.ok) return { status: body.error.status, contentType: TEXT, body: `${body.error.message}\n` };
    let parsed: { selector?: unknown; mode?: unknown; ttlSeconds?: unknown };
    try {
      parsed = JSON.parse(new TextDecoder().decode(body.value));
    } catch {
      return json(400, { error: "body must be JSON: {\"selector\":\"region=eu-west-1\",\"mode\":\"incident\",\"ttlSeconds\":1800}" });
    }
    const selector = parseSelector(typeof parsed.selector === "string" ? parsed.selector : "");
    if (!selector.ok) return json(400, { error: selector.error });
    if (parsed.mode !== "incident" && parsed.mode !== "steady") return json(400, { error: `mode must be "incident" or "steady" (got ${JSON.stringify(parsed.mode)})` });
    const ttl = parsed.ttlSeconds === undefined ? 1800 : Number(parsed.ttlSeconds);
    if (!(ttl > 0 && ttl <= 7 * 24 * 3600)) return json(400, { error: `ttlSeconds must be between 1 and 604800 (got ${JSON.stringify(parsed.ttlSeconds)})` });
    const r = fleet.setCadence(selector.value, parsed.mode, ttl);
    if (!r.ok) return json(500, { error: r.error });
    return json(200, { mode: parsed.mode, selector: parsed.selector ?? "*", ttlSeconds: parsed.mode === "incident" ? ttl : 0, matchingAgents: fleet.count(selector.value), rules: r.value });
  }

  return async (req) => {
    const { method, path } = req;
    if (method === "POST" && (path === "/api/v1/write" || path === "/api/v1/push")) return remoteWrite(req);
    if (method === "POST" && path === "/v1/metrics") return otlp(req);
    if (method === "GET" && path === "/metrics") return { status: 200, contentType: PROM_TEXT_CONTENT_TYPE, body: deps.renderMetrics() };
    if (method === "GET" && path === "/-/healthy") return { status: 200, contentType: TEXT, body: "OK\n" };
    if (method === "GET" && path === "/-/ready") {
      const r = deps.ready();
      return { status: r.ready ? 200 : 503, contentType: TEXT, body: `${r.ready ? "ready" : `not ready: ${r.reason}`}\n` };
    }
    if (path === "/api/v1/fleet" && method === "GET") {
      const denied = admin(req);
      if (denied) return denied;
      const q = new URLSearchParams(req.query).get("selector") ?? "";
      const selector = parseSelector(q);
      if (!selector.ok) return json(400, { error: selector.error });
      return json(200, fleet.view(selector.value));
    }
    if (path === "/api/v1/fleet/cadence" && method === "POST") {
      const denied = admin(req);
      if (denied) return denied;
      return setCadence(req);
    }
    if (path === "/api/v1/status" && method === "GET") {
      const denied = admin(req);
      if (denied) return denied;
      return json(200, deps.status());
    }
    if (["/api/v1/write", "/api/v1/push", "/v1/metrics", "/api/v1/fleet/cadence"].includes(path)) {
      return { status: 405, contentType: TEXT, body: `${method} not allowed on ${path}\n`, headers: { allow: "POST" } };
    }
    return { status: 404, contentType: TEXT, body: "not found: the hub serves /api/v1/write, /api/v1/push, /v1/metrics, /metrics, /-/ready, /-/healthy, /api/v1/fleet\n" };
  };
}

function json(status: number, value: unknown): HttpReply {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(value) };
}
