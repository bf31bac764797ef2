/**
 * Hub relay throughput versus vmagent, same generator, same run:
 *
 *   (a) fleet generator → dist/agent hub (disk queue, fdatasync before 204)  → VictoriaMetrics
 *   (b) fleet generator → vmagent 1.79 (its own file-backed queue)          → VictoriaMetrics
 *   (the hub's default: at most one fdatasync per queue shard every 4 ms, fsyncIntervalMs)
 *
 *   node_modules/bun/bin/bun.exe bench/hub-relay.bench.ts [--agents 1000] [--levels 200000,400000,max]
 *        [--search-steps 5] [--search-max 1200000] [--rounds 3] [--samples-per-series 1]
 *        [--in-flight 32] [--shards N] [--measure 15] [--only hub|vmagent] [--store victoria|counting]
 *        [--hub-fsync batch|never] [--hub-fsync-interval-ms N]
 *   (or: node scripts/run-benches.mjs --only hub-relay;  BENCH_QUICK=1 for short windows and one
 *    round; AGENT_BIN=… another hub build)
 *
 * Generator (bench/lib/fleet-generator.ts, a Node child process): 1,000 agents × 300 series
 * (labels __name__ of 30 metrics, az, build_id, cluster, host, instance_type, region, shard_id),
 * one snappy PRW 1.0 request of 300 samples per agent flush (10 s cadence, simulated time: the
 * timestamps advance 10 s per flush of an agent however fast flushes go, starting 12 h ago), with
 * `X-Edge-Agent-Batch-Id: host:seq` and the headers of a real agent; bodies pre-compressed once,
 * values patched per flush; one request in flight per agent, at most 32 in total over 32
 * keep-alive connections; no retries (a failed flush is counted and skipped). Paced flushes
 * that find every slot busy wait, up to 1 s of offered load (a real agent's flush waits in its
 * queue), and only beyond that are dropped ("not sent (cap)").
 * Per relay: the fixed levels (samples/s), then a search for its highest sustainable rate, then
 * `max` (as fast as 32 in flight allow, for the peak accepted). Each level settles for 4 s and is
 * measured over 15 s:
 *   accepted/s     samples in requests answered 2xx (the generator's count)
 *   arrived/s      vm_rows_inserted_total{type="promremotewrite"} of the relay's VictoriaMetrics
 *   p50/p99        request latency seen by the generator (answered requests)
 *   CPU, RSS       of the relay, of VictoriaMetrics and of the generator (/proc, all threads);
 *                  all three share the box's 2 cores, so the relay's figure is what it got
 *   backlog        hub: ingest_backlog records at the window's end; vmagent: pending bytes
 * Sustainable level: accepted ≥ 97 % of offered, arrived ≥ 97 % of accepted (no backlog
 * building up), p99 ≤ 250 ms, every request answered 2xx. The search bisects between the best
 * sustainable fixed level and --search-max (rounded to 10k), and after a level that was not
 * sustainable pauses the generator until the relay's backlog is delivered (≤ 30 s), so the next
 * level starts clean. Why a search: all three processes share 2 cores, so a relay that accepts
 * faster than the store can take starves the store of CPU; its sustainable rate, where accepted
 * = arrived, is the throughput a fleet can rely on, and fixed levels either side of it measure
 * the grid more than the relay (single runs at fixed levels swung the ratio from 0.95 to 1.22).
 * Rounds: the whole comparison is repeated (hub first, then vmagent first, alternating) and the
 * verdict takes the median of the per-round ratios (BASELINES: ± 20 % between runs).
 * Each relay gets a fresh VictoriaMetrics and relay data dir, one after the other (never both at
 * once). The hub runs with a YAML config: 1 upstream with the hub's default shard count (one per
 * CPU: 2 here; every shard fdatasyncs its own appends and keeps one request in flight upstream;
 * at 400k samples/s 2 shards cost hub and store ~12 % less CPU than 4), maxRequestsPerSec 100000
 * per shard (no ceiling); --shards N overrides the count. --hub-fsync never sets the upstream's
 * fsync policy to never (acknowledged after write(2), not fdatasync: README "Durability and
 * throughput"); the default is the hub's own, batch.
 * A null sink calibration first shows what the generator alone can push.
 * --store counting puts bench/lib/counting-store.ts in VictoriaMetrics' place: it decompresses and
 * counts every sample and stores nothing, so the relays' own throughput shows instead of the
 * store's (VictoriaMetrics takes ~1.7 µs of CPU per sample, the relays ~0.7, on a shared 2-core
 * box). Its CPU prints in the VM column; instead of the read-back, every acknowledged sample must
 * have arrived (drained). Run it with --search-max 2400000: the relays get past 1.2M there.
 *
 * After the ramp, the generator stops, the relay drains (VictoriaMetrics rows ≥ samples
 * acknowledged, relay backlog 0; at most 60 s), and 20 agents' series (6,000 series, every
 * acknowledged flush) are read back with /api/v1/export: every acknowledged sample must be there
 * with its exact value.
 *
 * Goals (verdict HUB-RELAY): in every round the hub sustains ≥ 200k samples/s (a sustainable
 * level at or above 200k); the median over rounds of hub / vmagent best sustained throughput
 * (min(accepted, arrived) at a sustainable level) ≥ 1 (each round's ratio is printed); and every
 * acknowledged sample read back from the hub's VictoriaMetrics with its exact value after the
 * drain. Also printed: relay CPU per sample at the fixed levels (the same load for both). The
 * run is invalid (exit 1) when nothing was acknowledged.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { FleetProcess } from "./lib/fleet-driver";
import { checkAgent, emptyCounts, type CheckCounts } from "./lib/fleet-check";
import type { FleetSummary, WindowStats } from "./lib/fleet-generator";
import { SERIES_PER_AGENT } from "./lib/fleet-wire";
import { logSummary } from "./lib/chaos";
import { fmtNum, freeTcpPort, prng, sleep, table, runIfMain } from "./lib/common";
import { CpuWindow, HUB_BIN, HubProc, Proc, VICTORIA_BIN, VMAGENT_BIN, Victoria, Vmagent, hubFsyncArg, requireFile, startNullSink, sumMetric, writeHubConfig } from "./lib/relays";

const quick = process.env.BENCH_QUICK === "1";
const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const AGENTS = Number(arg("agents", "1000"));
const LEVELS = arg("levels", "200000,400000,max")
  .split(",")
  .map((s) => (s === "max" ? Infinity : Number(s)));
const SEARCH_STEPS = Number(arg("search-steps", quick ? "3" : "5"));
const SEARCH_MAX = Number(arg("search-max", "1200000"));
const ROUNDS = Number(arg("rounds", quick ? "1" : "3"));
const SAMPLES_PER_SERIES = Number(arg("samples-per-series", "1"));
const IN_FLIGHT = Number(arg("in-flight", "32"));
const SHARDS = argv.includes("--shards") ? Number(arg("shards", "")) : undefined;
const HUB_FSYNC = hubFsyncArg(argv) ?? "batch";
/** --hub-fsync-interval-ms N: the upstream's fsyncIntervalMs; absent: the hub's default. */
const HUB_FSYNC_INTERVAL_MS = argv.includes("--hub-fsync-interval-ms") ? Number(arg("hub-fsync-interval-ms", "")) : undefined;
if (HUB_FSYNC_INTERVAL_MS !== undefined && !(HUB_FSYNC_INTERVAL_MS >= 0)) throw new Error("--hub-fsync-interval-ms must be a number of ms >= 0");
const SETTLE_SEC = quick ? 2 : 4;
const MEASURE_SEC = Number(arg("measure", quick ? "8" : "15"));
const WARMUP_SEC = quick ? 5 : 10;
const ONLY = arg("only", "");
/** victoria: VictoriaMetrics behind the relay (read-back checked); counting: bench/lib/counting-store.ts. */
const STORE = arg("store", "victoria");
if (STORE !== "victoria" && STORE !== "counting") throw new Error(`--store must be victoria or counting (got ${STORE})`);
const COUNTING = STORE === "counting";
const CADENCE_MS = 10_000;
const CHECK_AGENTS = 20;
const TOKEN = "bench-tenant-token-0123456789abcdef";
const GOAL_SAMPLES_PER_SEC = 200_000;
const GOAL_P99_MS = 250;
/** A sustainable level: accepted ≥ this share of offered, arrived ≥ this share of accepted. */
const SUSTAINED_SHARE = 0.97;
const DRAIN_PAUSE_MS = 30_000;

