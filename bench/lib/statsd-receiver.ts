/**
 * StatsD receiver for bench/statsd.bench.ts, run under Bun (as in production):
 *
 *   bun bench/lib/statsd-receiver.ts ours   createStatsdSource (4 MiB buffer) → parseStatsdPacket
 *                                           → StatsdIngest → Aggregator (default label policy,
 *                                           budget 300), wired as agent-runtime.ts does
 *   bun bench/lib/statsd-receiver.ts bare   node:dgram (4 MiB buffer) → toString → split("\n")
 *                                           → count per key (name + tags) in a Map
 *
 * Protocol on stdio (one line each): prints `READY <port>`; stdin `START` → resets the CPU
 * baseline, prints `STARTED`; `COUNT` → prints `COUNT <datagrams>`; `STOP` → prints
 * `RESULT {json}` and exits. Exits by itself after 5 minutes whatever happens.
 */
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { Aggregator } from "../../agent/aggregate/aggregator";
import { silentLogger } from "../../agent/core/deps";
import { createIngestStats, StatsdIngest } from "../../agent/pipeline/ingest";
import { parseStatsdPacket } from "../../agent/sources/statsd/statsd-parse";
import { createStatsdSource, RECV_BUFFER_BYTES } from "../../agent/sources/statsd/statsd-source";
import { DEFAULT_LABEL_POLICY } from "../../policy/labels/config";
import { createLabelPolicy } from "../../policy/labels/label-policy";
import { createSeriesBudget, DEFAULT_SERIES_BUDGET } from "../../policy/budget/series-budget";
import { createBareCounter } from "./statsd-bare";

const mode = process.argv[2];
if (mode !== "ours" && mode !== "bare") throw new Error("usage: statsd-receiver.ts ours|bare");

let datagrams = 0;
let port = 0;
let result: () => Record<string, unknown> = () => ({});

async function setUpOurs(): Promise<void> {
  const agg = new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget(DEFAULT_SERIES_BUDGET) });
  const stats = createIngestStats();
  const ingest = new StatsdIngest(agg, stats);
  const source = createStatsdSource({ listen: "127.0.0.1:0" }, { log: silentLogger }, (text) => {
    // exactly what AgentRuntime's onPacket does (its clock is Date.now())
    ingest.nowMs = Date.now();
    parseStatsdPacket(text, ingest);
  });
  const started = await source.start();
  if (!started.ok) throw new Error(started.error.message);
  port = source.address()!.port;
  result = () => {
    let malformed = 0;
    for (const v of stats.malformed.values()) malformed += v;
    return {
      datagrams: source.stats.datagrams,
      lines: stats.pointsAccepted.statsd + stats.pointsRejected.statsd + malformed,
      accepted: stats.pointsAccepted.statsd,
      rejected: stats.pointsRejected.statsd,
      malformed,
      rejections: Object.fromEntries(agg.rejections()),
      keys: agg.activeSeries,
    };
  };
}

async function setUpBare(): Promise<void> {
  const bare = createBareCounter();
  const sock = createSocket({ type: "udp4", recvBufferSize: RECV_BUFFER_BYTES });
  sock.on("error", (e) => console.error(e));
  sock.on("message", (buf: Buffer) => {
    datagrams++;
    bare.onText(buf.toString("utf8"));
  });
  await new Promise<void>((res) => sock.bind({ address: "127.0.0.1", port: 0 }, () => res()));
  port = sock.address().port;
  result = () => ({ datagrams, lines: bare.lines, keys: bare.keys });
}

function serve(): void {
  let cpu0 = process.cpuUsage();
  setTimeout(() => process.exit(2), 300_000).unref(); // bounded in time whatever happens
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (cmd) => {
    if (cmd === "START") {
      cpu0 = process.cpuUsage();
      process.stdout.write("STARTED\n");
    } else if (cmd === "COUNT") {
      process.stdout.write(`COUNT ${result().datagrams as number}\n`);
    } else if (cmd === "STOP") {
      const cpu = process.cpuUsage(cpu0);
      const out = {
        mode,
        runtime: (process.versions as Record<string, string | undefined>).bun ? `Bun ${process.versions.bun}` : `Node ${process.versions.node}`,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        rssMiB: process.memoryUsage().rss / 1048576,
        ...result(),
      };
      process.stdout.write(`RESULT ${JSON.stringify(out)}\n`, () => process.exit(0));
    }
  });
  process.stdout.write(`READY ${port}\n`);
}

(mode === "ours" ? setUpOurs() : setUpBare()).then(serve, (e) => {
  console.error(e);
  process.exit(1);
});
