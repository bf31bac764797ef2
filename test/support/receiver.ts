/**
 * A remote-write receiver on 127.0.0.1 for tests: answers each request with `status(n)` (n counts
 * requests from 0), after `delayMs`, and keeps what it was sent. Close it with close().
 */
import { createServer, type IncomingHttpHeaders } from "node:http";

export interface ReceivedRequest {
  body: Buffer;
  headers: IncomingHttpHeaders;
  /** The X-Edge-Agent-Batch-Id header ("undefined" when absent). */
  batchId: string;
}

export interface Receiver {
  url: string;
  /** Every request, in arrival order (answered or not yet). */
  requests: ReceivedRequest[];
  /** Requests answered 2xx. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startReceiver(options: { status?: (n: number) => number; delayMs?: number } = {}): Promise<Receiver> {
  const statusFor = options.status ?? (() => 204);
  const requests: ReceivedRequest[] = [];
  let accepted = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const status = statusFor(requests.length);
      requests.push({ body: Buffer.concat(chunks), headers: req.headers, batchId: String(req.headers["x-edge-agent-batch-id"]) });
      const answer = () => {
        if (status < 300) accepted++;
        res.writeHead(status).end();
      };
      if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    requests,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