interface LevelRow {
  relay: string;
  kind: "fixed" | "search" | "max";
  offered: number;
  sustainable: boolean;
  w: WindowStats;
  arrivedPerSec: number;
  relayCpu: number;
  vmCpu: number;
  genCpu: number;
  relayRss: number;
  vmRss: number;
  backlog: string;
}

interface RelayRun {
  relay: string;
  round: number;
  levels: LevelRow[];
  summary: FleetSummary;
  drainSec: number;
  drained: boolean;
  check: CheckCounts;
  peakRss: number;
  extra: string[];
}

const fmtRate = (r: number) => (Number.isFinite(r) ? `${fmtNum(r / 1000)}k` : "max");

async function calibrate(): Promise<string> {
  const sink = await startNullSink();
  const g = await FleetProcess.start({ url: sink.url, agents: AGENTS, samplesPerSeries: SAMPLES_PER_SERIES, cadenceMs: CADENCE_MS, mode: "paced", rateSamplesPerSec: Infinity, maxInFlight: IN_FLIGHT, retry: false, runTag: "cal" });
  await g.start();
  await sleep(1000);
  await g.window();
  const cw = new CpuWindow([g.pid]);
  await sleep(quick ? 2000 : 4000);
  const w = await g.window();
  const [cpu] = cw.pct();
  await g.stop();
  await g.exit();
  await sink.close();
  return `generator alone into a null sink (node:http, same process as this orchestrator): ${fmtNum(w.ackedSamplesPerSec)} samples/s (${fmtNum(w.ok2xx / w.seconds)} req/s) at ${fmtNum(cpu)} % CPU; p99 ${w.latencyMs.p99.toFixed(1)} ms; body ${fmtNum(g.bodyBytes.compressed)} B snappy / ${fmtNum(g.bodyBytes.raw)} B raw per ${SERIES_PER_AGENT * SAMPLES_PER_SERIES}-sample request`;
}

