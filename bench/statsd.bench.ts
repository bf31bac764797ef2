/**
 * StatsD lines/s per core: our real receive path versus a bare dgram loop, in the same run.
 *
 *   node_modules/bun/bin/bun.exe bench/statsd.bench.ts      (or: npm run bench -- --only statsd)
 *
 * Receiver (a fresh Bun process per run, as in production; bench/lib/statsd-receiver.ts):
 *   ours  createStatsdSource (4 MiB buffer) → parseStatsdPacket → StatsdIngest → Aggregator
 *         (default label policy, budget 300)
 *   bare  node:dgram (4 MiB buffer) → toString → split lines → count per key (name+tags) in a Map
 * Sender (Node, bench/lib/statsd-sender.mjs): pre-built DogStatsD datagrams over 300 series
 * (tags region/shard_id/queue, mixed c/g/ms, some sampled), paced at a fixed rate both
 * receivers sustain so the kernel does not drop.
 *
 * The receiver measures its own CPU (process.cpuUsage, all threads) from START to STOP; the
 * result is lines (or datagrams) per CPU-second, i.e. per core. Runs alternate AB BA AB (ours,
 * bare, bare, ours, ours, bare) and the median of 3 is reported; a run that lost datagrams in
 * the kernel is repeated (at most twice, reported). Goal: ours ≥ 80 % of the bare loop
 * (10 lines per datagram). The one-line-per-datagram case is reported beside it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { isUtf8 } from "node:buffer";
import { Aggregator } from "../agent/aggregate/aggregator";
import { createIngestStats, StatsdIngest } from "../agent/pipeline/ingest";
import { parseStatsdPacket } from "../agent/sources/statsd/statsd-parse";
import { DEFAULT_LABEL_POLICY } from "../policy/labels/config";
import { createLabelPolicy } from "../policy/labels/label-policy";
import { createSeriesBudget, DEFAULT_SERIES_BUDGET } from "../policy/budget/series-budget";
import { BUN, NODE, ROOT, fmtNum, median, requireBun, sleep, table, runIfMain } from "./lib/common";
import { createBareCounter } from "./lib/statsd-bare";
import { buildDatagrams, statsdSeries } from "./lib/statsd-lines.mjs";

const GOAL = 0.8;
const quick = process.env.BENCH_QUICK === "1";

interface ReceiverResult {
  mode: "ours" | "bare";
  runtime: string;
  cpuUserUs: number;
  cpuSystemUs: number;
  rssMiB: number;
  datagrams: number;
  lines: number;
  keys: number;
  accepted?: number;
  rejected?: number;
  malformed?: number;
  rejections?: Record<string, number>;
}

interface SenderResult {
  datagrams: number;
  lines: number;
  bytes: number;
  seconds: number;
}

interface RunResult {
  receiver: ReceiverResult;
  sender: SenderResult;
  cpuSec: number;
}

/** A child that speaks the line protocol of statsd-receiver.ts. */
class Receiver {
  private readonly proc: ChildProcess;
  private readonly waiting: { prefix: string; resolve: (line: string) => void }[] = [];
  private stderr = "";
  private exited = false;

  constructor(mode: "ours" | "bare") {
    this.proc = spawn(BUN, [join(ROOT, "bench/lib/statsd-receiver.ts"), mode], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stderr!.on("data", (d) => (this.stderr += d));
    this.proc.on("exit", () => {
      this.exited = true;
    });
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      const i = this.waiting.findIndex((w) => line.startsWith(w.prefix));
      if (i !== -1) this.waiting.splice(i, 1)[0].resolve(line);
    });
  }

  async request(cmd: string | undefined, prefix: string, timeoutMs = 15_000): Promise<string> {
    const p = new Promise<string>((resolve, reject) => {
      this.waiting.push({ prefix, resolve });
      setTimeout(() => reject(new Error(`receiver: no "${prefix}" within ${timeoutMs} ms (exited: ${this.exited})\n${this.stderr}`)), timeoutMs).unref();
    });
    if (cmd !== undefined) this.proc.stdin!.write(cmd + "\n");
    return p;
  }

  kill(): void {
    if (!this.exited) this.proc.kill("SIGKILL");
  }
}

