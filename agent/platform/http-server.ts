/**
 * The HTTP server adapter (STYLE §10: runtime specifics live behind a thin edge).
 *
 * Handlers see a small request/reply shape. Under Bun (the compiled binary) it runs on
 * Bun.serve; under Node (vitest, tools) on node:http. Why: in the compiled binary one node:http
 * server costs ~12 MiB of RSS and ~2× the CPU per request of Bun.serve (measured here, see
 * bench/), and the agent's whole memory budget is 35 MiB. node:http is imported lazily so the
 * binary never loads it.
 *
 * Client certificates: a TLS listener with a client CA runs on node:tls + node:http in both
 * runtimes, because Bun.serve (and Bun's node:https) verify the client's certificate but never
 * hand it to the handler (measured on Bun 1.4.5), and the hub maps the verified subject to a
 * tenant. It costs ~2.5x the CPU per request of Bun.serve with TLS; only such listeners pay it.
 */
import { err, ok, type Result } from "../core/result";
import type { Logger } from "../core/deps";
import { splitListen } from "../config/listen";

export interface BodyError {
  status: 400 | 413;
  reason: "body_too_large" | "aborted";
  message: string;
}

export interface HttpRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string without "?", or "". */
  query: string;
  /** Peer IP address, or "" when unknown. */
  remoteAddress(): string;
  /**
   * Subject of the client certificate this listener verified against its client CA, as
   * "CN=…,O=…" in the certificate's order; undefined without TLS client auth or without a valid
   * certificate.
   */
  tlsSubject(): string | undefined;
  /** Lower-case header lookup. */
  header(name: string): string | undefined;
  /** Reads the body, refusing more than maxBytes (from Content-Length before reading, or while reading). */
  readBody(maxBytes: number): Promise<Result<Uint8Array, BodyError>>;
}

export interface HttpReply {
  status: number;
  contentType?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

export type HttpHandler = (req: HttpRequest) => HttpReply | Promise<HttpReply>;

export interface HttpServerHandle {
  address(): { address: string; port: number };
  close(): Promise<void>;
}

interface BunServer {
  port: number;
  hostname: string;
  stop(closeActive?: boolean): void | Promise<void>;
  requestIP?(req: Request): { address: string } | null;
}

/**
 * TLS for a listener: PEM file contents. With `ca`, clients are asked for a certificate signed by
 * it (its subject reaches the handler); with `requestCert` too, a client without one is refused
 * during the handshake.
 */
export interface TlsOptions {
  cert: string;
  key: string;
  ca?: string;
  requestCert?: boolean;
}

export interface HttpServerOptions {
  tls?: TlsOptions;
}

interface BunGlobal {
  serve(options: {
    hostname: string;
    port: number;
    maxRequestBodySize?: number;
    idleTimeout?: number;
    tls?: { cert: string; key: string; ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean };
    fetch(req: Request, server: BunServer): Response | Promise<Response>;
    error?(e: Error): Response;
  }): BunServer;
}

/** Bun.serve listeners have no client-certificate subject (see the module comment). */
const noSubject = (): undefined => undefined;

/** Maximum body any handler may accept; handlers apply their own smaller limits. */
const HARD_BODY_LIMIT = 256 * 1024 * 1024;

export async function startHttpServer(
  listen: string,
  handler: HttpHandler,
  log: Logger,
  options: HttpServerOptions = {},
): Promise<Result<HttpServerHandle, string>> {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (options.tls?.ca) return startClientCertServer(listen, handler, log, options.tls);
  return bun ? startBunServer(bun, listen, handler, log, options) : startNodeServer(listen, handler, log, options);
}

function tlsSettings(tls: TlsOptions) {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: tls.requestCert === true } : {}),
  };
}

function toResponse(reply: HttpReply): Response {
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.contentType) headers["content-type"] = reply.contentType;
  return new Response((reply.body ?? "") as BodyInit, { status: reply.status, headers });
}

