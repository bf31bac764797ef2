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
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { splitListen } from "../config/config";
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
  let server: Server | undefined;
  const identity = Object.entries(runtime.config.identity.labels).sort(([a], [b]) => (a < b ? -1 : 1)) as [string, string][];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      const text = renderPrometheusText(runtime.lastFlushRecord()?.series ?? [], identity, runtime.selfMetrics());
      return send(res, 200, PROM_TEXT_CONTENT_TYPE, text);
    }
    if (req.method === "GET" && path === "/-/healthy") return send(res, 200, "text/plain", "ok\n");
    if (req.method === "GET" && path === "/-/ready") {
      const r = runtime.ready();
      return send(res, r.ok ? 200 : 503, "text/plain", r.reason + "\n");
    }
    if (req.method === "GET" && path === "/api/v1/status") return sendJson(res, 200, runtime.status());
    if (path === "/api/v1/cadence") {
      if (req.method === "GET") return sendJson(res, 200, cadenceView(runtime));
      if (req.method !== "POST") return send(res, 405, "text/plain", "use GET or POST\n");
      return readJson(req, (body) => {
        const parsed = parseCadenceRequest(body);
        if (!parsed.ok) return sendJson(res, 400, { error: parsed.error });
        runtime.setCadence(parsed.value.mode, parsed.value.ttlSeconds);
        sendJson(res, 200, cadenceView(runtime));
      });
    }
    send(res, 404, "text/plain", "not found; see /metrics, /-/ready, /-/healthy, /api/v1/status, /api/v1/cadence\n");
  };

  return {
    start() {
      const { host, port } = splitListen(listen);
      return new Promise((resolve) => {
        server = createServer(handle);
        server.once("error", (e) => resolve(err(`admin listen on ${listen} failed: ${e.message}`)));
        server.listen(port, host, () => {
          server!.on("error", (e) => log.error("Admin server error.", { error: e }));
          resolve(ok(undefined));
        });
      });
    },
    stop() {
      return new Promise((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
    address() {
      const a = server?.address();
      return a && typeof a === "object" ? { address: a.address, port: a.port } : undefined;
    },
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

function readJson(req: IncomingMessage, done: (body: unknown) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= MAX_CADENCE_BODY_BYTES) chunks.push(c);
  });
  req.on("end", () => {
    if (size > MAX_CADENCE_BODY_BYTES) return done(undefined);
    try {
      done(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    } catch {
      done(undefined);
    }
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, "application/json", JSON.stringify(body, null, 2) + "\n");
}