function runSender(port: number, datagrams: number, lines: number, rate: number): Promise<SenderResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      NODE,
      [join(ROOT, "bench/lib/statsd-sender.mjs"), "--port", String(port), "--datagrams", String(datagrams), "--lines", String(lines), "--rate", String(rate), "--max-seconds", "60"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code !== 0 || !line) return reject(new Error(`sender failed (${code}): ${out}${err}`));
      resolve(JSON.parse(line.slice(7)) as SenderResult);
    });
  });
}

export async function runOnce(mode: "ours" | "bare", linesPer: number, datagrams: number, rate: number): Promise<RunResult> {
  const rx = new Receiver(mode);
  try {
    const port = Number((await rx.request(undefined, "READY ")).split(" ")[1]);
    await rx.request("START", "STARTED");
    const sender = await runSender(port, datagrams, linesPer, rate);
    // Let the receiver drain its socket buffer: wait until its count stops moving (bounded).
    let last = -1;
    for (let i = 0; i < 50; i++) {
      const n = Number((await rx.request("COUNT", "COUNT ")).split(" ")[1]);
      if (n >= sender.datagrams || n === last) break;
      last = n;
      await sleep(100);
    }
    const receiver = JSON.parse((await rx.request("STOP", "RESULT ")).slice(7)) as ReceiverResult;
    return { receiver, sender, cpuSec: (receiver.cpuUserUs + receiver.cpuSystemUs) / 1e6 };
  } finally {
    rx.kill();
  }
}

interface Scenario {
  title: string;
  linesPer: number;
  datagrams: number;
  rate: number;
  reps: number;
}

const MAX_LOSS = 0.001;
const retries: string[] = [];
const lossOf = (r: RunResult) => 1 - r.receiver.datagrams / r.sender.datagrams;

async function scenario(s: Scenario): Promise<{ ours: RunResult[]; bare: RunResult[] }> {
  const ours: RunResult[] = [];
  const bare: RunResult[] = [];
  for (let r = 0; r < s.reps; r++) {
    const order: ("ours" | "bare")[] = r % 2 === 0 ? ["ours", "bare"] : ["bare", "ours"];
    for (const mode of order) {
      // A run that lost datagrams in the kernel (another process took the core for a moment on
      // this shared 2-core box) is repeated, at most twice; the retries are reported.
      let res = await runOnce(mode, s.linesPer, s.datagrams, s.rate);
      for (let retry = 1; retry <= 2 && lossOf(res) > MAX_LOSS; retry++) {
        process.stderr.write(`  [${s.linesPer} line(s)/datagram] ${mode} rep ${r + 1}: ${(lossOf(res) * 100).toFixed(2)} % kernel loss; repeating (${retry}/2)\n`);
        retries.push(`${s.linesPer} line(s)/datagram, ${mode} rep ${r + 1}: ${(lossOf(res) * 100).toFixed(2)} % loss, repeated`);
        res = await runOnce(mode, s.linesPer, s.datagrams, s.rate);
      }
      (mode === "ours" ? ours : bare).push(res);
      process.stderr.write(`  [${s.linesPer} line(s)/datagram] ${mode} rep ${r + 1}: ${fmtNum(res.receiver.lines)} lines, ${res.cpuSec.toFixed(2)} CPU-s\n`);
    }
  }
  return { ours, bare };
}

function problems(runs: RunResult[], expectKeys: number): string[] {
  const out: string[] = [];
  for (const r of runs) {
    const rx = r.receiver;
    const loss = 1 - rx.datagrams / r.sender.datagrams;
    if (loss > MAX_LOSS) out.push(`${rx.mode}: ${(loss * 100).toFixed(2)} % of datagrams lost in the kernel (sent ${r.sender.datagrams}, received ${rx.datagrams})`);
    if (rx.lines === 0) out.push(`${rx.mode}: received nothing`);
    if (rx.keys !== expectKeys) out.push(`${rx.mode}: ${rx.keys} distinct series, expected ${expectKeys}`);
    if (rx.mode === "ours") {
      if (rx.rejected !== 0 || rx.malformed !== 0) out.push(`ours: ${rx.rejected} rejected, ${rx.malformed} malformed ${JSON.stringify(rx.rejections)}`);
      if (rx.accepted !== rx.lines) out.push(`ours: accepted ${rx.accepted} of ${rx.lines} lines`);
    }
    if (rx.lines !== rx.datagrams * (r.sender.lines / r.sender.datagrams)) out.push(`${rx.mode}: ${rx.lines} lines for ${rx.datagrams} datagrams`);
  }
  return out;
}