function startBunServer(bun: BunGlobal, listen: string, handler: HttpHandler, log: Logger, options: HttpServerOptions): Result<HttpServerHandle, string> {
  const { host, port } = splitListen(listen);
  let server: BunServer;
  try {
    server = bun.serve({
      hostname: host,
      port,
      maxRequestBodySize: HARD_BODY_LIMIT,
      idleTimeout: 65,
      ...(options.tls ? { tls: tlsSettings(options.tls) } : {}),
      async fetch(request, srv) {
        const url = request.url;
        const pathStart = url.indexOf("/", url.indexOf("//") + 2);
        const queryStart = url.indexOf("?", pathStart);
        const path = pathStart < 0 ? "/" : url.slice(pathStart, queryStart < 0 ? undefined : queryStart);
        const req: HttpRequest = {
          method: request.method,
          path,
          query: queryStart < 0 ? "" : url.slice(queryStart + 1),
          remoteAddress: () => srv?.requestIP?.(request)?.address ?? "",
          tlsSubject: noSubject,
          header: (name) => request.headers.get(name) ?? undefined,
          readBody: (maxBytes) => readFetchBody(request, maxBytes),
        };
        try {
          return toResponse(await handler(req));
        } catch (e) {
          log.error("BUG: HTTP handler threw.", { path, error: e });
          return new Response("internal error\n", { status: 500 });
        }
      },
      error(e) {
        log.error("HTTP server error.", { error: e });
        return new Response("internal error\n", { status: 500 });
      },
    });
  } catch (e) {
    return err(`listen on ${listen} failed: ${(e as Error).message}`);
  }
  return ok({
    address: () => ({ address: server.hostname, port: server.port }),
    close: async () => {
      await server.stop(true);
    },
  });
}

async function readFetchBody(request: Request, maxBytes: number): Promise<Result<Uint8Array, BodyError>> {
  const lengthHeader = request.headers.get("content-length");
  const declared = Number(lengthHeader ?? "0");
  if (declared > maxBytes) return err(tooLarge(maxBytes, declared));
  if (!request.body) return ok(new Uint8Array(0));
  // A declared length within the limit: one read (the server holds the body to that length).
  if (lengthHeader !== null && Number.isSafeInteger(declared)) {
    try {
      const bytes = new Uint8Array(await request.arrayBuffer());
      return bytes.length > maxBytes ? err(tooLarge(maxBytes)) : ok(bytes);
    } catch {
      return err({ status: 400, reason: "aborted", message: "request aborted" });
    }
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return err(tooLarge(maxBytes));
      }
      chunks.push(value);
    }
  } catch {
    return err({ status: 400, reason: "aborted", message: "request aborted" });
  }
  return ok(concat(chunks, size));
}

type NodeRequestListener = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void;

/** A node:http request listener around `handler`; `subjectOf` gives a connection's verified client subject. */
function nodeRequestListener(handler: HttpHandler, log: Logger, subjectOf: (socket: object) => string | undefined = () => undefined): NodeRequestListener {
  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const request: HttpRequest = {
      method: req.method ?? "GET",
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? "" : url.slice(q + 1),
      remoteAddress: () => req.socket.remoteAddress ?? "",
      tlsSubject: () => subjectOf(req.socket),
      header: (name) => {
        const v = req.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(", ") : v;
      },
      readBody: (maxBytes) =>
        new Promise((resolve) => {
          const declared = Number(req.headers["content-length"] ?? "0");
          if (declared > maxBytes) {
            req.resume();
            return resolve(err(tooLarge(maxBytes, declared)));
          }
          const chunks: Uint8Array[] = [];
          let size = 0;
          let settled = false;
          req.on("data", (c: Buffer) => {
            if (settled) return;
            size += c.length;
            if (size > maxBytes) {
              settled = true;
              resolve(err(tooLarge(maxBytes)));
            } else chunks.push(c);
          });
          req.on("end", () => {
            if (!settled) resolve(ok(concat(chunks, size)));
          });
          req.on("error", () => {
            if (!settled) resolve(err({ status: 400, reason: "aborted", message: "request aborted" }));
          });
        }),
    };
    Promise.resolve()
      .then(() => handler(request))
      .then(
        (reply) => {
          const body = reply.body ?? "";
          const headers: Record<string, string | number> = { ...reply.headers, "content-length": Buffer.byteLength(body) };
          if (reply.contentType) headers["content-type"] = reply.contentType;
          res.writeHead(reply.status, headers);
          res.end(body);
        },
        (e) => {
          log.error("BUG: HTTP handler threw.", { path: request.path, error: e });
          res.writeHead(500);
          res.end("internal error\n");
        },
      );
  };
}

