/**
 * Chaos: the remote-write receiver goes away for 60 s under a steady game-side load, then comes
 * back. Nothing may be lost, nothing rejected as out of order, and the backlog must drain no
 * faster than the configured ceiling.
 *
 *   node_modules/bun/bin/bun.exe bench/receiver-outage.bench.ts [--mode restart|stop] [--outage 60] [--ceiling 10]
 *   (or: npm run bench -- --only receiver-outage;  AGENT_BIN=… runs another build)
 *
 * Set-up (127.0.0.1 only): Prometheus 2.42 (remote-write receiver) and dist/agent remote-writing
 * to it, `cadence: { steadyIntervalSec: 1 }`, `remoteWrite: [{ …, maxRequestsPerSec: <ceiling> }]`.
 * Load: 300 StatsD counter series (region × shard_id × queue, the bench label space), each
 * incremented once per second by 1..5 (fixed per series), 15 datagrams of 20 lines per second.
 * Phases: 15 s steady → outage → store back, wait for the backlog to drain (≤ 90 s) → 10 s
 * steady → stop sending, last flushes, read back.
 *   --mode restart  (default) SIGKILL Prometheus, keep it down for the outage, restart it on the
 *                   same port and TSDB dir (it replays its WAL): a crashed receiver.
 *   --mode stop     SIGSTOP for the outage, then SIGCONT: a hung receiver (connections are
 *                   accepted by the kernel and never answered; the agent's 30 s timeout fires).
 * Sampled every 250 ms from the agent's /metrics: agent_queue_records_pending,
 * agent_queue_oldest_record_age_seconds, agent_sink_requests_total by status.
 * Checks (each printed):
 *   - nothing lost: every series' stored value equals what was sent, and every series has a
 *     sample for every flush the agent made (no gap > 1.5 flush intervals in the raw samples
 *     across the outage);
 *   - no out-of-order rejections: agent_sink_requests_total{status="400"} stays 0 (and
 *     Prometheus logs no out-of-order / out-of-bounds sample);
 *   - drained within the ceiling: requests/s while draining ≤ ceiling
 *     (+10 % for sampling jitter; peak over 2 s windows), and the backlog is gone before the deadline;
 *   - back quickly: the first 2xx after the store is back (ready) within 3 s. While backing off
 *     after network errors or 5xx the agent probes with an empty request every 1–2 s, so it no
 *     longer sits out a full-jitter backoff of up to 30 s (the figure is sampled every 250 ms).
 * The run is invalid (exit 1) when the agent did not accept every line sent (kernel drops), or
 * no backlog built up during the outage.
 */
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentRun, agentDescription, Prometheus, agentPorts, labelKey, logSummary, requireBinaries, sumOf, writeAgentConfig } from "./lib/chaos";
import { dogTags, fmtNum, labelSets, sleep, table, runIfMain } from "./lib/common";

const quick = process.env.BENCH_QUICK === "1";
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};
const MODE = opt("mode", "restart");
if (MODE !== "restart" && MODE !== "stop") throw new Error(`--mode restart|stop, not ${MODE}`);
const OUTAGE_S = Number(opt("outage", quick ? "20" : "60"));
const CEILING = Number(opt("ceiling", "10"));
const WARM_S = quick ? 5 : 15;
const DRAIN_MAX_S = 90;
const TAIL_S = quick ? 5 : 10;
const SERIES = 300;
const LINES_PER_DATAGRAM = 20;
const HOST = "outage-host";
const SAMPLE_MS = 250;
const RATE_TOLERANCE = 1.1;
const RATE_WINDOW_MS = 2000;
const RECONNECT_GOAL_S = 3;

interface Tick {
  t: number;
  pending: number;
  oldestAgeSec: number;
  ok: number;
  netErr: number;
  s400: number;
  other: number;
}

