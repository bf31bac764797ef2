/**
 * Chaos: kill -9 the compiled agent at random moments while the game side keeps sending, then
 * read back from a real Prometheus what survived.
 *
 *   node_modules/bun/bin/bun.exe bench/chaos-kill.bench.ts [--kills 60] [--seed 1]
 *   (or: npm run bench -- --only chaos-kill;  AGENT_BIN=… runs another build)
 *
 * Set-up (127.0.0.1 only): Prometheus 2.42 (remote-write receiver, fresh TSDB dir) and dist/agent
 * remote-writing to it with `cadence: { steadyIntervalSec: 1 }`, fixed ports and one data dir.
 * While it runs, the game side sends:
 *   - OTLP/HTTP protobuf: 4 clients (shard_id=c1..c4), one request at a time, each a delta Sum
 *     point of chaos.otlp with an increment 1..9 (hand-built with the generated encoder,
 *     agent/sources/otlp/proto/otlp.js). A 2xx is "accepted". On a failure (no answer, a reset,
 *     a 5xx) the client retries the same bytes every 50–100 ms until a 2xx, as an SDK would,
 *     and counts the increment once. A failure other than "connection refused" may have reached
 *     the agent: such a request is "ambiguous" and may be counted twice. Each request carries
 *     the epoch it was first sent in (queue="e<kills so far>"), so every (client, epoch) series
 *     holds at most one ambiguous request (the one in flight at the kill): stored − accepted
 *     per series must be 0 or a multiple of that request's increment (a duplicate); anything
 *     else, and any shortfall, is loss.
 *   - StatsD over UDP: 10 lines (chaos.statsd:1|c, one per shard_id s1..s10) every 25 ms,
 *     400 lines/s, no acknowledgement; every datagram's send time is recorded.
 * The agent is SIGKILLed after a random 0.05–2.5 s of readiness (seeded) and restarted at once
 * with the same config, ports and data dir, at least 50 times. Then sending stops, the agent
 * flushes and drains its queue, and Prometheus is read:
 *   OTLP:   stored vs accepted per (client, epoch) series: missing = accepted − stored (data
 *           loss); duplicates = stored − accepted when that is what the series' ambiguous
 *           requests explain (made durable, answer lost, retried); "unexplained" otherwise.
 *   StatsD: lost = sent − stored, against a bound per kill: the lines sent after the last flush
 *           Prometheus holds before the kill (arrived, not yet in the state file) plus those sent
 *           while the agent was down (from the kill to its next /-/ready; never arrived).
 *   Store:  counter decreases inside a stored series (a restart that went backwards) must be 0.
 *   Dedupe: the agent remembers every accepted OTLP request (pipeline/otlp-dedupe.ts) across
 *           kills, so a retried request that was journaled before the kill must not be counted
 *           again: duplicates must be 0. agent_otlp_requests_deduplicated_total is read just
 *           before each kill and at the end (a process-lifetime counter, so the sum may miss a
 *           retry answered in the last moments before a kill).
 * PASS when OTLP missing == 0, OTLP duplicates == 0 and no series is unexplained. The run is
 * invalid (exit 1) when fewer than 50 kills happened or Prometheus does not end up holding what
 * the agent's own last flush shows.
 */
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opentelemetry } from "../agent/sources/otlp/proto/otlp.js";
import { AgentRun, agentDescription, Prometheus, agentPorts, logSummary, requireBinaries, sumOf, writeAgentConfig } from "./lib/chaos";
import { fmtNum, median, prng, sleep, table, runIfMain } from "./lib/common";

const ExportMetricsServiceRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

const quick = process.env.BENCH_QUICK === "1";
const argv = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(argv[i + 1]);
};
const MIN_KILLS = quick ? 5 : 50;
const KILLS = arg("kills", quick ? 10 : 60);
const SEED = arg("seed", 1);
const KILL_PHASE_MAX_MS = quick ? 40_000 : 170_000;
const UPTIME_MIN_MS = 50;
const UPTIME_MAX_MS = 2500;
const OTLP_CLIENTS = 4;
const STATSD_SERIES = 10;
const STATSD_EVERY_MS = 25;
const FLUSH_SLACK_MS = 10; // a line sent this close before a flush may land in the next one
const HOST = "chaos-host";