/** Accepted ≈ offered, arrived ≈ accepted, p99 within the goal, nothing but 2xx. */
function isSustainable(offered: number, w: WindowStats, arrivedPerSec: number): boolean {
  const acceptedOk = !Number.isFinite(offered) || w.ackedSamplesPerSec >= SUSTAINED_SHARE * offered;
  const failed = w.r429 + w.r5xx + w.r4xx + w.netErrors;
  return acceptedOk && arrivedPerSec >= SUSTAINED_SHARE * w.ackedSamplesPerSec && w.latencyMs.p99 <= GOAL_P99_MS && failed === 0 && w.ok2xx > 0;
}

async function runRelay(relay: "hub" | "vmagent", work: string, round: number): Promise<RelayRun> {
  const dir = join(work, relay);
  if (COUNTING) mkdirSync(dir, { recursive: true });
  const vm = COUNTING ? await Victoria.startCounting(join(dir, "store.log")) : await Victoria.start(join(dir, "vm"), join(dir, "vm.log"));
  let proc: Proc;
  let writeUrl: string;
  let backlog: () => Promise<string>;
  let drainedQueue: () => Promise<boolean>;
  let hub: HubProc | undefined;
  let vmagent: Vmagent | undefined;
  if (relay === "hub") {
    const port = await freeTcpPort();
    const config = writeHubConfig({ dataDir: join(dir, "data"), port, upstreamUrl: vm.writeUrl, tenant: "bench", token: TOKEN, shards: SHARDS, maxRequestsPerSec: 100_000, fsync: HUB_FSYNC, fsyncIntervalMs: HUB_FSYNC_INTERVAL_MS });
    hub = (await HubProc.start(config, port, join(dir, "hub.log"))).hub;
    proc = hub.p;
    writeUrl = hub.writeUrl;
    backlog = async () => `${fmtNum(sumMetric(await hub!.metrics(), "ingest_backlog"))} rec`;
    drainedQueue = async () => sumMetric(await hub!.metrics(), "ingest_backlog") === 0;
  } else {
    vmagent = await Vmagent.start(join(dir, "queue"), vm.writeUrl, join(dir, "vmagent.log"));
    proc = vmagent.p;
    writeUrl = vmagent.writeUrl;
    backlog = async () => `${fmtNum((await vmagent!.pendingBytes()) / 1024)} KiB`;
    drainedQueue = async () => (await vmagent!.pendingBytes()) === 0;
  }
  const rows0 = await vm.rowsInserted();
  const g = await FleetProcess.start({
    url: writeUrl,
    agents: AGENTS,
    samplesPerSeries: SAMPLES_PER_SERIES,
    cadenceMs: CADENCE_MS,
    mode: "paced",
    rateSamplesPerSec: LEVELS[0],
    maxInFlight: IN_FLIGHT,
    retry: false,
    bearerToken: TOKEN,
    runTag: relay === "hub" ? "hb" : "va",
    timeoutMs: 30_000,
  });
  const levels: LevelRow[] = [];
  const extra: string[] = [];
  try {
    await g.start();
    console.log(`  ${relay}: warm-up ${WARMUP_SEC} s at ${fmtRate(LEVELS[0])} (first flush of ${fmtNum(AGENTS * SERIES_PER_AGENT)} series)`);
    await sleep(WARMUP_SEC * 1000);
    const measure = async (level: number, kind: LevelRow["kind"]): Promise<LevelRow> => {
      await g.setRate(level);
      await sleep(SETTLE_SEC * 1000);
      await g.window();
      const cw = new CpuWindow([proc.pid, vm.p.pid, g.pid]);
      const r0 = await vm.rowsInserted();
      const t0 = performance.now();
      await sleep(MEASURE_SEC * 1000);
      const w = await g.window();
      const r1 = await vm.rowsInserted();
      const sec = (performance.now() - t0) / 1000;
      const [relayCpu, vmCpu, genCpu] = cw.pct();
      const arrivedPerSec = (r1 - r0) / sec;
      const row: LevelRow = {
        relay,
        kind,
        offered: level,
        sustainable: isSustainable(level, w, arrivedPerSec),
        w,
        arrivedPerSec,
        relayCpu,
        vmCpu,
        genCpu,
        relayRss: proc.rssMiB(),
        vmRss: vm.p.rssMiB(),
        backlog: await backlog().catch((e) => `? (${(e as Error).message})`),
      };
      levels.push(row);
      console.log(
        `  ${relay} ${kind === "search" ? "search " : ""}${fmtRate(level)}: accepted ${fmtNum(w.ackedSamplesPerSec)}/s, arrived ${fmtNum(row.arrivedPerSec)}/s, p50 ${w.latencyMs.p50.toFixed(1)} ms, p99 ${w.latencyMs.p99.toFixed(1)} ms, ` +
          `2xx ${w.ok2xx} 429 ${w.r429} 5xx ${w.r5xx} 4xx ${w.r4xx} net ${w.netErrors}, CPU relay ${fmtNum(relayCpu)} % VM ${fmtNum(vmCpu)} % gen ${fmtNum(genCpu)} %, backlog ${row.backlog}${row.sustainable ? ", sustainable" : ""}`,
      );
      if (Object.keys(w.errors).length) console.log(`    errors: ${JSON.stringify(w.errors)}`);
      return row;
    };
    /** Pauses the generator until the relay has delivered its backlog (at most 30 s). */
    const drainPause = async () => {
      await g.setRate(0);
      const t = Date.now();
      while (Date.now() - t < DRAIN_PAUSE_MS && !(await drainedQueue().catch(() => false))) await sleep(250);
    };
    let lo = 0;
    for (const level of LEVELS.filter((l) => Number.isFinite(l))) {
      const row = await measure(level, "fixed");
      if (row.sustainable) lo = Math.max(lo, level);
      else await drainPause();
    }
    let hi = SEARCH_MAX;
    for (let step = 0; step < SEARCH_STEPS && hi - lo > 10_000; step++) {
      const level = Math.round((lo + hi) / 2 / 10_000) * 10_000;
      const row = await measure(level, "search");
      if (row.sustainable) lo = level;
      else {
        hi = level;
        await drainPause();
      }
    }
    if (LEVELS.some((l) => !Number.isFinite(l))) await measure(Infinity, "max");
    const stopped = await g.stop();
    const summary = stopped.summary;
    // Drain: the store holds at least what was acknowledged and the relay's queue is empty.
    const tDrain = Date.now();
    let drained = false;
    while (Date.now() - tDrain < 60_000) {
      const rows = (await vm.rowsInserted()) - rows0;
      if (rows >= summary.totals.samplesAcked && (await drainedQueue().catch(() => false))) {
        drained = true;
        break;
      }
      await sleep(250);
    }
    const drainSec = (Date.now() - tDrain) / 1000;
    // Read back 20 agents, every series, every flush (the counting store keeps nothing to read).
    const check = emptyCounts();
    const rand = prng(relay === "hub" ? 11 : 12);
    const picked = new Set<number>();
    if (!COUNTING) {
      await vm.forceFlush();
      await sleep(1500);
      while (picked.size < Math.min(CHECK_AGENTS, AGENTS)) picked.add(Math.floor(rand() * AGENTS));
    }
    const maxNext = Math.max(...summary.agents.map((a) => a.next));
    const endMs = summary.config.t0Ms + (maxNext * SAMPLES_PER_SERIES + 1) * CADENCE_MS;
    for (const i of picked) {
      const acks = summary.agents[i];
      const series = await vm.export(`{host="${acks.host}"}`, summary.config.t0Ms, endMs);
      checkAgent(
        summary,
        acks,
        series.map((s) => ({ name: s.metric.__name__, shardId: s.metric.shard_id, timestamps: s.timestamps, values: s.values })),
        check,
      );
    }
    if (hub) {
      const m = await hub.metrics();
      const codes = m.filter((s) => s.name === "upstream_requests_total").map((s) => `${s.labels.code}: ${fmtNum(s.value)}`);
      const paced = `${fmtNum(sumMetric(m, "hub_ingest_paced_requests_total"))} requests, ${sumMetric(m, "hub_ingest_paced_seconds_total").toFixed(1)} s`;
      extra.push(`hub: tenant_samples_ingested_total ${fmtNum(sumMetric(m, "tenant_samples_ingested_total"))}; upstream_requests_total by code {${codes.join(", ")}}; paced by intake pacing: ${paced}; queue fdatasyncs ${fmtNum(sumMetric(m, "hub_queue_fsyncs_total"))} (${sumMetric(m, "hub_queue_fsync_seconds_total").toFixed(1)} s)`);
      const logs = logSummary(readFileSync(join(dir, "hub.log"), "utf8"));
      if (logs.length) extra.push(`hub warn/error log lines: ${logs.slice(0, 6).map((l) => `${l.level} "${l.msg}" ×${l.count}`).join("; ")}`);
    } else if (vmagent) {
      const m = await vmagent.metrics();
      extra.push(
        `vmagent: vmagent_rows_inserted_total ${fmtNum(sumMetric(m, "vmagent_rows_inserted_total"))}; vmagent_remotewrite_requests_total ${m
          .filter((s) => s.name === "vmagent_remotewrite_requests_total")
          .map((s) => `${s.labels.status_code}: ${fmtNum(s.value)}`)
          .join(", ")}`,
      );
    }
    return { relay, round, levels, summary, drainSec, drained, check, peakRss: proc.peakRssMiB(), extra };
  } finally {
    await g.exit().catch(() => undefined);
    await proc.stop();
    await vm.p.stop();
  }
}

