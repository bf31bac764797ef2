/**
 * A counting remote-write store for the relay bench (`--store counting`): a store that is never
 * the bottleneck, so the relays' own throughput shows (issue 4 names it beside VictoriaMetrics).
 * Every POST body is Snappy-decompressed and its WriteRequest walked to count samples and native
 * histograms, then answered 204; malformed bodies get 400 and are counted apart. Nothing is
 * stored, so there is no read-back: the bench checks instead that every acknowledged sample
 * arrived (at least once).
 *
 *   node_modules/bun/bin/bun.exe bench/lib/counting-store.ts --port 9300
 *
 * GET /metrics prints the counter under VictoriaMetrics' name, so the bench reads arrivals the
 * same way from either store: vm_rows_inserted_total{type="promremotewrite"}. GET /health: 200.
 */
import { createServer } from "node:http";
import { MalformedProtobufError, ProtobufReader, WIRE_LEN } from "../../agent/sources/otlp/protobuf-reader";
import { snappyDecompressBounded } from "../../hub/ingest/snappy-decompress";

const MAX_DECOMPRESSED = 64 * 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Samples + native histograms in a WriteRequest (fields 1 → 2 and 4); -1 when it is not valid protobuf. */
export function countSamples(buf: Uint8Array): number {
  const r = new ProtobufReader(buf, utf8);
  let n = 0;
  try {
    while (r.hasMore()) {
      const tag = r.tag();
      if (tag !== ((1 << 3) | WIRE_LEN)) {
        r.skip(tag);
        continue;
      }
      const end = r.lengthDelimitedEnd();
      const outer = r.limit;
      r.limit = end;
      while (r.hasMore()) {
        const field = r.tag();
        if (field === ((2 << 3) | WIRE_LEN) || field === ((4 << 3) | WIRE_LEN)) n++;
        r.skip(field);
      }
      r.limit = outer;
    }
    return n;
  } catch (e) {
    if (e instanceof MalformedProtobufError) return -1;
    throw e;
  }
}

function main(): void {
  const i = process.argv.indexOf("--port");
  const port = Number(i >= 0 ? process.argv[i + 1] : NaN);
  if (!Number.isInteger(port) || port <= 0) {
    console.error("usage: counting-store.ts --port N");
    process.exit(2);
  }
  let samples = 0;
  let requests = 0;
  let malformed = 0;
  const scratch = new Uint8Array(8 * 1024 * 1024);
  const server = createServer((req, res) => {
    if (req.method === "GET") {
      if (req.url === "/metrics") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`vm_rows_inserted_total{type="promremotewrite"} ${samples}\ncounting_store_requests_total ${requests}\ncounting_store_malformed_total ${malformed}\n`);
      } else {
        res.writeHead(req.url === "/health" ? 200 : 404);
        res.end();
      }
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      requests++;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const raw = snappyDecompressBounded(body, MAX_DECOMPRESSED, scratch);
      const n = raw.ok ? countSamples(raw.value) : -1;
      if (n < 0) {
        malformed++;
        res.writeHead(400);
        res.end("malformed remote-write body");
        return;
      }
      samples += n;
      res.writeHead(204);
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, "127.0.0.1");
}

if (process.argv.includes("--port")) main();