function rowsFor(label: string, runs: RunResult[], perLine: boolean): (string | number)[][] {
  return runs.map((r, i) => {
    const unit = perLine ? r.receiver.lines : r.receiver.datagrams;
    return [
      `${label} #${i + 1}`,
      fmtNum(r.sender.datagrams),
      fmtNum(r.receiver.lines),
      `${((1 - r.receiver.datagrams / r.sender.datagrams) * 100).toFixed(2)} %`,
      r.cpuSec.toFixed(2),
      `${((r.cpuSec / r.sender.seconds) * 100).toFixed(0)} %`,
      fmtNum(unit / r.cpuSec),
      ((r.cpuSec * 1e6) / unit).toFixed(2),
      r.receiver.rssMiB.toFixed(1),
    ];
  });
}

/**
 * The same two handlers without the socket, in this (Bun) process: what our parse + policy +
 * aggregation costs per datagram compared with the bare split-and-count, with the runtime's
 * receive cost (the same in both) taken out. Informational: the goal is end to end.
 */
function jsOnly(linesPer: number): { ours: number; bare: number; ok: boolean } {
  const { buffers } = buildDatagrams({ series: statsdSeries(300), linesPerDatagram: linesPer, pool: 2048, seed: 11 });
  const agg = new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget(DEFAULT_SERIES_BUDGET) });
  const stats = createIngestStats();
  const ingest = new StatsdIngest(agg, stats);
  const bare = createBareCounter();
  const M = quick ? 50_000 : 200_000;
  const loops = {
    ours() {
      for (let i = 0; i < M; i++) {
        const b = buffers[i & 2047];
        if (!isUtf8(b)) continue; // as receiveDatagram does
        const text = b.toString("utf8");
        ingest.nowMs = Date.now(); // as AgentRuntime's onPacket does
        parseStatsdPacket(text, ingest);
      }
    },
    bare() {
      for (let i = 0; i < M; i++) bare.onText(buffers[i & 2047].toString("utf8"));
    },
  };
  const samples: Record<"ours" | "bare", number[]> = { ours: [], bare: [] };
  for (let r = 0; r < 7; r++) {
    for (const k of r % 2 === 0 ? (["ours", "bare"] as const) : (["bare", "ours"] as const)) {
      const t0 = process.hrtime.bigint();
      loops[k]();
      if (r > 0) samples[k].push(Number(process.hrtime.bigint() - t0) / M); // round 0 = warm-up
    }
  }
  const ok = agg.activeSeries === 300 && stats.pointsRejected.statsd === 0 && stats.malformed.size === 0 && bare.keys === 300;
  return { ours: median(samples.ours), bare: median(samples.bare), ok };
}

