/**
 * The runtime floor under the agent's traffic, for bench/footprint.bench.ts: a bare Bun process
 * that receives the same OTLP/HTTP requests and StatsD datagrams as the agent, with the same
 * runtime facilities the compiled agent uses (Bun.serve; node:dgram with a 4 MiB buffer), but
 * only reads the body and counts, and splits + counts StatsD lines per key. No decoding, policy,
 * aggregation, flushes or state file.
 *
 *   bun bench/lib/bare-agent.ts      prints `READY <httpPort> <udpPort>`; GET /count → JSON counts
 */
import { createSocket } from "node:dgram";
import { createBareCounter } from "./statsd-bare";

interface BunServe {
  serve(options: { hostname: string; port: number; fetch(req: Request): Response | Promise<Response> }): { port: number };
}

const bun = (globalThis as unknown as { Bun?: BunServe }).Bun;
if (bun === undefined) throw new Error("bare-agent.ts runs under Bun (it uses Bun.serve, like the compiled agent)");

let requests = 0;
let bodyBytes = 0;
let datagrams = 0;
const bare = createBareCounter();

const server = bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/count") {
      return Response.json({ requests, bodyBytes, datagrams, lines: bare.lines, keys: bare.keys });
    }
    const body = await req.arrayBuffer();
    requests++;
    bodyBytes += body.byteLength;
    return new Response(new Uint8Array(0), { status: 200, headers: { "content-type": "application/x-protobuf" } });
  },
});

const sock = createSocket({ type: "udp4", recvBufferSize: 4 * 1024 * 1024 });
sock.on("error", (e) => console.error(e));
sock.on("message", (buf: Buffer) => {
  datagrams++;
  bare.onText(buf.toString("utf8"));
});
sock.bind({ address: "127.0.0.1", port: 0 }, () => {
  process.stdout.write(`READY ${server.port} ${sock.address().port}\n`);
});
setTimeout(() => process.exit(2), 600_000).unref(); // bounded whatever happens