interface SeriesAudit {
  accepted: number;
  /** Increment and ambiguous-failure count of each request of this series that may be doubled. */
  ambiguous: { value: number; times: number }[];
}

interface ClientStats {
  series: string;
  /** Per epoch label. */
  audit: Map<string, SeriesAudit>;
  requests: number;
  accepted: number;
  /** Σ increment × failures other than "connection refused" (each may have been made durable). */
  maybeDuplicated: number;
  retriedRequests: number;
  failedAttempts: number;
  rejected4xx: number;
  gaveUp: number;
  errors: Map<string, number>;
}

interface Kill {
  uptimeMs: number;
  killAt: number;
  readyAt: number;
}

/** The agent's count of retries answered from its dedupe window (0 when /metrics does not answer). */
async function deduplicatedSoFar(agent: AgentRun): Promise<number> {
  try {
    return sumOf(await agent.metrics(), "agent_otlp_requests_deduplicated_total");
  } catch {
    return 0;
  }
}

function otlpBody(series: string, epoch: string, value: number, startNs: bigint, endNs: bigint): Uint8Array {
  const kv = (key: string, v: string) => ({ key, value: { stringValue: v } });
  const req = {
    resourceMetrics: [
      {
        resource: { attributes: [kv("service.name", "game-server")] },
        scopeMetrics: [
          {
            scope: { name: "chaos-bench" },
            metrics: [
              {
                name: "chaos.otlp",
                unit: "1",
                sum: {
                  aggregationTemporality: 1, // DELTA
                  isMonotonic: true,
                  dataPoints: [{ attributes: [kv("shard_id", series), kv("queue", epoch)], startTimeUnixNano: startNs.toString(), timeUnixNano: endNs.toString(), asDouble: value }],
                },
              },
            ],
          },
        ],
      },
    ],
  };
  return new Uint8Array(ExportMetricsServiceRequest.encode(req as never).finish());
}

function errorKind(e: unknown): { kind: string; refused: boolean } {
  const err = e as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code ?? err.name ?? "error";
  const refused = /refused/i.test(code) || /refused/i.test(err.message ?? "");
  return { kind: code, refused };
}

async function otlpClient(port: number, series: string, seed: number, stop: { sending: boolean; hardDeadline: number; epoch: number }): Promise<ClientStats> {
  const rand = prng(seed);
  const st: ClientStats = { series, audit: new Map(), requests: 0, accepted: 0, maybeDuplicated: 0, retriedRequests: 0, failedAttempts: 0, rejected4xx: 0, gaveUp: 0, errors: new Map() };
  const url = `http://127.0.0.1:${port}/v1/metrics`;
  let prevNs = BigInt(Date.now()) * 1_000_000n;
  while (stop.sending) {
    const value = 1 + Math.floor(rand() * 9);
    const endNs = BigInt(Date.now()) * 1_000_000n;
    const epoch = `e${stop.epoch}`;
    const body = otlpBody(series, epoch, value, prevNs, endNs);
    prevNs = endNs;
    st.requests++;
    const audit = st.audit.get(epoch) ?? { accepted: 0, ambiguous: [] };
    st.audit.set(epoch, audit);
    let attempts = 0;
    let ambiguous = 0;
    for (;;) {
      attempts++;
      let status = 0;
      try {
        const r = await fetch(url, { method: "POST", body: body as BodyInit, headers: { "content-type": "application/x-protobuf" }, signal: AbortSignal.timeout(5000) });
        await r.arrayBuffer();
        status = r.status;
      } catch (e) {
        const k = errorKind(e);
        st.errors.set(k.kind, (st.errors.get(k.kind) ?? 0) + 1);
        if (!k.refused) ambiguous++;
      }
      if (status >= 200 && status < 300) {
        st.accepted += value;
        audit.accepted += value;
        break;
      }
      if (status !== 0) st.errors.set(`HTTP ${status}`, (st.errors.get(`HTTP ${status}`) ?? 0) + 1);
      if (status >= 400 && status < 500 && status !== 429) {
        st.rejected4xx++;
        break;
      }
      st.failedAttempts++;
      if (Date.now() > stop.hardDeadline) {
        st.gaveUp++;
        break;
      }
      await sleep(50 + rand() * 50);
    }
    if (attempts > 1) st.retriedRequests++;
    if (ambiguous > 0) {
      st.maybeDuplicated += value * ambiguous;
      audit.ambiguous.push({ value, times: ambiguous });
    }
    await sleep(2 + rand() * 8);
  }
  return st;
}