/** Relay CPU time per accepted sample at a level, in µs; NaN when nothing was accepted. */
function cpuPerSample(l: LevelRow): number {
  return l.w.ackedSamplesPerSec > 0 ? ((l.relayCpu / 100) * 1e6) / l.w.ackedSamplesPerSec : NaN;
}

/** Best sustained samples/s: min(accepted, arrived) at a sustainable level. */
function sustained(run: RelayRun): { rate: number; at?: LevelRow } {
  let best: { rate: number; at?: LevelRow } = { rate: 0 };
  for (const l of run.levels) {
    if (!l.sustainable) continue;
    const r = Math.min(l.w.ackedSamplesPerSec, l.arrivedPerSec);
    if (r > best.rate) best = { rate: r, at: l };
  }
  return best;
}

async function main(): Promise<void> {
  requireFile(HUB_BIN, "run 'SKIP_ARM64=1 npm run build'");
  requireFile(VICTORIA_BIN, "install Debian's victoria-metrics");
  requireFile(VMAGENT_BIN, "install Debian's vmagent");
  const relays = (["hub", "vmagent"] as const).filter((r) => !ONLY || ONLY === r);
  // Per relay and round: warm-up, levels, search, pauses, drain and read-back: ~4 min at most.
  const watchdogSec = 120 + ROUNDS * relays.length * 300;
  const watchdog = setTimeout(() => {
    console.error(`hub-relay: watchdog: still running after ${watchdogSec} s; giving up`);
    process.exit(1);
  }, watchdogSec * 1000);
  const work = mkdtempSync(join(tmpdir(), "hub-relay-"));
  let keep = false;
  try {
    console.log(
      `hub-relay: store ${COUNTING ? "counting (bench/lib/counting-store.ts; 'VM' columns are the store)" : "VictoriaMetrics"}; hub ${HUB_BIN}; ${AGENTS} agents × ${SERIES_PER_AGENT} series, ${SERIES_PER_AGENT * SAMPLES_PER_SERIES} samples/request, ${IN_FLIGHT} in flight; hub shards ${SHARDS ?? `default (${availableParallelism()} CPUs)`}, fsync ${HUB_FSYNC}, fsyncIntervalMs ${HUB_FSYNC_INTERVAL_MS ?? "default"}; ` +
        `levels ${LEVELS.filter(Number.isFinite).map(fmtRate).join(", ")}, then ${SEARCH_STEPS} search steps up to ${fmtRate(SEARCH_MAX)}${LEVELS.some((l) => !Number.isFinite(l)) ? ", then max" : ""}; ${MEASURE_SEC} s windows; ${ROUNDS} round(s); work dir ${work}`,
    );
    console.log(await calibrate());
    const runs: RelayRun[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate who goes first, so a drift of the box over the run does not favour one relay.
      const order = round % 2 === 1 ? relays : [...relays].reverse();
      for (const relay of order) {
        console.log(`round ${round}/${ROUNDS}: ${relay}`);
        runs.push(await runRelay(relay, join(work, `round-${round}`), round));
      }
    }

    console.log("");
    console.log(
      table(
        ["round", "relay", "level", "offered/s", "accepted/s", "arrived in VM/s", "sustainable", "p50 ms", "p99 ms", "2xx", "429/5xx/other", "not sent (cap)", "relay CPU", "relay µs/sample", "relay RSS", "VM CPU", "gen CPU", "backlog at end"],
        runs.flatMap((r) =>
          r.levels.map((l) => [
            String(r.round),
            r.relay,
            l.kind,
            fmtRate(l.offered),
            fmtNum(l.w.ackedSamplesPerSec),
            fmtNum(l.arrivedPerSec),
            l.sustainable ? "yes" : "no",
            l.w.latencyMs.p50.toFixed(1),
            l.w.latencyMs.p99.toFixed(1),
            fmtNum(l.w.ok2xx),
            `${fmtNum(l.w.r429)}/${fmtNum(l.w.r5xx)}/${fmtNum(l.w.r4xx + l.w.netErrors)}`,
            fmtNum(l.w.deferred),
            `${fmtNum(l.relayCpu)} %`,
            Number.isNaN(cpuPerSample(l)) ? "-" : cpuPerSample(l).toFixed(2),
            `${fmtNum(l.relayRss)} MiB`,
            `${fmtNum(l.vmCpu)} %`,
            `${fmtNum(l.genCpu)} %`,
            l.backlog,
          ]),
        ),
      ),
    );
    console.log(
      `(CPU: 100 % = one core; the generator, the relay and VictoriaMetrics share 2 cores. relay µs/sample: relay CPU time per accepted sample. "not sent (cap)": flushes dropped because all ${IN_FLIGHT} slots stayed busy for over 1 s of offered load)`,
    );
    for (const r of runs) {
      const c = r.check;
      console.log(
        `round ${r.round} ${r.relay}: drained in ${r.drainSec.toFixed(1)} s${r.drained ? "" : " (NOT drained within 60 s)"}; peak RSS ${fmtNum(r.peakRss)} MiB; totals: ${fmtNum(r.summary.totals.samplesAcked)} samples acknowledged, ${fmtNum(r.summary.totals.requests)} requests; ` +
          (COUNTING
          ? "counting store: no read-back (every acknowledged sample must have arrived: drained)"
          : `read-back of ${c.agents} agents (${fmtNum(c.series)} series): ${fmtNum(c.acknowledged)} acknowledged samples, missing ${c.missing}, wrong value ${c.wrongValue}, stored twice ${c.storedTwice}, stored but not acknowledged ${c.unacknowledgedStored}`),
      );
      for (const e of c.examples) console.log(`  ${e}`);
      for (const e of r.extra) console.log(`  ${e}`);
    }
    let pass = true;
    const hubRuns = runs.filter((r) => r.relay === "hub");
    for (const hubRun of hubRuns) {
      const at200 = hubRun.levels.filter((l) => l.sustainable && Math.min(l.w.ackedSamplesPerSec, l.arrivedPerSec) >= SUSTAINED_SHARE * GOAL_SAMPLES_PER_SEC);
      const ok200 = at200.length > 0;
      pass &&= ok200;
      console.log(
        `round ${hubRun.round}: hub sustains ≥ ${fmtNum(GOAL_SAMPLES_PER_SEC / 1000)}k samples/s with p99 ≤ ${GOAL_P99_MS} ms: ${ok200 ? `PASS (levels ${at200.map((l) => fmtRate(l.offered)).join(", ")})` : "FAIL"}`,
      );
    }
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const hubRun = runs.find((r) => r.relay === "hub" && r.round === round);
      const vmaRun = runs.find((r) => r.relay === "vmagent" && r.round === round);
      if (!hubRun || !vmaRun) continue;
      const h = sustained(hubRun);
      const v = sustained(vmaRun);
      const ratio = v.rate > 0 ? h.rate / v.rate : Infinity;
      ratios.push(ratio);
      const peakH = Math.max(...hubRun.levels.map((l) => l.w.ackedSamplesPerSec));
      const peakV = Math.max(...vmaRun.levels.map((l) => l.w.ackedSamplesPerSec));
      console.log(
        `round ${round}: best sustained (min(accepted, arrived) at a sustainable level): hub ${fmtNum(h.rate)}/s${h.at ? ` at ${fmtRate(h.at.offered)}` : ""}, vmagent ${fmtNum(v.rate)}/s${v.at ? ` at ${fmtRate(v.at.offered)}` : ""}; ratio hub/vmagent ${ratio.toFixed(2)}; ` +
          `peak accepted (any latency): hub ${fmtNum(peakH)}/s, vmagent ${fmtNum(peakV)}/s (ratio ${(peakH / Math.max(1, peakV)).toFixed(2)})`,
      );
      const perSample = (run: RelayRun, level: number) => {
        const l = run.levels.find((x) => x.kind === "fixed" && x.offered === level);
        return l ? cpuPerSample(l) : NaN;
      };
      const fixed = LEVELS.filter(Number.isFinite);
      console.log(
        `round ${round}: relay CPU per accepted sample at the same load: ${fixed.map((lv) => `${fmtRate(lv)} hub ${perSample(hubRun, lv).toFixed(2)} µs, vmagent ${perSample(vmaRun, lv).toFixed(2)} µs`).join("; ")}`,
      );
    }
    if (ratios.length > 0) {
      const sorted = [...ratios].sort((x, y) => x - y);
      const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
      pass &&= median >= 1;
      console.log(`throughput hub/vmagent over ${ratios.length} round(s): ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${median.toFixed(2)} → ${median >= 1 ? "PASS" : "FAIL"}`);
    }
    for (const r of runs) {
      const intact = r.check.missing === 0 && r.check.wrongValue === 0 && r.drained;
      const what = COUNTING ? "every acknowledged sample arrived at the counting store" : "every acknowledged sample read back exactly";
      console.log(`round ${r.round} ${r.relay}: ${what}, queue drained: ${intact ? "yes" : `NO (missing ${r.check.missing}, wrong ${r.check.wrongValue}${r.drained ? "" : ", not drained in 60 s"})`}`);
      if (r.relay === "hub") pass &&= intact;
      if (!intact) keep = true;
    }
    const valid = runs.length > 0 && runs.every((r) => (COUNTING ? r.summary.totals.samplesAcked : r.check.acknowledged) > 0);
    if (!valid) {
      console.log("Run not valid: nothing acknowledged to read back.");
      process.exitCode = 1;
      keep = true;
    }
    console.log(`HUB-RELAY: ${pass && valid ? "PASS" : "FAIL"}`);
  } finally {
    clearTimeout(watchdog);
    if (keep || process.env.BENCH_KEEP === "1") console.log(`(work dir kept: ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
