/**
 * Admin HTTP on the admin address (default 127.0.0.1:9464, loopback: operators and the local
 * Prometheus/scraper only).
 *
 *   GET  /metrics          last flush's series + self-metrics, Prometheus text 0.0.4
 *   GET  /-/ready          200 when sources listen and flushes are on time; 503 + reason otherwise
 *   GET  /-/healthy        200 while the process serves
 *   GET  /api/v1/status    JSON of what `agent status` prints
 *   POST /api/v1/cadence   {"mode":"incident","ttlSeconds":1800} | {"mode":"steady"}
 */
import { startHttpServer, type HttpHandler, type HttpReply, type HttpServerHandle } from "../platform/http-server";
import type { Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import type { AgentRuntime } from "../run/agent-runtime";
import { PROM_TEXT_CONTENT_TYPE, renderPrometheusText } from "./prom-text";

const MAX_CADENCE_BODY_BYTES = 4096;
const MAX_TTL_SEC = 7 * 24 * 3600;

export interface AdminServer {
  start(): Promise<Result<void, string>>;
  stop(): Promise<void>;
  address(): { address: string; port: number } | undefined;
}

export function createAdminServer(listen: string, runtime: AgentRuntime, log: Logger): AdminServer {
  let server: HttpServerHandle | undefined;
  const handle = createAdminHandler(runtime);
  return {
    async start() {
      const r = await startHttpServer(listen, handle, log);
      if (!r.ok) return err(`admin ${r.error}`);
      server = r.value;
      return ok(undefined);
    },
    async stop() {
      await server?.close();
      server = undefined;
    },
    address: () => server?.address(),
  };
}

export function createAdminHandler(runtime: AgentRuntime): HttpHandler {
  const identity = runtime.identityLabels();
  return async (req) => {
    const { method, path } = req;
    if (method === "GET" && path === "/metrics") {
      const text = renderPrometheusText(runtime.lastFlushRecord()?.series ?? [], identity, runtime.selfMetrics());
      return { status: 200, contentType: PROM_TEXT_CONTENT_TYPE, body: text };
    }
    if (method === "GET" && path === "/-/healthy") return text(200, "ok\n");
    if (method === "GET" && path === "/-/ready") {
      const r = runtime.ready();
      return text(r.ok ? 200 : 503, r.reason + "\n");
    }
    if (method === "GET" && path === "/api/v1/status") return json(200, runtime.status());
    if (path === "/api/v1/cadence") {
      if (method === "GET") return json(200, cadenceView(runtime));
      if (method !== "POST") return text(405, "use GET or POST\n");
      const body = await req.readBody(MAX_CADENCE_BODY_BYTES);
      if (!body.ok) return json(body.error.status, { error: body.error.message });
      const parsed = parseCadenceRequest(body.ok ? parseJson(body.value) : undefined);
      if (!parsed.ok) return json(400, { error: parsed.error });
      runtime.setCadence(parsed.value.mode, parsed.value.ttlSeconds);
      return json(200, cadenceView(runtime));
    }
    return text(404, "not found; see /metrics, /-/ready, /-/healthy, /api/v1/status, /api/v1/cadence\n");
  };
}

function cadenceView(runtime: AgentRuntime) {
  return {
    mode: runtime.cadence.mode(),
    intervalSec: runtime.cadence.intervalMs() / 1000,
    incidentRemainingSec: Math.round(runtime.cadence.remainingMs() / 1000),
  };
}

export function parseCadenceRequest(body: unknown): Result<{ mode: "steady" | "incident"; ttlSeconds?: number }, string> {
  if (body === null || typeof body !== "object") return err('body must be a JSON object like {"mode":"incident","ttlSeconds":1800}');
  const { mode, ttlSeconds } = body as Record<string, unknown>;
  if (mode !== "steady" && mode !== "incident") return err(`mode must be "steady" or "incident" (got ${JSON.stringify(mode)})`);
  if (ttlSeconds !== undefined && (typeof ttlSeconds !== "number" || !(ttlSeconds > 0) || ttlSeconds > MAX_TTL_SEC)) {
    return err(`ttlSeconds must be a number of seconds in (0, ${MAX_TTL_SEC}] (got ${JSON.stringify(ttlSeconds)})`);
  }
  return ok({ mode, ttlSeconds: ttlSeconds as number | undefined });
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

function text(status: number, body: string): HttpReply {
  return { status, contentType: "text/plain; charset=utf-8", body };
}

function json(status: number, body: unknown): HttpReply {
  return { status, contentType: "application/json", body: JSON.stringify(body, null, 2) + "\n" };
}
