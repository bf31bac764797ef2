/** Small HTTP clients for the server tests: node:http requests and raw sockets. */
import { request } from "node:http";
import { connect } from "node:net";

export interface ClientReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One request. `chunks` are written one by one without a Content-Length (chunked transfer
 * encoding) unless `headers` sets one.
 */
export function send(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string | number>; body?: Uint8Array | string; chunks?: Uint8Array[] },
): Promise<ClientReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method: opts.method ?? "GET", path: opts.path ?? "/", headers: opts.headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on("error", reject);
      },
    );
    // The server may answer (413) and close before the client has written everything.
    req.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE" && e.code !== "ECONNRESET") reject(e);
    });
    if (opts.chunks) {
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else req.end(opts.body);
  });
}

/**
 * Writes `head` (request line + headers) and `bodyPrefix`, then waits for the response without
 * ever sending the rest of the declared body. Resolves with the raw response text.
 */
export function sendHeadOnly(port: number, head: string, bodyPrefix = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(head + bodyPrefix));
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      text += d;
      const headerEnd = text.indexOf("\r\n\r\n");
      if (headerEnd === -1) return;
      const length = /content-length: (\d+)/i.exec(text);
      if (length && text.length >= headerEnd + 4 + Number(length[1])) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text));
  });
}