async function startNodeServer(listen: string, handler: HttpHandler, log: Logger, options: HttpServerOptions): Promise<Result<HttpServerHandle, string>> {
  const { host, port } = splitListen(listen);
  const onRequest = nodeRequestListener(handler, log);
  const server = options.tls
    ? (await import("node:https")).createServer(tlsSettings(options.tls), onRequest)
    : (await import("node:http")).createServer(onRequest);
  server.keepAliveTimeout = 65_000;
  const listening = await listenOn(server, listen, host, port);
  if (!listening.ok) return listening;
  server.on("error", (e) => log.error("HTTP server error.", { error: e }));
  return ok(serverHandle(server, host, port, () => server.closeAllConnections()));
}

/** The handle of a listening node:net-based server; `dropConnections` ends the open ones on close. */
function serverHandle(server: import("node:net").Server, host: string, port: number, dropConnections: () => void): HttpServerHandle {
  return {
    address: () => {
      const a = server.address();
      return a && typeof a === "object" ? { address: a.address, port: a.port } : { address: host, port };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropConnections();
      }),
  };
}

function listenOn(server: import("node:net").Server, listen: string, host: string, port: number): Promise<Result<void, string>> {
  return new Promise((resolve) => {
    server.once("error", (e) => resolve(err(`listen on ${listen} failed: ${e.message}`)));
    server.listen(port, host, () => resolve(ok(undefined)));
  });
}

/**
 * TLS with client certificates: node:tls does the handshake (and refuses a certificate not
 * signed by `ca`, or a missing one when required), records the verified subject of each
 * connection, and hands the socket to a node:http server for the requests on it.
 */
async function startClientCertServer(listen: string, handler: HttpHandler, log: Logger, tls: TlsOptions): Promise<Result<HttpServerHandle, string>> {
  const { host, port } = splitListen(listen);
  const [nodeTls, nodeHttp] = await Promise.all([import("node:tls"), import("node:http")]);
  const subjects = new WeakMap<object, string>();
  const sockets = new Set<import("node:tls").TLSSocket>();
  const http = nodeHttp.createServer(nodeRequestListener(handler, log, (socket) => subjects.get(socket)));
  http.keepAliveTimeout = 65_000;
  const server = nodeTls.createServer(tlsSettings(tls), (socket) => {
    // `authorized` is false for a certificate the CA did not sign (then its subject is a claim,
    // not a fact) or when the client sent none; only verified subjects are recorded.
    if (socket.authorized) {
      const subject = peerSubject(socket);
      if (subject !== undefined) subjects.set(socket, subject);
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    http.emit("connection", socket);
  });
  server.on("tlsClientError", (e) => log.debug("TLS handshake refused.", { error: e.message }));
  const listening = await listenOn(server, listen, host, port);
  if (!listening.ok) return listening;
  server.on("error", (e) => log.error("TLS server error.", { error: e }));
  return ok(
    serverHandle(server, host, port, () => {
      for (const s of sockets) s.destroy();
    }),
  );
}

/** "CN=tenant-a,O=studio" from a verified peer certificate, in the certificate's order. */
function peerSubject(socket: import("node:tls").TLSSocket): string | undefined {
  const x509 = socket.getPeerX509Certificate?.();
  if (x509?.subject) return x509.subject.split("\n").join(",");
  const subject = socket.getPeerCertificate?.()?.subject as Record<string, string | string[]> | undefined;
  if (!subject) return undefined;
  return Object.entries(subject)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`))
    .join(",");
}

function tooLarge(maxBytes: number, declared?: number): BodyError {
  return {
    status: 413,
    reason: "body_too_large",
    message: declared !== undefined ? `body of ${declared} bytes exceeds ${maxBytes} bytes` : `body exceeds ${maxBytes} bytes`,
  };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
