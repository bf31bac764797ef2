/**
 * Hub chaos: kill -9 the hub 20 times while a fleet keeps sending, restart it each time on the
 * same data dir and port, then check that every sample the hub acknowledged reached the store
 * with its exact value.
 *
 *   node_modules/bun/bin/bun.exe bench/hub-chaos.bench.ts [--kills 20] [--agents 50] [--seed 1] [--hub-fsync never]
 *   (or: node scripts/run-benches.mjs --only hub-chaos;  BENCH_QUICK=1: 6 kills;  AGENT_BIN=…)
 *
 * Set-up (127.0.0.1 only): Prometheus 2.42 (remote-write receiver, fresh TSDB) ← a counting proxy
 * (bench/lib/counting-proxy.ts: counts the store's writes per X-Edge-Agent-Batch-Id) ← dist/agent
 * hub (YAML config: 1 upstream with the default shards (one per CPU) × 200 req/s, 1 tenant, fixed port and
 * data dir) ← the fleet generator (bench/lib/fleet-generator.ts, Node child): 50 agents × 300
 * series at a 1 s cadence (15,000 samples/s, real timestamps), one request per agent per second
 * with `X-Edge-Agent-Batch-Id: host:seq`. Like a real agent, each agent keeps one request in flight
 * and retries it (same body, same batch id) after a connection error, a timeout (5 s), a 5xx or a
 * 429 every 50–250 ms (Retry-After honoured up to 1 s) until a 2xx; missed flushes are then sent
 * back to back, oldest first.
 * The hub is SIGKILLed after a random 2–5 s (seeded) of readiness and restarted at once, 20 times.
 * Then sending stops (every flush answered 2xx), the hub drains (ingest_backlog = 0), and
 * Prometheus is read back: every series of every agent, every acknowledged flush.
 *
 *   acknowledged samples   samples of flushes the hub answered 2xx
 *   missing                acknowledged, not in Prometheus at its timestamp (or another value)
 *   duplicates seen by the store   writes of a batch id the store answered 2xx more than once
 *                          (at-least-once: a record delivered just before a kill is sent again
 *                          after the restart; the hub's dedupe should keep retried agent
 *                          batches from being queued twice)
 * --hub-fsync never: the upstream's fsync policy "never" (acknowledged after write(2)); a kill -9
 * must lose nothing then either, as the page cache outlives the process.
 * Verdict HUB-CHAOS: PASS only if missing = 0. The run is invalid (exit 1) when fewer kills than
 * asked happened, the hub did not drain within 90 s, or nothing was acknowledged.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FleetProcess } from "./lib/fleet-driver";
import { checkAgent, emptyCounts } from "./lib/fleet-check";
import { SERIES_PER_AGENT } from "./lib/fleet-wire";
import { CountingProxy } from "./lib/counting-proxy";
import { Prometheus, logSummary, requireBinaries } from "./lib/chaos";
import { fmtNum, freeTcpPort, median, prng, sleep, table, runIfMain } from "./lib/common";
import { HUB_BIN, HubProc, hubFsyncArg, requireFile, sumMetric, writeHubConfig } from "./lib/relays";

const quick = process.env.BENCH_QUICK === "1";
const argv = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(argv[i + 1]);
};
const KILLS = arg("kills", quick ? 6 : 20);
const HUB_FSYNC = hubFsyncArg(argv);
const AGENTS = arg("agents", 50);
const SEED = arg("seed", 1);
const UPTIME_MIN_MS = 2000;
const UPTIME_MAX_MS = 5000;
const CADENCE_MS = 1000;
const TOKEN = "chaos-tenant-token-0123456789abcdef";

interface Kill {
  uptimeMs: number;
  killAt: number;
  readyAt: number;
  backlogBefore: number;
  dedupeHitsBefore: number;
}

type HubMetrics = Awaited<ReturnType<HubProc["metrics"]>>;

async function hubFigures(hub: HubProc): Promise<{ backlog: number; dedupeHits: number; ingested: number; metrics: HubMetrics }> {
  const m = await hub.metrics();
  return { backlog: sumMetric(m, "ingest_backlog"), dedupeHits: sumMetric(m, "ingest_dedupe_hits_total"), ingested: sumMetric(m, "tenant_samples_ingested_total"), metrics: m };
}

async function main(): Promise<void> {
  requireBinaries();
  requireFile(HUB_BIN, "run 'SKIP_ARM64=1 npm run build'");
  const watchdog = setTimeout(() => {
    console.error("hub-chaos: watchdog: still running after 330 s; giving up");
    process.exit(1);
  }, 330_000);
  const work = mkdtempSync(join(tmpdir(), "hub-chaos-"));
  const logFile = join(work, "hub.log");
  const prom = await Prometheus.start(join(work, "prometheus"));
  const proxy = await CountingProxy.start(prom.writeUrl);
  const port = await freeTcpPort();
  const config = writeHubConfig({ dataDir: join(work, "hub"), port, upstreamUrl: proxy.url, tenant: "chaos", token: TOKEN, maxRequestsPerSec: 200, fsync: HUB_FSYNC });
  let hub = (await HubProc.start(config, port, logFile)).hub;
  let gen: FleetProcess | undefined;
  let keep = false;
  try {
    console.log(`hub-chaos: hub ${HUB_BIN} on :${port}, Prometheus 2.42 on :${prom.port} behind a counting proxy; ${AGENTS} agents × ${SERIES_PER_AGENT} series every ${CADENCE_MS / 1000} s (${fmtNum((AGENTS * SERIES_PER_AGENT * 1000) / CADENCE_MS)} samples/s); ${KILLS} kills after ${UPTIME_MIN_MS / 1000}–${UPTIME_MAX_MS / 1000} s of readiness, seed ${SEED}; work dir ${work}`);
    gen = await FleetProcess.start({
      url: hub.writeUrl,
      agents: AGENTS,
      samplesPerSeries: 1,
      cadenceMs: CADENCE_MS,
      mode: "realtime",
      maxInFlight: AGENTS,
      retry: true,
      timeoutMs: 5000,
      maxRetryAfterMs: 1000,
      bearerToken: TOKEN,
      runTag: "ch",
    });
    await gen.start();
    await sleep(3000);

    const rand = prng(SEED);
    const kills: Kill[] = [];
    let readyAt = Date.now();
    let dedupeHits = 0;
    for (let k = 0; k < KILLS; k++) {
      const uptimeMs = UPTIME_MIN_MS + Math.floor(rand() * (UPTIME_MAX_MS - UPTIME_MIN_MS));
      await sleep(Math.max(0, readyAt + uptimeMs - Date.now()));
      const f = await hubFigures(hub).catch(() => ({ backlog: -1, dedupeHits: 0 }));
      dedupeHits += f.dedupeHits;
      const killAt = Date.now();
      await hub.p.kill("SIGKILL");
      const restarted = await HubProc.start(config, port, logFile, 30_000, 10);
      hub = restarted.hub;
      readyAt = restarted.readyAt;
      kills.push({ uptimeMs, killAt, readyAt, backlogBefore: f.backlog, dedupeHitsBefore: f.dedupeHits });
      if ((k + 1) % 5 === 0) console.log(`  ${k + 1} kills; last: backlog ${f.backlog} records before it, down ${readyAt - killAt} ms`);
    }
    await sleep(3000);

    // Stop sending: every flush started is retried until the hub answers 2xx.
    const stopped = await gen.stop(120_000);
    const summary = stopped.summary;
    const sendingStoppedAt = Date.now();
    let drained = false;
    let last: { backlog: number; dedupeHits: number; ingested: number; metrics: HubMetrics } = { backlog: -1, dedupeHits: 0, ingested: 0, metrics: [] };
    while (Date.now() - sendingStoppedAt < 90_000) {
      last = await hubFigures(hub);
      if (last.backlog === 0) {
        drained = true;
        break;
      }
      await sleep(250);
    }
    dedupeHits += last.dedupeHits;
    const drainSec = (Date.now() - sendingStoppedAt) / 1000;
    const endFigures = await hubFigures(hub);
    await sleep(1000);

    // Read back every agent, every series, every flush.
    const check = emptyCounts();
    const rangeSec = (Date.now() - summary.config.t0Ms) / 1000 + 60;
    for (const acks of summary.agents) {
      const raw = await prom.raw(`{host="${acks.host}"}`, rangeSec);
      checkAgent(
        summary,
        acks,
        raw.map((r) => ({ name: r.labels.__name__, shardId: r.labels.shard_id, timestamps: r.samples.map((s) => s[0]), values: r.samples.map((s) => s[1]) })),
        check,
      );
    }

    // The store's view, by batch id.
    const ackedIds = new Set<string>();
    for (const a of summary.agents) for (const [from, to] of a.acked) for (let s = from; s <= to; s++) ackedIds.add(`chaos|${a.host}:${s}`);
    let duplicateWrites = 0;
    let batchesWrittenTwice = 0;
    const refused: Record<string, number> = {};
    const ambiguousIds = new Set<string>();
    for (const a of summary.agents) for (const s of a.ambiguous) ambiguousIds.add(`chaos|${a.host}:${s}`);
    let duplicatedAfterAgentRetry = 0;
    for (const [id, b] of proxy.batches) {
      if (b.ok > 1) {
        duplicateWrites += b.ok - 1;
        batchesWrittenTwice++;
        if (ambiguousIds.has(id)) duplicatedAfterAgentRetry++;
      }
      for (const [status, n] of Object.entries(b.other)) refused[status] = (refused[status] ?? 0) + n;
    }
    // A write that joined several queued records carries only the first one's id, as `<id>+<more>`:
    // the batches inside it cannot be told apart here, so a per-batch "never stored" count would
    // be wrong. The read-back from Prometheus below checks every acknowledged sample instead.
    const joinedWrites = [...proxy.batches.keys()].filter((id) => /\+\d+$/.test(id)).length;
    const neverStoredText =
      joinedWrites > 0
        ? `not counted by batch id (${fmtNum(joinedWrites)} writes joined several batches under the first one's id; the read-back below checks every sample)`
        : `${fmtNum([...ackedIds].filter((id) => (proxy.batches.get(id)?.ok ?? 0) === 0).length)} of ${fmtNum(ackedIds.size)}`;
    const samplesPerBatch = SERIES_PER_AGENT;
    const t = summary.totals;
    const ambiguous = summary.agents.reduce((n, a) => n + a.ambiguous.length, 0);

    console.log("");
    const downMs = kills.map((k) => k.readyAt - k.killAt);
    console.log(`Kills: ${kills.length} (SIGKILL after ${UPTIME_MIN_MS}–${UPTIME_MAX_MS} ms of readiness); kill → ready again: median ${fmtNum(median(downMs))} ms, max ${fmtNum(Math.max(...downMs))} ms; backlog just before the kills: median ${fmtNum(median(kills.map((k) => k.backlogBefore)))} records`);
    console.log(`Sending: ${((sendingStoppedAt - summary.config.t0Ms) / 1000).toFixed(0)} s; hub drained ${drained ? `in ${drainSec.toFixed(1)} s` : `NOT within 90 s (backlog ${last.backlog})`} after sending stopped`);
    console.log(
      `Generator: ${fmtNum(t.requests)} requests (${fmtNum(t.retries)} retries): 2xx ${fmtNum(t.ok2xx)}, 429 ${fmtNum(t.r429)}, 5xx ${fmtNum(t.r5xx)}, other 4xx ${fmtNum(t.r4xx)}, connection errors ${fmtNum(t.netErrors)} ${JSON.stringify(t.errors)}; flushes that failed once other than by "connection refused" (could have reached the hub): ${fmtNum(ambiguous)}`,
    );
    console.log(
      `Hub: retried batches answered from its dedupe window (ingest_dedupe_hits_total, summed over the runs; a run's count is read just before its kill): ${fmtNum(dedupeHits)}; upstream requests by code in the last run: ${endFigures.metrics
        .filter((s) => s.name === "upstream_requests_total")
        .map((s) => `${s.labels.code} ${fmtNum(s.value)}`)
        .join(", ")}`,
    );
    console.log(
      `Store (via proxy): ${fmtNum(proxy.requests)} writes, ${fmtNum(proxy.batches.size)} distinct batch ids, ${fmtNum(proxy.probes)} empty probes, refused by Prometheus ${JSON.stringify(refused)}, proxy→store errors ${proxy.networkErrors}; acknowledged batches never written to the store: ${neverStoredText}; batches written twice: ${batchesWrittenTwice}, of which ${duplicatedAfterAgentRetry} had also been retried by the agent after a reset/timeout (queued twice past the dedupe window, or re-sent after the restart) and ${batchesWrittenTwice - duplicatedAfterAgentRetry} had not (the hub re-sent a record the store already had: at-least-once after a kill)`,
    );
    const summaryRows = logSummary(readFileSync(logFile, "utf8"));
    if (summaryRows.length > 0) {
      console.log("Hub warn/error log lines over all runs:");
      console.log(table(["level", "message", "count"], summaryRows.slice(0, 10).map((s) => [s.level, s.msg.slice(0, 100), s.count]), ["l", "l", "r"]));
      for (const s of summaryRows.filter((x) => x.level === "error").slice(0, 3)) console.log(`  e.g. ${s.example}`);
    }
    for (const e of check.examples) console.log(`  ${e}`);
    console.log("");
    console.log(
      table(
        ["figure", "value"],
        [
          ["kills", kills.length],
          ["agents × series", `${summary.agents.length} × ${SERIES_PER_AGENT}`],
          ["flushes acknowledged", fmtNum(ackedIds.size)],
          ["acknowledged samples", fmtNum(check.acknowledged)],
          ["found with the exact value", fmtNum(check.found)],
          ["missing", fmtNum(check.missing)],
          ["wrong value", fmtNum(check.wrongValue)],
          ["duplicate writes seen by the store (batches × extra writes)", `${fmtNum(batchesWrittenTwice)} batches, ${fmtNum(duplicateWrites)} extra writes (${fmtNum(duplicateWrites * samplesPerBatch)} samples)`],
          ["samples stored twice at one timestamp (Prometheus keeps one)", fmtNum(check.storedTwice)],
          ["stored but never acknowledged", fmtNum(check.unacknowledgedStored)],
        ],
        ["l", "r"],
      ),
    );
    console.log(`acknowledged samples: ${check.acknowledged}, missing: ${check.missing + check.wrongValue}, duplicates seen by the store: ${duplicateWrites * samplesPerBatch} samples (${duplicateWrites} batch writes)`);
    const valid = kills.length >= KILLS && drained && check.acknowledged > 0;
    if (!valid) {
      console.log(`Run not valid: ${kills.length < KILLS ? `only ${kills.length} kills; ` : ""}${drained ? "" : "the hub did not drain; "}${check.acknowledged === 0 ? "nothing acknowledged" : ""}`);
      process.exitCode = 1;
      keep = true;
    }
    const pass = check.missing === 0 && check.wrongValue === 0;
    if (!pass) keep = true;
    console.log(`HUB-CHAOS: ${pass ? "PASS" : "FAIL"}`);
  } finally {
    if (gen) await gen.exit().catch(() => undefined);
    await hub.p.stop();
    await proxy.close();
    await prom.kill("SIGTERM");
    clearTimeout(watchdog);
    if (keep || process.env.BENCH_KEEP === "1") console.log(`(work dir kept: ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