async function main(): Promise<void> {
  requireBinaries();
  const watchdog = setTimeout(() => {
    console.error("receiver-outage: watchdog: still running after 330 s; giving up");
    process.exit(1);
  }, 330_000);
  const work = mkdtempSync(join(tmpdir(), "receiver-outage-"));
  const dataDir = join(work, "agent");
  const logFile = join(work, "agent.log");
  const prom = await Prometheus.start(join(work, "prometheus"));
  const ports = await agentPorts();
  const config = writeAgentConfig(
    dataDir,
    ports,
    HOST,
    [
      `cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }`,
      `remoteWrite: [{ url: "${prom.writeUrl}", name: prom, histograms: native, maxRequestsPerSec: ${CEILING} }]`,
    ].join("\n"),
  );
  const agent = new AgentRun(config, ports, logFile);
  let keep = false;
  let promLogAll = "";
  try {
    await agent.waitReady();
    const t0 = Date.now();
    console.log(`receiver-outage: agent ${agentDescription()}, Prometheus on :${prom.port}, mode ${MODE}, outage ${OUTAGE_S} s, ceiling ${CEILING} req/s, work dir ${work}`);

    // Load: 300 series, increment 1..5 each per second.
    const sets = labelSets(SERIES);
    const inc = sets.map((_, i) => 1 + (i % 5));
    const lines = sets.map((l, i) => `outage.c:${inc[i]}|c|#${dogTags(l)}`);
    const datagrams: Buffer[] = [];
    for (let i = 0; i < lines.length; i += LINES_PER_DATAGRAM) datagrams.push(Buffer.from(lines.slice(i, i + LINES_PER_DATAGRAM).join("\n")));
    const udp = createSocket("udp4");
    let ticksSent = 0;
    const sendTick = () => {
      ticksSent++;
      for (const d of datagrams) udp.send(d, ports.statsd, "127.0.0.1");
    };
    sendTick();
    const loadTimer = setInterval(sendTick, 1000);

    // Sampler
    const ticks: Tick[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          const m = await agent.metrics();
          ticks.push({
            t: Date.now(),
            pending: sumOf(m, "agent_queue_records_pending", { sink: "prom" }),
            oldestAgeSec: sumOf(m, "agent_queue_oldest_record_age_seconds", { sink: "prom" }),
            ok: m.filter((s) => s.name === "agent_sink_requests_total" && /^2\d\d$/.test(s.labels.status)).reduce((n, s) => n + s.value, 0),
            netErr: sumOf(m, "agent_sink_requests_total", { status: "network_error" }),
            s400: sumOf(m, "agent_sink_requests_total", { status: "400" }),
            other: m.filter((s) => s.name === "agent_sink_requests_total" && !/^2\d\d$/.test(s.labels.status) && s.labels.status !== "network_error" && s.labels.status !== "400").reduce((n, s) => n + s.value, 0),
          });
        } catch {
          // a missed sample
        }
        await sleep(SAMPLE_MS);
      }
    })();
    const last = () => ticks[ticks.length - 1];

    await sleep(WARM_S * 1000);
    const pendingBefore = last().pending;
    const downAt = Date.now();
    if (MODE === "restart") await prom.kill("SIGKILL");
    else prom.signal("SIGSTOP");
    promLogAll += prom.log();
    await sleep(Math.max(0, downAt + OUTAGE_S * 1000 - Date.now()));
    const backAt0 = Date.now();
    if (MODE === "restart") await prom.launch();
    else prom.signal("SIGCONT");
    const backAt = Date.now();
    const okAtBack = last().ok;
    const pendingAtBack = last().pending;
    let peakPending = 0;
    for (const k of ticks) if (k.t >= downAt) peakPending = Math.max(peakPending, k.pending);

    // Drain: the first 2xx after the store is back, then pending back to the steady level (≤ 1).
    const drainDeadline = backAt + DRAIN_MAX_S * 1000;
    let firstOkAt: number | undefined;
    let drainedAt: number | undefined;
    while (Date.now() < drainDeadline) {
      await sleep(SAMPLE_MS);
      const k = last();
      peakPending = Math.max(peakPending, k.pending);
      if (firstOkAt === undefined && k.ok > okAtBack) firstOkAt = ticks.find((x) => x.t >= backAt && x.ok > okAtBack)!.t;
      if (firstOkAt !== undefined && k.pending <= 1) {
        drainedAt = k.t;
        break;
      }
    }
    await sleep(TAIL_S * 1000);
    clearInterval(loadTimer);
    await sleep(2500); // two more flushes carry the last tick
    const drainWaitEnd = Date.now() + 20_000;
    while (last().pending > 0 && Date.now() < drainWaitEnd) await sleep(SAMPLE_MS);
    sampling = false;
    await sampler;
    udp.close();
    const endAt = Date.now();

    // ---- Read back
    const m = await agent.metrics();
    const acceptedLines = sumOf(m, "agent_points_accepted_total", { source: "statsd" });
    const rejectedPoints = sumOf(m, "agent_points_rejected_total");
    const sentLines = ticksSent * SERIES;
    const expected = new Map(sets.map((l, i) => [labelKey({ ...l }), ticksSent * inc[i]]));
    let stored = new Map<string, number>();
    const settleEnd = Date.now() + 15_000;
    for (;;) {
      stored = new Map((await prom.query(`outage_c_total{host="${HOST}"}`)).map((r) => [labelKey(r.labels, ["__name__", "host"]), r.value]));
      if ([...expected].every(([k, v]) => stored.get(k) === v) || Date.now() > settleEnd) break;
      await sleep(500);
    }
    let exact = 0;
    let sentSum = 0;
    let storedSum = 0;
    const wrong: string[] = [];
    for (const [k, v] of expected) {
      const s = stored.get(k);
      sentSum += v;
      storedSum += s ?? 0;
      if (s === v) exact++;
      else if (wrong.length < 5) wrong.push(`{${k}} sent ${v}, stored ${s ?? "nothing"}`);
    }
    // Raw samples: one per flush per series; gaps show flushes that never reached the store.
    const raw = await prom.raw(`outage_c_total{host="${HOST}"}`, (endAt - t0) / 1000 + 30);
    let maxGapMs = 0;
    let gapAt = 0;
    const sampleCounts: number[] = [];
    let decreases = 0;
    for (const r of raw) {
      sampleCounts.push(r.samples.length);
      for (let i = 1; i < r.samples.length; i++) {
        const gap = r.samples[i][0] - r.samples[i - 1][0];
        if (gap > maxGapMs) {
          maxGapMs = gap;
          gapAt = r.samples[i - 1][0];
        }
        if (r.samples[i][1] < r.samples[i - 1][1]) decreases++;
      }
    }
    const flushes = sumOf(m, "agent_flushes_total");
    const minSamples = Math.min(...sampleCounts);
    const maxSamples = Math.max(...sampleCounts);
    const fin = last();
    const s400 = sumOf(m, "agent_sink_requests_total", { status: "400" });
    const probes = m.filter((s) => s.name === "agent_sink_probes_total").map((s) => `${s.labels.status} ${s.value}`);
    const dropped = sumOf(m, "agent_queue_dropped_records_total");
    promLogAll += prom.log();
    const promOoo = promLogAll.split("\n").filter((l) => /out of order|out of bounds|duplicate sample/i.test(l));

    // Drain rate over windows of ≥ RATE_WINDOW_MS between samples, after the first 2xx until
    // drained. (A min-gap limiter lets n + 1 requests fall inside n gaps, so 1 s windows read up
    // to one request high; 2 s windows halve that.)
    const drainTicks = ticks.filter((k) => firstOkAt !== undefined && k.t >= firstOkAt - SAMPLE_MS && k.t <= (drainedAt ?? endAt));
    let peakRate = 0;
    for (let i = 0; i < drainTicks.length; i++) {
      let j = i + 1;
      while (j < drainTicks.length && drainTicks[j].t - drainTicks[i].t < RATE_WINDOW_MS) j++;
      if (j >= drainTicks.length) break;
      const rate = ((drainTicks[j].ok - drainTicks[i].ok) * 1000) / (drainTicks[j].t - drainTicks[i].t);
      peakRate = Math.max(peakRate, rate);
    }
    const drainOk = drainTicks.length > 1 ? drainTicks[drainTicks.length - 1].ok - drainTicks[0].ok : 0;
    const drainSec = drainTicks.length > 1 ? (drainTicks[drainTicks.length - 1].t - drainTicks[0].t) / 1000 : 0;
    const avgRate = drainSec > 0 ? drainOk / drainSec : 0;

    // ---- Report
    const rel = (t: number) => ((t - t0) / 1000).toFixed(1);
    console.log("");
    console.log("Timeline (agent /metrics, every 5 s and at the events):");
    const rows: (string | number)[][] = [];
    let nextRow = t0;
    const events = new Map<number, string>([
      [downAt, MODE === "restart" ? "store SIGKILLed" : "store SIGSTOPped"],
      [backAt, MODE === "restart" ? "store restarted" : "store SIGCONTed"],
      ...(firstOkAt ? ([[firstOkAt, "first 2xx"]] as [number, string][]) : []),
      ...(drainedAt ? ([[drainedAt, "drained"]] as [number, string][]) : []),
    ]);
    const pendingEvents = [...events.keys()].sort((a, b) => a - b);
    let prev: Tick | undefined;
    let prevRowTick: Tick | undefined;
    for (const k of ticks) {
      let note = "";
      while (pendingEvents.length > 0 && k.t >= pendingEvents[0]) note += (note ? ", " : "") + events.get(pendingEvents.shift()!)!;
      if (k.t >= nextRow || note || k === fin) {
        const base = prevRowTick ?? k;
        const rate = k.t > base.t ? ((k.ok - base.ok) * 1000) / (k.t - base.t) : 0;
        const phase =
          k.t < downAt ? "up" : k.t < backAt ? "DOWN" : firstOkAt === undefined || k.t < firstOkAt ? "back (agent in backoff)" : drainedAt === undefined || k.t < drainedAt ? "back, draining" : "up";
        rows.push([rel(k.t), phase, k.pending, k.oldestAgeSec.toFixed(1), k.ok, k.netErr, k.s400 + k.other, rate.toFixed(1), note]);
        prevRowTick = k;
        nextRow = k.t + 5000;
      }
      prev = k;
    }
    void prev;
    console.log(table(["t s", "store", "pending", "oldest s", "2xx", "net err", "4xx/5xx", "2xx/s", "event"], rows, ["r", "l", "r", "r", "r", "r", "r", "r", "l"]));
    console.log("");
    const drainTime = drainedAt !== undefined ? (drainedAt - backAt) / 1000 : NaN;
    const reconnect = firstOkAt !== undefined ? (firstOkAt - backAt) / 1000 : NaN;
    const backlogDrainSec = firstOkAt !== undefined && drainedAt !== undefined ? (drainedAt - firstOkAt) / 1000 : NaN;
    const minDrainSec = (peakPending - 1) / CEILING;
    console.log(
      table(
        ["figure", "value"],
        [
          ["outage (store down)", `${((backAt0 - downAt) / 1000).toFixed(1)} s (${MODE}); store ready again after ${((backAt - backAt0) / 1000).toFixed(1)} s`],
          ["lines sent / accepted by the agent", `${fmtNum(sentLines)} / ${fmtNum(acceptedLines)} (rejected ${rejectedPoints})`],
          ["series stored exactly (sum sent / stored)", `${exact} / ${SERIES}  (${fmtNum(sentSum)} / ${fmtNum(storedSum)})`],
          ["flushes / samples per series in the store", `${flushes} / ${minSamples}${minSamples !== maxSamples ? `–${maxSamples}` : ""}`],
          ["largest gap between a series' samples", `${(maxGapMs / 1000).toFixed(2)} s (after ${rel(gapAt)} s)`],
          ["stored counters going backwards", decreases],
          ["queue pending before / at store back / peak", `${pendingBefore} / ${pendingAtBack} / ${peakPending}`],
          ["store back → first 2xx (retry backoff, probes)", `${reconnect.toFixed(1)} s`],
          ["probes while backing off, by status", probes.join(", ") || "none"],
          ["first 2xx → drained (pending ≤ 1)", `${backlogDrainSec.toFixed(1)} s (≥ ${minDrainSec.toFixed(1)} s at the ceiling)`],
          ["store back → drained", `${drainTime.toFixed(1)} s`],
          ["drain rate: peak over 2 s / average", `${peakRate.toFixed(2)} / ${avgRate.toFixed(2)} req/s (ceiling ${CEILING})`],
          ["requests: 2xx / network errors / 400 / other", `${fin.ok} / ${fin.netErr} / ${s400} / ${fin.other}`],
          ["queue records dropped", dropped],
          ["Prometheus out-of-order/bounds log lines", promOoo.length],
        ],
      ),
    );
    console.log(`first 2xx after store back: ${reconnect.toFixed(1)} s`);
    for (const w of wrong) console.log(`  ${w}`);
    for (const l of promOoo.slice(0, 3)) console.log(`  prometheus: ${l.slice(0, 300)}`);
    const summary = logSummary(readFileSync(logFile, "utf8"));
    if (summary.length > 0) {
      console.log("Agent warn/error log lines:");
      console.log(table(["level", "message", "count"], summary.slice(0, 8).map((s) => [s.level, s.msg.slice(0, 90), s.count]), ["l", "l", "r"]));
    }

    const nothingLost = exact === SERIES && maxGapMs <= 1500 && minSamples === maxSamples && decreases === 0 && dropped === 0;
    const noOoo = s400 === 0 && promOoo.length === 0;
    const withinCeiling = drainedAt !== undefined && peakRate <= CEILING * RATE_TOLERANCE;
    const backQuickly = reconnect <= RECONNECT_GOAL_S;
    const valid = acceptedLines === sentLines && rejectedPoints === 0 && peakPending >= OUTAGE_S / 2;
    console.log("");
    console.log(`Nothing lost (counters exact, a sample for every flush, no drops): ${nothingLost ? "PASS" : "FAIL"}`);
    console.log(`No out-of-order rejections (agent_sink_requests_total{status="400"} = ${s400}): ${noOoo ? "PASS" : "FAIL"}`);
    console.log(`First 2xx within ${RECONNECT_GOAL_S} s of the store being back (${reconnect.toFixed(1)} s): ${backQuickly ? "PASS" : "FAIL"}`);
    console.log(`Backlog drained within the ceiling (peak ${peakRate.toFixed(2)} ≤ ${CEILING}${RATE_TOLERANCE > 1 ? ` +${Math.round((RATE_TOLERANCE - 1) * 100)} %` : ""} req/s, drained ${drainedAt !== undefined ? "yes" : "NO"} within ${DRAIN_MAX_S} s): ${withinCeiling ? "PASS" : "FAIL"}`);
    if (!valid) {
      console.log(`Run not valid: ${acceptedLines !== sentLines ? `the agent accepted ${acceptedLines} of ${sentLines} lines; ` : ""}${peakPending < OUTAGE_S / 2 ? `no backlog built up (peak ${peakPending})` : ""}`);
      process.exitCode = 1;
    }
    const pass = nothingLost && noOoo && withinCeiling && backQuickly;
    if (!pass || !valid) keep = true;
    console.log(`RECEIVER-OUTAGE: ${pass ? "PASS" : "FAIL"}`);
    await agent.stop();
  } finally {
    if (agent.alive) await agent.kill("SIGKILL");
    prom.signal("SIGCONT");
    await prom.kill("SIGTERM");
    clearTimeout(watchdog);
    if (keep || process.env.CHAOS_KEEP === "1") console.log(`(work dir kept: ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