/** True when `diff` is a sum of the ambiguous requests' increments, each taken 0..times times. */
function explainable(diff: number, ambiguous: { value: number; times: number }[]): boolean {
  let reachable = new Set([0]);
  for (const a of ambiguous) {
    const next = new Set(reachable);
    for (const r of reachable) for (let k = 1; k <= a.times; k++) if (r + k * a.value <= diff) next.add(r + k * a.value);
    reachable = next;
  }
  return reachable.has(diff);
}

async function main(): Promise<void> {
  requireBinaries();
  const watchdog = setTimeout(() => {
    console.error("chaos-kill: watchdog: still running after 330 s; giving up");
    process.exit(1);
  }, 330_000);
  const work = mkdtempSync(join(tmpdir(), "chaos-kill-"));
  const dataDir = join(work, "agent");
  const logFile = join(work, "agent.log");
  const prom = await Prometheus.start(join(work, "prometheus"));
  const ports = await agentPorts();
  const config = writeAgentConfig(
    dataDir,
    ports,
    HOST,
    [`cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }`, `policy: { budget: { maxSeries: 1000 } }`, `remoteWrite: [{ url: "${prom.writeUrl}", name: prom, histograms: native }]`].join("\n"),
  );
  let agent = new AgentRun(config, ports, logFile);
  const rand = prng(SEED);
  const kills: Kill[] = [];
  const stop = { sending: true, hardDeadline: Date.now() + 290_000, epoch: 0 };
  const sends: [number, number][] = []; // [ms, lines]
  let deduplicated = 0;
  let keep = false;
  try {
    await agent.waitReady();
    console.log(`chaos-kill: agent ${agentDescription()}, Prometheus on :${prom.port}, seed ${SEED}, ${KILLS} kills (min ${MIN_KILLS}), work dir ${work}`);

    // Game side
    const udp = createSocket("udp4");
    const statsdLines = Array.from({ length: STATSD_SERIES }, (_, i) => `chaos.statsd:1|c|#shard_id:s${i + 1}`).join("\n");
    const statsdPayload = Buffer.from(statsdLines);
    const statsdTimer = setInterval(() => {
      sends.push([Date.now(), STATSD_SERIES]);
      udp.send(statsdPayload, ports.statsd, "127.0.0.1");
    }, STATSD_EVERY_MS);
    const clients = Array.from({ length: OTLP_CLIENTS }, (_, i) => otlpClient(ports.otlp, `c${i + 1}`, SEED * 1000 + i, stop));

    // Kill loop
    const phaseEnd = Date.now() + KILL_PHASE_MAX_MS;
    let readyAt = Date.now();
    for (let k = 0; k < KILLS && Date.now() < phaseEnd; k++) {
      const uptimeMs = UPTIME_MIN_MS + Math.floor(rand() * (UPTIME_MAX_MS - UPTIME_MIN_MS));
      await sleep(Math.max(0, readyAt + uptimeMs - Date.now()));
      deduplicated += await deduplicatedSoFar(agent);
      const killAt = Date.now();
      stop.epoch++; // requests first sent from now on belong to the next epoch
      await agent.kill("SIGKILL");
      agent = new AgentRun(config, ports, logFile);
      readyAt = await agent.waitReady(20_000, 10);
      kills.push({ uptimeMs, killAt, readyAt });
      if ((k + 1) % 10 === 0) console.log(`  ${k + 1} kills, ${((Date.now() - kills[0].killAt) / 1000).toFixed(0)} s`);
    }

    // Stop sending; let every client finish its request (the agent stays up now).
    clearInterval(statsdTimer);
    stop.sending = false;
    const stats = await Promise.all(clients);
    udp.close();
    const sendingStoppedAt = Date.now();

    // Flush and drain: two flushes, then the queue empty and Prometheus holding the agent's last flush.
    await sleep(2500);
    let agentValues = new Map<string, number>();
    let promValues = new Map<string, number>();
    let settled = false;
    let pending = -1;
    const drainDeadline = Date.now() + 60_000;
    while (Date.now() < drainDeadline) {
      const m = await agent.metrics();
      pending = sumOf(m, "agent_queue_records_pending", { sink: "prom" });
      agentValues = new Map(
        m.filter((s) => s.name === "chaos_otlp_total" || s.name === "chaos_statsd_total").map((s) => [`${s.name}{${s.labels.shard_id},${s.labels.queue ?? ""}}`, s.value]),
      );
      promValues = new Map(
        (await prom.query(`{__name__=~"chaos_otlp_total|chaos_statsd_total",host="${HOST}"}`)).map((r) => [`${r.labels.__name__}{${r.labels.shard_id},${r.labels.queue ?? ""}}`, r.value]),
      );
      const expectedSeries = STATSD_SERIES + stats.reduce((n, s) => n + [...s.audit.values()].filter((a) => a.accepted > 0).length, 0);
      settled = pending === 0 && agentValues.size >= expectedSeries && [...agentValues].every(([k, v]) => promValues.get(k) === v);
      if (settled) break;
      await sleep(500);
    }
    const drainedAt = Date.now();
    deduplicated += await deduplicatedSoFar(agent);

    // ---- OTLP: per (client, epoch) series
    const otlpRows: (string | number)[][] = [];
    let accepted = 0;
    let stored = 0;
    let missing = 0;
    let duplicates = 0;
    let maybeDup = 0;
    let seriesWithDup = 0;
    let seriesChecked = 0;
    const unexplained: string[] = [];
    for (const s of stats) {
      let cMissing = 0;
      let cDup = 0;
      let cStored = 0;
      let cUnexplained = 0;
      for (const [epoch, a] of s.audit) {
        const st = promValues.get(`chaos_otlp_total{${s.series},${epoch}}`) ?? 0;
        seriesChecked++;
        cStored += st;
        const diff = st - a.accepted;
        if (diff < 0) cMissing += -diff;
        else if (diff > 0) {
          if (explainable(diff, a.ambiguous)) {
            cDup += diff;
            seriesWithDup++;
          } else {
            cUnexplained++;
            unexplained.push(`shard_id=${s.series},queue=${epoch}: accepted ${a.accepted}, stored ${st}, ambiguous ${JSON.stringify(a.ambiguous)}`);
          }
        }
      }
      accepted += s.accepted;
      stored += cStored;
      missing += cMissing;
      duplicates += cDup;
      maybeDup += s.maybeDuplicated;
      otlpRows.push([`shard_id=${s.series}`, s.audit.size, s.requests, s.retriedRequests, s.accepted, cStored, cMissing, cDup, s.maybeDuplicated, cUnexplained]);
    }
    otlpRows.push([
      "total",
      seriesChecked,
      stats.reduce((n, s) => n + s.requests, 0),
      stats.reduce((n, s) => n + s.retriedRequests, 0),
      accepted,
      stored,
      missing,
      duplicates,
      maybeDup,
      unexplained.length,
    ]);

    // ---- StatsD
    const statsdSent = sends.reduce((n, [, l]) => n + l, 0);
    let statsdStored = 0;
    for (let i = 1; i <= STATSD_SERIES; i++) statsdStored += promValues.get(`chaos_statsd_total{s${i},}`) ?? 0;
    const statsdLost = statsdSent - statsdStored;
    // Flush timestamps Prometheus holds (every flush writes every series at the flush time).
    const rangeSec = (Date.now() - sends[0][0]) / 1000 + 60;
    const raw = await prom.raw(`{__name__=~"chaos_otlp_total|chaos_statsd_total",host="${HOST}"}`, rangeSec);
    const flushTimes = [...new Set(raw.flatMap((r) => r.samples.map(([t]) => t)))].sort((a, b) => a - b);
    let decreases = 0;
    const decreaseExamples: string[] = [];
    for (const r of raw) {
      for (let i = 1; i < r.samples.length; i++) {
        if (r.samples[i][1] < r.samples[i - 1][1]) {
          decreases++;
          if (decreaseExamples.length < 5) decreaseExamples.push(`${r.labels.__name__}{shard_id="${r.labels.shard_id}"} ${r.samples[i - 1][1]} → ${r.samples[i][1]} at ${new Date(r.samples[i][0]).toISOString()}`);
        }
      }
    }
    const linesIn = (fromExcl: number, toIncl: number) => sends.reduce((n, [t, l]) => (t > fromExcl && t <= toIncl ? n + l : n), 0);
    let arrivedBound = 0;
    let downBound = 0;
    const downMs: number[] = [];
    for (const k of kills) {
      let last = -Infinity;
      for (const f of flushTimes) if (f <= k.killAt) last = f;
      arrivedBound += linesIn(Math.max(last - FLUSH_SLACK_MS, sends[0][0] - 1), k.killAt);
      downBound += linesIn(k.killAt, k.readyAt);
      downMs.push(k.readyAt - k.killAt);
    }
    const bound = arrivedBound + downBound;

    // ---- Report
    const n = kills.length;
    console.log("");
    console.log(`Kills: ${n} (SIGKILL after ${UPTIME_MIN_MS}–${UPTIME_MAX_MS} ms of readiness, seeded ${SEED}); kill → ready again: median ${fmtNum(median(downMs))} ms, max ${fmtNum(Math.max(...downMs))} ms`);
    console.log(`Sending: ${((sendingStoppedAt - sends[0][0]) / 1000).toFixed(0)} s; flush + drain after it: ${((drainedAt - sendingStoppedAt) / 1000).toFixed(1)} s; queue pending at the end: ${pending}; Prometheus = agent's last flush: ${settled ? "yes" : "NO"}`);
    console.log("");
    console.log("OTLP/HTTP protobuf, delta counter increments (accepted = answered 2xx, retried after failures until 2xx):");
    console.log(table(["client", "epochs", "requests", "retried", "accepted", "stored", "missing", "duplicates", "could be dup.", "unexplained"], otlpRows));
    console.log(`(a series per client and epoch; duplicates in ${seriesWithDup} of ${seriesChecked} series, each explained by that series' ambiguous request)`);
    console.log(`Retries the agent answered from its dedupe window (agent_otlp_requests_deduplicated_total summed over runs): ${fmtNum(deduplicated)}`);
    for (const u of unexplained.slice(0, 5)) console.log(`  unexplained: ${u}`);
    console.log("");
    console.log("StatsD over UDP (no acknowledgement):");
    console.log(
      table(
        ["", "lines", "per kill"],
        [
          ["sent", fmtNum(statsdSent), ""],
          ["stored", fmtNum(statsdStored), ""],
          ["lost (sent − stored)", fmtNum(statsdLost), fmtNum(statsdLost / n, 1)],
          ["  bound: arrived after the last flush before the kill", fmtNum(arrivedBound), fmtNum(arrivedBound / n, 1)],
          ["  bound: sent while the agent was down (never arrived)", fmtNum(downBound), fmtNum(downBound / n, 1)],
          ["  bound: total", fmtNum(bound), fmtNum(bound / n, 1)],
          ["lost beyond the bound", fmtNum(Math.max(0, statsdLost - bound)), ""],
        ],
        ["l", "r", "r"],
      ),
    );
    const rate = (STATSD_SERIES * 1000) / STATSD_EVERY_MS;
    console.log(`(${rate} lines/s with a 1 s flush cadence: up to ~${rate} lines arrive after the last flush, ~${rate / 2} on average; the bound uses the flush times Prometheus holds)`);
    console.log("");
    console.log(`Stored counter series going backwards (a restart resumed from older state): ${decreases}${decreaseExamples.length ? "\n  " + decreaseExamples.join("\n  ") : ""}`);
    const errs = new Map<string, number>();
    for (const s of stats) for (const [k, v] of s.errors) errs.set(k, (errs.get(k) ?? 0) + v);
    console.log(`OTLP failed attempts by kind: ${[...errs].map(([k, v]) => `${k} ${v}`).join(", ") || "none"}; 4xx rejections ${stats.reduce((a, s) => a + s.rejected4xx, 0)}; gave up ${stats.reduce((a, s) => a + s.gaveUp, 0)}`);
    const logText = readFileSync(logFile, "utf8");
    const summary = logSummary(logText);
    if (summary.length > 0) {
      console.log("Agent warn/error log lines over all runs:");
      console.log(table(["level", "message", "count"], summary.slice(0, 12).map((s) => [s.level, s.msg.slice(0, 90), s.count]), ["l", "l", "r"]));
      for (const s of summary.filter((x) => x.level === "error").slice(0, 4)) console.log(`  e.g. ${s.example}`);
    }
    console.log("");
    console.log(
      table(
        ["figure", "value"],
        [
          ["kills", n],
          ["OTLP increments accepted", fmtNum(accepted)],
          ["OTLP stored", fmtNum(stored)],
          ["OTLP missing", fmtNum(missing)],
          ["OTLP duplicates", `${fmtNum(duplicates)} (≤ ${fmtNum(maybeDup)} could be)`],
          ["OTLP retries deduplicated by the agent", fmtNum(deduplicated)],
          ["OTLP series unexplained", unexplained.length],
          ["StatsD sent", fmtNum(statsdSent)],
          ["StatsD stored", fmtNum(statsdStored)],
          ["StatsD lost", `${fmtNum(statsdLost)} (${fmtNum(statsdLost / n, 1)}/kill; bound ${fmtNum(bound / n, 1)}/kill)`],
          ["stored counters going backwards", decreases],
        ],
      ),
    );
    const statsdSeriesStored = Array.from({ length: STATSD_SERIES }, (_, i) => promValues.has(`chaos_statsd_total{s${i + 1},}`)).filter(Boolean).length;
    const valid = n >= MIN_KILLS && settled && stats.every((s) => s.gaveUp === 0) && statsdSeriesStored === STATSD_SERIES;
    const noLoss = missing === 0 && unexplained.length === 0;
    const pass = noLoss && duplicates === 0;
    console.log(
      `OTLP missing == 0 (every increment answered 2xx is in Prometheus, no series off by an amount retries do not explain): ${noLoss ? "PASS" : `FAIL (${fmtNum(missing)} accepted increments lost; ${unexplained.length} series unexplained)`}`,
    );
    console.log(`OTLP duplicates == 0 (a retried request is counted once): ${duplicates === 0 ? "PASS" : `FAIL (${fmtNum(duplicates)} increments counted twice)`}`);
    console.log(`StatsD loss within the bound: ${statsdLost <= bound && statsdLost >= 0 ? "yes" : "NO"}; stored counters going backwards: ${decreases === 0 ? "none" : decreases}`);
    if (!valid) {
      console.log(`Run not valid: ${n < MIN_KILLS ? `only ${n} kills; ` : ""}${settled ? "" : "Prometheus never matched the agent's last flush; "}${stats.some((s) => s.gaveUp) ? "a client gave up; " : ""}${statsdSeriesStored < STATSD_SERIES ? `only ${statsdSeriesStored} of ${STATSD_SERIES} StatsD series stored` : ""}`);
      keep = true;
      process.exitCode = 1;
    }
    if (!pass || decreases > 0) keep = true;
    console.log(`CHAOS-KILL: ${pass ? "PASS" : "FAIL"}`);
    await agent.stop();
  } finally {
    if (agent.alive) await agent.kill("SIGKILL");
    await prom.kill("SIGTERM");
    clearTimeout(watchdog);
    if (keep || process.env.CHAOS_KEEP === "1") console.log(`(work dir kept: ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
