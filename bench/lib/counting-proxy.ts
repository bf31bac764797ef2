/**
 * A tiny HTTP proxy between a relay and its store that counts what the store was sent, by
 * `X-Edge-Agent-Batch-Id` (the hub forwards `<tenant>|<agent batch id>`, or for a write that joined
 * several queued records the first one's followed by `+<how many more>`): writes per batch id and
 * the store's answers. Requests without the header (the hub's empty probes) are counted apart.
 * Bodies, headers and answers pass through unchanged.
 */
import { createServer, type Server } from "node:http";
import { freeTcpPort } from "./common";

export interface BatchWrites {
  /** Store answered 2xx. */
  ok: number;
  /** Store answered something else (status → count). */
  other: Record<string, number>;
}

export class CountingProxy {
  readonly batches = new Map<string, BatchWrites>();
  probes = 0;
  networkErrors = 0;
  requests = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetUrl: string): Promise<CountingProxy> {
    const port = await freeTcpPort();
    let self: CountingProxy;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const body = Buffer.concat(chunks);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !["host", "connection", "content-length", "transfer-encoding"].includes(k)) headers[k] = v;
        const id = headers["x-edge-agent-batch-id"];
        self.requests++;
        if (id === undefined) self.probes++;
        try {
          const r = await fetch(targetUrl, { method: "POST", headers, body, signal: AbortSignal.timeout(30_000) });
          const text = await r.text();
          if (id !== undefined) {
            const b = self.batches.get(id) ?? { ok: 0, other: {} };
            if (r.status >= 200 && r.status < 300) b.ok++;
            else b.other[String(r.status)] = (b.other[String(r.status)] ?? 0) + 1;
            self.batches.set(id, b);
          }
          res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "text/plain" });
          res.end(text);
        } catch (e) {
          self.networkErrors++;
          res.writeHead(502, { "content-type": "text/plain" });
          res.end(`proxy: ${(e as Error).message}\n`);
        }
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
    self = new CountingProxy(server, port);
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/api/v1/write`;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections?.();
      this.server.close(() => r());
    });
  }
}