async function main(): Promise<void> {
  requireBun();
  const rate = 50_000;
  const s10: Scenario = { title: "10 lines per datagram", linesPer: 10, datagrams: quick ? 100_000 : 300_000, rate, reps: quick ? 2 : 3 };
  const s1: Scenario = { title: "1 line per datagram", linesPer: 1, datagrams: quick ? 50_000 : 200_000, rate, reps: quick ? 2 : 3 };
  console.log("== StatsD lines/s per core: ours (createStatsdSource → parseStatsdPacket → StatsdIngest → Aggregator) vs bare dgram loop ==");
  console.log(`Receiver: Bun (fresh process per run), CPU = process.cpuUsage() from START to STOP (all threads). Sender: Node, ${fmtNum(rate)} datagrams/s paced, 300 series.`);
  console.log("");

  const r10 = await scenario(s10);
  const r1 = await scenario(s1);
  const runtime = r10.ours[0].receiver.runtime;

  const med = (runs: RunResult[], perLine: boolean) => median(runs.map((r) => (perLine ? r.receiver.lines : r.receiver.datagrams) / r.cpuSec));

  console.log(`### ${s10.title} (${runtime}, ${fmtNum(s10.datagrams)} datagrams × ${s10.linesPer} lines at ${fmtNum(rate)}/s, ${s10.reps} runs each, order AB BA AB…)`);
  const head = ["run", "datagrams sent", "lines received", "loss", "CPU s", "CPU % (of send time)", "lines / CPU-s", "µs CPU / line", "RSS MiB"];
  console.log(table(head, [...rowsFor("ours", r10.ours, true), ...rowsFor("bare", r10.bare, true)]));
  const ours10 = med(r10.ours, true);
  const bare10 = med(r10.bare, true);
  const ratio10 = ours10 / bare10;
  console.log("");
  console.log(
    table(
      ["median", "lines / CPU-s (per core)", "µs CPU / line", "ours / bare"],
      [
        ["ours", fmtNum(ours10), (1e6 / ours10).toFixed(3), `${(ratio10 * 100).toFixed(1)} %`],
        ["bare", fmtNum(bare10), (1e6 / bare10).toFixed(3), ""],
      ],
    ),
  );
  console.log("");

  console.log(`### ${s1.title} (${runtime}, ${fmtNum(s1.datagrams)} datagrams at ${fmtNum(rate)}/s, ${s1.reps} runs each, order AB BA AB…)`);
  const head1 = ["run", "datagrams sent", "lines received", "loss", "CPU s", "CPU % (of send time)", "datagrams / CPU-s", "µs CPU / datagram", "RSS MiB"];
  console.log(table(head1, [...rowsFor("ours", r1.ours, false), ...rowsFor("bare", r1.bare, false)]));
  const ours1 = med(r1.ours, false);
  const bare1 = med(r1.bare, false);
  console.log("");
  console.log(
    table(
      ["median", "datagrams / CPU-s (per core)", "µs CPU / datagram", "ours / bare"],
      [
        ["ours", fmtNum(ours1), (1e6 / ours1).toFixed(2), `${((ours1 / bare1) * 100).toFixed(1)} %`],
        ["bare", fmtNum(bare1), (1e6 / bare1).toFixed(2), ""],
      ],
    ),
  );
  console.log("");

  const js10 = jsOnly(10);
  const js1 = jsOnly(1);
  console.log(`### Without the socket (same handlers in one Bun process, ns per datagram, median of 6 rounds; informational)`);
  console.log(
    table(
      ["datagram", "ours ns", "bare ns", "ours − bare ns", "bare / ours"],
      [
        ["10 lines", js10.ours.toFixed(0), js10.bare.toFixed(0), (js10.ours - js10.bare).toFixed(0), `${((js10.bare / js10.ours) * 100).toFixed(1)} %`],
        ["1 line", js1.ours.toFixed(0), js1.bare.toFixed(0), (js1.ours - js1.bare).toFixed(0), `${((js1.bare / js1.ours) * 100).toFixed(1)} %`],
      ],
    ),
  );
  console.log(
    `End to end, both receivers also pay the runtime's receive cost, ≈ ${(1e6 / bare1 - js1.bare / 1000).toFixed(1)} µs per datagram at this rate ` +
      `(bare 1-line end to end minus bare 1-line without the socket), which dilutes this difference.`,
  );
  console.log("");

  const issues = [...problems([...r10.ours, ...r10.bare], 300), ...problems([...r1.ours, ...r1.bare], 300)];
  if (!js10.ok || !js1.ok) issues.push("without-socket run: ours did not admit all 300 series cleanly, or bare did not see 300 keys");
  if (issues.length > 0) {
    console.log("Checks:");
    for (const i of issues) console.log(`  BAD ${i}`);
  } else {
    console.log("Checks: ok (no kernel loss > 0.1 %, 300 series seen by both, ours accepted every line, 0 rejected, 0 malformed)");
  }
  if (retries.length > 0) console.log(`Repeated runs (kernel loss > ${MAX_LOSS * 100} %): ${retries.join("; ")}`);
  const pass = ratio10 >= GOAL;
  console.log(`Goal: ours ≥ ${GOAL * 100} % of the bare loop's lines per CPU-second (10 lines/datagram): ${(ratio10 * 100).toFixed(1)} % → ${pass ? "PASS" : "FAIL"}`);
  console.log(`1 line/datagram (reported, no goal): ours ${(1e6 / ours1).toFixed(2)} µs vs bare ${(1e6 / bare1).toFixed(2)} µs CPU per datagram (${((ours1 / bare1) * 100).toFixed(1)} %)`);
  console.log(`STATSD: ${pass && issues.length === 0 ? "PASS" : "FAIL"}`);
  if (issues.length > 0) process.exitCode = 1;
}

runIfMain(import.meta.url, main);
