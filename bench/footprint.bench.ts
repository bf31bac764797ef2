/**
 * Footprint: CPU and RSS of the compiled agent (dist/agent) at the reference load, beside a bare
 * Bun process and vmagent measured in the same run.
 *
 *   node_modules/bun/bin/bun.exe bench/footprint.bench.ts      (or: npm run bench -- --only footprint)
 *
 * Reference load (driven from this process, 127.0.0.1 only): 10k data points/s over 300 series,
 *   - half OTLP/HTTP protobuf: 5 requests/s of 1,000 points (125 cumulative counter series × 8
 *     points each); the body is encoded once with the generated encoder
 *     (agent/sources/otlp/proto/otlp.js) and the values/timestamps are patched in place per
 *     request, so every counter advances each request;
 *   - half StatsD: 250 datagrams/s of 20 lines over 175 series (mixed c/g/ms, DogStatsD tags).
 * Phases (one agent process): idle 10 s → reference load 10 s warm-up + 60 s sampled → the same
 * 10k points/s with StatsD one line per datagram (5k datagrams/s) 5 s warm-up + 30 s sampled.
 * During the reference phase, in parallel: a bare `bun -e 'setInterval(()=>{},1000)'` (runtime
 * floor) and vmagent scraping 300 static series every 10 s from a local endpoint and
 * remote-writing to a local counting sink (answers 204). During phases 2 and 3 a bare Bun
 * program compiled like the agent (bench/lib/bare-agent.ts: Bun.serve reads the OTLP bodies,
 * node:dgram splits and counts StatsD lines) gets the same traffic: the runtime's own cost of
 * receiving this load, so the agent's share on top of it is visible.
 *
 * CPU = utime+stime from /proc/PID/stat (all threads) over the sampled window, as % of one core;
 * RSS = VmRSS from /proc/PID/status sampled every second. Goals at the reference load: agent
 * ≤ 2 % of a core and ≤ 35 MiB RSS. The agent's own /metrics must show that the load was ingested
 * (points accepted by source moved by exactly what was sent, nothing rejected, 300 series).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { Agent, createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opentelemetry } from "../agent/sources/otlp/proto/otlp.js";
import { BUN, ROOT, fmtNum, freeTcpPort, freeUdpPort, labelSets, mean, procCpuSec, procStatus, requireBun, run, sleep, table, runIfMain } from "./lib/common";
import { buildDatagrams, statsdSeries } from "./lib/statsd-lines.mjs";

const GOAL_CPU_PCT = 2;
const GOAL_RSS_MIB = 35;
const quick = process.env.BENCH_QUICK === "1";
const T = {
  idleSettle: quick ? 2 : 5,
  idle: quick ? 5 : 10,
  refWarm: quick ? 5 : 10,
  ref: quick ? 20 : 60,
  oneWarm: quick ? 3 : 5,
  one: quick ? 10 : 30,
};
const VMAGENT = process.env.VMAGENT ?? "/usr/bin/vmagent";
const AGENT_BIN = join(ROOT, "dist", "agent");

const OTLP_SERIES = 125;
const OTLP_POINTS_PER_SERIES = 8; // 125 × 8 = 1,000 points per request
const OTLP_RPS = 5;
const STATSD_SERIES = 175; // 125 + 175 = 300 = the default series budget
const STATSD_LINES = 20;
const STATSD_DPS = 250;
const ONE_LINE_DPS = 5000;

// ---------------------------------------------------------------------------------------------
// Sampling

interface Sample {
  cpuSec: number;
  rssKiB: number;
  atMs: number;
}

class Sampler {
  readonly samples: Sample[] = [];
  constructor(
    readonly name: string,
    readonly pid: number,
  ) {}
  take(): void {
    const cpu = procCpuSec(this.pid);
    const rss = procStatus(this.pid).VmRSS;
    if (cpu === undefined || rss === undefined) return;
    this.samples.push({ cpuSec: cpu, rssKiB: rss, atMs: performance.now() });
  }
  reset(): void {
    this.samples.length = 0;
  }
  summary(): { cpuPct: number; cpuMaxPct: number; rssMean: number; rssMax: number; n: number } {
    const s = this.samples;
    if (s.length < 2) return { cpuPct: NaN, cpuMaxPct: NaN, rssMean: NaN, rssMax: NaN, n: s.length };
    const first = s[0];
    const last = s[s.length - 1];
    let cpuMax = 0;
    for (let i = 1; i < s.length; i++) cpuMax = Math.max(cpuMax, ((s[i].cpuSec - s[i - 1].cpuSec) / ((s[i].atMs - s[i - 1].atMs) / 1000)) * 100);
    return {
      cpuPct: ((last.cpuSec - first.cpuSec) / ((last.atMs - first.atMs) / 1000)) * 100,
      cpuMaxPct: cpuMax,
      rssMean: mean(s.map((x) => x.rssKiB)) / 1024,
      rssMax: Math.max(...s.map((x) => x.rssKiB)) / 1024,
      n: s.length,
    };
  }
}

/** Samples every second for `seconds`; `samplers` get reset first. */
async function sampleFor(seconds: number, samplers: Sampler[]): Promise<void> {
  for (const s of samplers) {
    s.reset();
    s.take();
  }
  const t0 = performance.now();
  for (let i = 1; i <= seconds; i++) {
    await sleep(Math.max(0, t0 + i * 1000 - performance.now()));
    for (const s of samplers) s.take();
  }
}

/** RSS by mapping from /proc/PID/smaps (KiB), biggest first. */
function rssByMapping(pid: number, binary: string): [string, number][] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return [];
  }
  const groups = new Map<string, number>();
  let current = "";
  for (const line of text.split("\n")) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const name = header[1].trim();
      current = name === "" ? "anonymous (JS heap, malloc arenas, JIT code, stacks)" : name === binary ? `${name} (the binary: runtime + embedded bundle)` : name;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) groups.set(current, (groups.get(current) ?? 0) + Number(rss[1]));
  }
  return [...groups].filter(([, kb]) => kb > 0).sort((a, b) => b[1] - a[1]);
}

// ---------------------------------------------------------------------------------------------
// Agent

interface Metrics {
  get(name: string, labels?: Record<string, string>): number;
  text: string;
}

async function scrape(adminPort: number): Promise<Metrics> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return {
    text,
    get(name, labels = {}) {
      let sum = 0;
      for (const s of samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
      return sum;
    },
  };
}

async function waitReady(adminPort: number, proc: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/-/ready`)).status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`agent not ready after 20 s:\n${output()}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// OTLP: one encoded body, patched per request.

const ExportMetricsServiceRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

export class OtlpLoad {
  private readonly template: Buffer;
  private readonly valueOffsets: Int32Array;
  private readonly timeOffsets: Int32Array;
  private readonly seriesOfPoint: Int32Array;
  private readonly jOfPoint: Int32Array;
  private requestNo = 0;
  readonly pointsPerRequest = OTLP_SERIES * OTLP_POINTS_PER_SERIES;
  sent = 0;
  ok = 0;
  partial = 0;
  failed = 0;
  inFlight = 0;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 2 });

  constructor(private readonly port: number) {
    const startNs = BigInt(Date.now() - 60_000) * 1_000_000n;
    const names = ["srv.requests", "srv.bytes_in", "srv.bytes_out", "srv.errors", "srv.ticks"];
    const sets = labelSets(300).filter((_, i) => i % 12 === 0); // 25 spread-out label sets
    const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });
    const VALUE_SENTINEL = 1e15; // + point index: exact, and never a real value
    const TIME_SENTINEL = 1_000_000_000_000_000_000n;
    const metrics = [];
    let point = 0;
    this.seriesOfPoint = new Int32Array(this.pointsPerRequest);
    this.jOfPoint = new Int32Array(this.pointsPerRequest);
    for (let m = 0; m < names.length; m++) {
      const dataPoints = [];
      for (let l = 0; l < sets.length; l++) {
        const series = m * sets.length + l;
        for (let j = 0; j < OTLP_POINTS_PER_SERIES; j++) {
          this.seriesOfPoint[point] = series;
          this.jOfPoint[point] = j;
          dataPoints.push({
            attributes: [kv("region", sets[l].region), kv("shard_id", sets[l].shard_id), kv("queue", sets[l].queue)],
            startTimeUnixNano: startNs.toString(),
            timeUnixNano: (TIME_SENTINEL + BigInt(point)).toString(),
            asDouble: VALUE_SENTINEL + point,
          });
          point++;
        }
      }
      metrics.push({ name: names[m], unit: "1", sum: { dataPoints, aggregationTemporality: 2, isMonotonic: true } });
    }
    const req = {
      resourceMetrics: [
        {
          resource: { attributes: [kv("service.name", "game-server")] },
          scopeMetrics: [{ scope: { name: "footprint-bench" }, metrics }],
        },
      ],
    };
    this.template = Buffer.from(ExportMetricsServiceRequest.encode(req as never).finish());
    // Locate every point's as_double (field 4, I64: tag 0x21) and time_unix_nano (field 3, tag 0x19).
    this.valueOffsets = new Int32Array(this.pointsPerRequest).fill(-1);
    this.timeOffsets = new Int32Array(this.pointsPerRequest).fill(-1);
    const b = this.template;
    for (let i = 0; i + 9 <= b.length; i++) {
      if (b[i] === 0x21) {
        const idx = b.readDoubleLE(i + 1) - VALUE_SENTINEL;
        if (Number.isInteger(idx) && idx >= 0 && idx < this.pointsPerRequest && this.valueOffsets[idx] === -1) this.valueOffsets[idx] = i + 1;
      } else if (b[i] === 0x19) {
        const idx = b.readBigUInt64LE(i + 1) - TIME_SENTINEL;
        if (idx >= 0n && idx < BigInt(this.pointsPerRequest) && this.timeOffsets[Number(idx)] === -1) this.timeOffsets[Number(idx)] = i + 1;
      }
    }
    if (this.valueOffsets.includes(-1) || this.timeOffsets.includes(-1)) throw new Error("could not locate every data point in the encoded OTLP body");
  }

  get bodyBytes(): number {
    return this.template.length;
  }

  /** One request: every series' 8 points continue its cumulative count. */
  send(): void {
    const r = this.requestNo++;
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const body = Buffer.from(this.template);
    for (let p = 0; p < this.pointsPerRequest; p++) {
      const s = this.seriesOfPoint[p];
      const j = this.jOfPoint[p];
      const k = r * OTLP_POINTS_PER_SERIES + j + 1; // strictly increasing per series
      body.writeDoubleLE(k * (s + 1), this.valueOffsets[p]);
      body.writeBigUInt64LE(nowNs - BigInt((OTLP_POINTS_PER_SERIES - 1 - j) * 25_000_000), this.timeOffsets[p]);
    }
    this.sent++;
    this.inFlight++;
    const req = request(
      { host: "127.0.0.1", port: this.port, path: "/v1/metrics", method: "POST", agent: this.agent, headers: { "content-type": "application/x-protobuf", "content-length": body.length } },
      (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => (n += c.length));
        res.on("end", () => {
          this.inFlight--;
          if (res.statusCode === 200 && n === 0) this.ok++;
          else if (res.statusCode === 200) this.partial++;
          else this.failed++;
        });
      },
    );
    req.on("error", () => {
      this.inFlight--;
      this.failed++;
    });
    req.end(body);
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// StatsD: pre-built datagrams, paced.

export class StatsdLoad {
  private readonly sock = createSocket("udp4");
  private pool: Buffer[] = [];
  private linesPer = 0;
  private next = 0;
  datagrams = 0;
  lines = 0;

  constructor(private readonly port: number) {}

  use(linesPerDatagram: number): void {
    this.pool = buildDatagrams({ series: statsdSeries(STATSD_SERIES), linesPerDatagram, pool: linesPerDatagram === 1 ? STATSD_SERIES * 8 : 512, seed: 5 }).buffers;
    this.linesPer = linesPerDatagram;
  }

  send(n: number): void {
    for (let i = 0; i < n; i++) {
      this.sock.send(this.pool[this.next++ % this.pool.length], this.port, "127.0.0.1");
      this.datagrams++;
      this.lines += this.linesPer;
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** Drives the sources at their rates until stop() (a 10 ms pacing tick, catch-up by elapsed time). */
export function drive(otlps: OtlpLoad[], statsds: StatsdLoad[], statsdPerSec: number): { stop(): Promise<void> } {
  const t0 = performance.now();
  let otlpDue = 0;
  let statsdSent = 0;
  const timer = setInterval(() => {
    const elapsed = (performance.now() - t0) / 1000;
    while (otlpDue <= elapsed * OTLP_RPS) {
      for (const o of otlps) o.send();
      otlpDue++;
    }
    const due = Math.floor(elapsed * statsdPerSec);
    if (due > statsdSent) {
      for (const s of statsds) s.send(due - statsdSent);
      statsdSent = due;
    }
  }, 10);
  return {
    async stop() {
      clearInterval(timer);
      for (let i = 0; i < 100 && otlps.some((o) => o.inFlight > 0); i++) await sleep(50);
      await sleep(500); // let the receivers drain their UDP buffers
    },
  };
}

// ---------------------------------------------------------------------------------------------
// vmagent + its scrape target + remote-write sink

function staticMetricsText(): string {
  const names = ["game_players_online", "game_matches_active", "game_tick_seconds", "game_queue_depth", "game_net_rx_bytes", "game_net_tx_bytes", "game_cpu_ratio", "game_mem_bytes", "game_errors", "game_sessions"];
  const sets = labelSets(300).filter((_, i) => i % 10 === 0); // 30 label sets × 10 names = 300 series
  let out = "";
  for (const n of names) {
    out += `# HELP ${n} bench\n# TYPE ${n} gauge\n`;
    for (const l of sets) out += `${n}{region="${l.region}",shard_id="${l.shard_id}",queue="${l.queue}"} ${(n.length * 7 + l.shard_id.length) * 3}\n`;
  }
  return out;
}

function listen(server: Server): Promise<number> {
  return new Promise((res) => server.listen(0, "127.0.0.1", () => res((server.address() as { port: number }).port)));
}

// ---------------------------------------------------------------------------------------------

function stopChild(p: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  return new Promise((res) => {
    if (!p || p.exitCode !== null || p.signalCode !== null) return res();
    const t = setTimeout(() => {
      p.kill("SIGKILL");
      res();
    }, 5000);
    p.once("exit", () => {
      clearTimeout(t);
      res();
    });
    p.kill(signal);
  });
}

/** Newest .ts under the folders the binary is built from (a stale binary measures old code). */
function newestSource(): { file: string; mtimeMs: number } {
  let newest = { file: "", mtimeMs: 0 };
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js)$/.test(e.name)) {
        const m = statSync(p).mtimeMs;
        if (m > newest.mtimeMs) newest = { file: p, mtimeMs: m };
      }
    }
  };
  for (const d of ["agent", "policy"]) if (existsSync(join(ROOT, d))) walk(join(ROOT, d));
  return newest;
}

async function main(): Promise<void> {
  requireBun();
  const src = newestSource();
  const rebuild = process.env.BENCH_REBUILD === "1";
  if (!existsSync(AGENT_BIN) || rebuild) {
    console.log(`${rebuild ? "BENCH_REBUILD=1" : "dist/agent is missing"}: building it (SKIP_ARM64=1 npm run build) …`);
    const b = await run(process.env.BENCH_NODE ?? "node", ["scripts/build.mjs"], { SKIP_ARM64: "1" });
    if (b.code !== 0 || !existsSync(AGENT_BIN)) throw new Error(`build failed:\n${b.stdout}\n${b.stderr}`);
  }
  if (!existsSync(VMAGENT)) throw new Error(`vmagent missing at ${VMAGENT} (apt-get install victoria-metrics, or set VMAGENT=path)`);
  const children: ChildProcess[] = [];
  const tempDirs: string[] = [];
  const servers: Server[] = [];
  // Whatever happens, bounded: kill what we started and fail after 6 minutes.
  const watchdog = setTimeout(() => {
    console.error("footprint bench: watchdog fired after 6 minutes; stopping.");
    for (const c of children) c.kill("SIGKILL");
    process.exit(1);
  }, 360_000);
  watchdog.unref();

  try {
    const version = (await run(AGENT_BIN, ["version"])).stdout.trim();
    const binMtime = statSync(AGENT_BIN).mtimeMs;
    if (src.mtimeMs > binMtime) {
      console.log(
        `WARNING: dist/agent (${new Date(binMtime).toISOString()}) is older than ${src.file.slice(ROOT.length + 1)} (${new Date(src.mtimeMs).toISOString()}): ` +
          "it measures older code. Rebuild with `SKIP_ARM64=1 npm run build` or run with BENCH_REBUILD=1.",
      );
    }
    const vmVersion = (await run(VMAGENT, ["-version"])).stdout.trim() || "1.79 (Debian victoria-metrics)";
    console.log("== Footprint: compiled agent at the reference load vs bare Bun and vmagent (same run) ==");
    console.log(`agent: ${AGENT_BIN} (${version}, built ${statSync(AGENT_BIN).mtime.toISOString()}); vmagent: ${vmVersion}`);
    console.log(
      `Reference load: ${fmtNum(OTLP_RPS * OTLP_SERIES * OTLP_POINTS_PER_SERIES + STATSD_DPS * STATSD_LINES)} points/s over ${OTLP_SERIES + STATSD_SERIES} series = ` +
        `OTLP ${OTLP_RPS} req/s × ${OTLP_SERIES * OTLP_POINTS_PER_SERIES} points (${OTLP_SERIES} cumulative counters) + StatsD ${STATSD_DPS} datagrams/s × ${STATSD_LINES} lines (${STATSD_SERIES} series).`,
    );

    // --- agent
    const dataDir = mkdtempSync(join(tmpdir(), "edge-footprint-"));
    tempDirs.push(dataDir);
    const [otlpPort, statsdPort, adminPort] = [await freeTcpPort(), await freeUdpPort(), await freeTcpPort()];
    const configFile = join(dataDir, "agent.yaml");
    writeFileSync(
      configFile,
      [
        `otlp: { listen: "127.0.0.1:${otlpPort}" }`,
        `statsd: { listen: "127.0.0.1:${statsdPort}" }`,
        `admin: { listen: "127.0.0.1:${adminPort}" }`,
        `dataDir: ${JSON.stringify(dataDir)}`,
        `identity: { labels: { host: "bench-host" } }`,
      ].join("\n") + "\n",
    );
    let agentOut = "";
    const agent = spawn(AGENT_BIN, ["run", "--config", configFile], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(agent);
    agent.stdout!.on("data", (d) => (agentOut += d));
    agent.stderr!.on("data", (d) => (agentOut += d));
    await waitReady(adminPort, agent, () => agentOut);
    const agentSampler = new Sampler("agent", agent.pid!);

    // --- bare Bun, idle (runtime floor)
    const bunIdle = spawn(BUN, ["-e", "setInterval(()=>{},1000)"], { stdio: "ignore" });
    children.push(bunIdle);
    const bunSampler = new Sampler("bun idle", bunIdle.pid!);

    // --- bare Bun receiving the same traffic (the runtime floor under load)
    // Compiled like the agent (bun build --compile --minify --bytecode), so RSS compares like with like.
    const bareDir = mkdtempSync(join(tmpdir(), "edge-footprint-bare-"));
    tempDirs.push(bareDir);
    const bareBin = join(bareDir, "bare-agent");
    const built = await run(BUN, ["build", "--compile", "--minify", "--bytecode", "--target=bun-linux-x64", join(ROOT, "bench/lib/bare-agent.ts"), "--outfile", bareBin]);
    if (built.code !== 0) throw new Error(`could not compile bench/lib/bare-agent.ts:\n${built.stdout}\n${built.stderr}`);
    const bareAgent = spawn(bareBin, [], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(bareAgent);
    let bareOut = "";
    bareAgent.stderr!.on("data", (d) => (bareOut += d));
    const [bareHttp, bareUdp] = await new Promise<[number, number]>((res, rej) => {
      let buf = "";
      const t = setTimeout(() => rej(new Error(`bare-agent did not start:\n${bareOut}`)), 15_000);
      bareAgent.stdout!.on("data", (d) => {
        buf += d;
        const m = /READY (\d+) (\d+)/.exec(buf);
        if (m) {
          clearTimeout(t);
          res([Number(m[1]), Number(m[2])]);
        }
      });
    });
    const bareSampler = new Sampler("bare bun same traffic", bareAgent.pid!);
    const bareCount = async () =>
      (await (await fetch(`http://127.0.0.1:${bareHttp}/count`)).json()) as { requests: number; bodyBytes: number; datagrams: number; lines: number; keys: number };

    // --- vmagent: target, sink, process
    const metricsText = staticMetricsText();
    let scrapes = 0;
    const target = createServer((req, res) => {
      scrapes++;
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(metricsText);
    });
    servers.push(target);
    const targetPort = await listen(target);
    let sinkRequests = 0;
    let sinkBytes = 0;
    const sink = createServer((req, res) => {
      req.on("data", (c: Buffer) => (sinkBytes += c.length));
      req.on("end", () => {
        sinkRequests++;
        res.writeHead(204);
        res.end();
      });
    });
    servers.push(sink);
    const sinkPort = await listen(sink);
    const vmDir = mkdtempSync(join(tmpdir(), "edge-footprint-vmagent-"));
    tempDirs.push(vmDir);
    const scrapeConfig = join(vmDir, "scrape.yaml");
    writeFileSync(scrapeConfig, `scrape_configs:\n  - job_name: game\n    scrape_interval: 10s\n    static_configs:\n      - targets: ["127.0.0.1:${targetPort}"]\n`);
    const vmHttp = await freeTcpPort();
    let vmOut = "";
    const vmagent = spawn(
      VMAGENT,
      [
        `-promscrape.config=${scrapeConfig}`,
        `-remoteWrite.url=http://127.0.0.1:${sinkPort}/api/v1/write`,
        `-remoteWrite.tmpDataPath=${join(vmDir, "queue")}`,
        `-httpListenAddr=127.0.0.1:${vmHttp}`,
        "-loggerLevel=ERROR",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(vmagent);
    vmagent.stdout!.on("data", (d) => (vmOut += d));
    vmagent.stderr!.on("data", (d) => (vmOut += d));
    const vmSampler = new Sampler("vmagent", vmagent.pid!);

    // --- phase 1: agent idle
    process.stderr.write(`  phase 1: agent idle (${T.idleSettle} s settle + ${T.idle} s sampled)\n`);
    await sleep(T.idleSettle * 1000);
    await sampleFor(T.idle, [agentSampler]);
    const idle = agentSampler.summary();
    const idleStatus = procStatus(agent.pid!);
    const idleMetrics = await scrape(adminPort);
    const idleMapping = rssByMapping(agent.pid!, AGENT_BIN);

    // --- phase 2: reference load
    const otlp = new OtlpLoad(otlpPort);
    const statsd = new StatsdLoad(statsdPort);
    statsd.use(STATSD_LINES);
    const bareOtlp = new OtlpLoad(bareHttp);
    const bareStatsd = new StatsdLoad(bareUdp);
    bareStatsd.use(STATSD_LINES);
    process.stderr.write(`  phase 2: reference load (${T.refWarm} s warm-up + ${T.ref} s sampled; OTLP body ${fmtNum(otlp.bodyBytes)} bytes)\n`);
    const before2 = await scrape(adminPort);
    const s2 = { otlp: otlp.ok, statsdLines: statsd.lines, statsdDatagrams: statsd.datagrams };
    const bare2 = await bareCount();
    const load2 = drive([otlp, bareOtlp], [statsd, bareStatsd], STATSD_DPS);
    await sleep(T.refWarm * 1000);
    const scrapes0 = scrapes;
    const sink0 = { n: sinkRequests, b: sinkBytes };
    await sampleFor(T.ref, [agentSampler, bunSampler, vmSampler, bareSampler]);
    const ref = agentSampler.summary();
    const bareRef = bareSampler.summary();
    const bunIdleSum = bunSampler.summary();
    const vm = vmSampler.summary();
    const refStatus = procStatus(agent.pid!);
    const refMapping = rssByMapping(agent.pid!, AGENT_BIN);
    const bunMapping = rssByMapping(bunIdle.pid!, BUN);
    const bunStatus = procStatus(bunIdle.pid!);
    const bareStatus = procStatus(bareAgent.pid!);
    const bareMapping = rssByMapping(bareAgent.pid!, "");
    const vmScrapes = scrapes - scrapes0;
    const vmSink = { n: sinkRequests - sink0.n, b: sinkBytes - sink0.b };
    await load2.stop();
    const after2 = await scrape(adminPort);
    const bareAfter2 = await bareCount();
    const sent2 = { otlpPoints: (otlp.ok - s2.otlp) * otlp.pointsPerRequest, statsdLines: statsd.lines - s2.statsdLines, statsdDatagrams: statsd.datagrams - s2.statsdDatagrams };
    await stopChild(bunIdle);
    await stopChild(vmagent);

    // --- phase 3: same points/s, StatsD one line per datagram
    statsd.use(1);
    bareStatsd.use(1);
    process.stderr.write(`  phase 3: ${fmtNum(ONE_LINE_DPS)} one-line datagrams/s + OTLP (${T.oneWarm} s warm-up + ${T.one} s sampled)\n`);
    const before3 = after2;
    const s3 = { otlp: otlp.ok, statsdLines: statsd.lines, statsdDatagrams: statsd.datagrams };
    const load3 = drive([otlp, bareOtlp], [statsd, bareStatsd], ONE_LINE_DPS);
    await sleep(T.oneWarm * 1000);
    await sampleFor(T.one, [agentSampler, bareSampler]);
    const one = agentSampler.summary();
    const bareOne = bareSampler.summary();
    await load3.stop();
    const after3 = await scrape(adminPort);
    const bareAfter3 = await bareCount();
    const sent3 = { otlpPoints: (otlp.ok - s3.otlp) * otlp.pointsPerRequest, statsdLines: statsd.lines - s3.statsdLines, statsdDatagrams: statsd.datagrams - s3.statsdDatagrams };
    for (const l of [otlp, statsd, bareOtlp, bareStatsd]) l.close();
    await stopChild(bareAgent);

    // ------------------------------------------------------------------------- report
    const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
    console.log("");
    console.log(
      table(
        ["process", "load", "CPU % of one core (mean)", "CPU % max 1-s", "RSS MiB mean", "RSS MiB max", "samples"],
        [
          ["agent (dist/agent)", "idle", f(idle.cpuPct), f(idle.cpuMaxPct, 1), f(idle.rssMean, 1), f(idle.rssMax, 1), idle.n],
          ["agent (dist/agent)", `reference: ${fmtNum(OTLP_RPS * 1000)} OTLP + ${fmtNum(STATSD_DPS * STATSD_LINES)} StatsD pts/s (${STATSD_LINES} lines/datagram)`, f(ref.cpuPct), f(ref.cpuMaxPct, 1), f(ref.rssMean, 1), f(ref.rssMax, 1), ref.n],
          ["agent (dist/agent)", `same 10k pts/s, StatsD 1 line/datagram (${fmtNum(ONE_LINE_DPS)} datagrams/s)`, f(one.cpuPct), f(one.cpuMaxPct, 1), f(one.rssMean, 1), f(one.rssMax, 1), one.n],
          ["bare Bun, same traffic (compiled)", `reference traffic, Bun.serve reads bodies + node:dgram split/count only`, f(bareRef.cpuPct), f(bareRef.cpuMaxPct, 1), f(bareRef.rssMean, 1), f(bareRef.rssMax, 1), bareRef.n],
          ["bare Bun, same traffic (compiled)", `1 line/datagram traffic (${fmtNum(ONE_LINE_DPS)} datagrams/s + OTLP)`, f(bareOne.cpuPct), f(bareOne.cpuMaxPct, 1), f(bareOne.rssMean, 1), f(bareOne.rssMax, 1), bareOne.n],
          ["bare bun -e 'setInterval(…)'", "idle (runtime floor)", f(bunIdleSum.cpuPct), f(bunIdleSum.cpuMaxPct, 1), f(bunIdleSum.rssMean, 1), f(bunIdleSum.rssMax, 1), bunIdleSum.n],
          ["vmagent 1.79", `scraping 300 series / 10 s, remote-writing (${vmScrapes} scrapes, ${vmSink.n} writes, ${fmtNum(vmSink.b)} B)`, f(vm.cpuPct), f(vm.cpuMaxPct, 1), f(vm.rssMean, 1), f(vm.rssMax, 1), vm.n],
        ],
        ["l", "l", "r", "r", "r", "r", "r"],
      ),
    );
    console.log(`(CPU resolution: 10 ms ticks from /proc/PID/stat; the sampled windows are ${T.idle} s, ${T.ref} s, ${T.one} s.)`);
    console.log("");
    console.log(`Per unit at the reference load: ${f((ref.cpuPct / 100) * 1e6 / 10_000, 1)} µs CPU per data point (all-in, incl. flushes and state writes; idle subtracted: ${f(((ref.cpuPct - idle.cpuPct) / 100) * 1e6 / 10_000, 1)} µs).`);
    console.log(
      `A bare Bun process receiving the same traffic (no decoding, policy or aggregation) uses ${f(bareRef.cpuPct)} % of a core: ` +
        `the agent's own work on top of that floor is ${f(ref.cpuPct - bareRef.cpuPct)} % (${f(one.cpuPct - bareOne.cpuPct)} % at 1 line/datagram).`,
    );
    console.log(
      `1 line/datagram costs ${f(one.cpuPct - ref.cpuPct)} points of a core more than 20 lines/datagram: ≈ ${f((((one.cpuPct - ref.cpuPct) / 100) * 1e6) / (ONE_LINE_DPS - STATSD_DPS), 1)} µs per extra datagram.`,
    );

    // memory
    const heap = (m: Metrics) => m.get("process_heap_bytes") / 1048576;
    const procRss = (m: Metrics) => m.get("process_resident_memory_bytes") / 1048576;
    console.log("");
    console.log("Where the agent's memory goes (MiB):");
    console.log(
      table(
        ["", "VmRSS", "RssAnon", "RssFile", "RssShmem", "JS heap used (process_heap_bytes)", "threads"],
        [
          ["bare bun idle (floor)", f(bunStatus.VmRSS / 1024, 1), f(bunStatus.RssAnon / 1024, 1), f(bunStatus.RssFile / 1024, 1), f(bunStatus.RssShmem / 1024, 1), "", bunStatus.Threads],
          ["bare Bun, same traffic (compiled), end of reference phase", f(bareStatus.VmRSS / 1024, 1), f(bareStatus.RssAnon / 1024, 1), f(bareStatus.RssFile / 1024, 1), f(bareStatus.RssShmem / 1024, 1), "", bareStatus.Threads],
          ["agent idle", f(idleStatus.VmRSS / 1024, 1), f(idleStatus.RssAnon / 1024, 1), f(idleStatus.RssFile / 1024, 1), f(idleStatus.RssShmem / 1024, 1), f(heap(idleMetrics)), idleStatus.Threads],
          ["agent at reference load", f(refStatus.VmRSS / 1024, 1), f(refStatus.RssAnon / 1024, 1), f(refStatus.RssFile / 1024, 1), f(refStatus.RssShmem / 1024, 1), f(heap(after2)), refStatus.Threads],
        ],
        ["l", "r", "r", "r", "r", "r", "r"],
      ),
    );
    console.log("");
    console.log("RSS by mapping (/proc/PID/smaps), agent at reference load vs idle vs the bare Bun processes:");
    const rename = (n: string) => n.replace(BUN, "<bun runtime>").replace(/^.*\/bare-agent$/, "<bare-agent binary>");
    for (const m of [refMapping, idleMapping, bunMapping, bareMapping]) for (const e of m) e[0] = rename(e[0]);
    const names = [...new Set([...refMapping.slice(0, 6), ...bunMapping.slice(0, 4), ...bareMapping.slice(0, 4)].map(([n]) => n))];
    const lookup = (xs: [string, number][], n: string) => {
      const hit = xs.find(([k]) => k === n);
      return hit ? f(hit[1] / 1024, 1) : "-";
    };
    console.log(
      table(
        ["mapping", "agent loaded", "agent idle", "bare bun idle", "bare Bun, same traffic"],
        names.map((n) => [n, lookup(refMapping, n), lookup(idleMapping, n), lookup(bunMapping, n), lookup(bareMapping, n)]),
      ),
    );
    console.log(
      `Bare Bun receiving the same traffic holds ${f(bareRef.rssMean, 1)} MiB (mean): the runtime's floor for this load; the agent holds ${f(ref.rssMean - bareRef.rssMean, 1)} MiB more.`,
    );
    console.log(
      `Agent above the idle bare-Bun floor: ${f(ref.rssMean - bunIdleSum.rssMean, 1)} MiB at load, ${f(idle.rssMean - bunIdleSum.rssMean, 1)} MiB idle; load adds ${f(ref.rssMean - idle.rssMean, 1)} MiB; ` +
        `the agent's own process_resident_memory_bytes says ${f(procRss(after2), 1)} MiB.`,
    );

    // ingestion checks
    const delta = (a: Metrics, b: Metrics, name: string, labels?: Record<string, string>) => b.get(name, labels) - a.get(name, labels);
    const checks: [string, number, number][] = [
      ["phase 2 agent_points_accepted_total{source=otlp}", delta(before2, after2, "agent_points_accepted_total", { source: "otlp" }), sent2.otlpPoints],
      ["phase 2 agent_points_accepted_total{source=statsd}", delta(before2, after2, "agent_points_accepted_total", { source: "statsd" }), sent2.statsdLines],
      ["phase 2 agent_statsd_datagrams_total", delta(before2, after2, "agent_statsd_datagrams_total"), sent2.statsdDatagrams],
      ["phase 3 agent_points_accepted_total{source=otlp}", delta(before3, after3, "agent_points_accepted_total", { source: "otlp" }), sent3.otlpPoints],
      ["phase 3 agent_points_accepted_total{source=statsd}", delta(before3, after3, "agent_points_accepted_total", { source: "statsd" }), sent3.statsdLines],
      ["phase 3 agent_statsd_datagrams_total", delta(before3, after3, "agent_statsd_datagrams_total"), sent3.statsdDatagrams],
      ["agent_points_rejected_total (all sources, end)", after3.get("agent_points_rejected_total"), 0],
      ["agent_series_rejected_total (all reasons, end)", after3.get("agent_series_rejected_total"), 0],
      ["agent_ingest_malformed_total (end)", after3.get("agent_ingest_malformed_total"), 0],
      ["active_series_total (end)", after3.get("active_series_total"), OTLP_SERIES + STATSD_SERIES],
      ["OTLP requests not answered 200 with an empty body", otlp.partial + otlp.failed, 0],
      ["bare Bun peer: OTLP requests received (phases 2+3)", bareAfter3.requests - bare2.requests, bareOtlp.ok],
      ["bare Bun peer: StatsD lines received, phase 2", bareAfter2.lines - bare2.lines, sent2.statsdLines],
      ["bare Bun peer: StatsD lines received, phase 3", bareAfter3.lines - bareAfter2.lines, sent3.statsdLines],
    ];
    // The flushed /metrics must carry the data itself, not just the counters.
    const lastCounter = after3.get("srv_requests_total", { region: "eu-west", shard_id: "1", queue: "ranked" });
    const expectedCounter = otlp.sent * OTLP_POINTS_PER_SERIES; // series 0: value k × 1 at the last point of the last request
    console.log("");
    console.log("Ingestion checks (the agent's /metrics on its admin port vs what was sent):");
    console.log(table(["check", "agent says", "expected", ""], checks.map(([n, got, want]) => [n, fmtNum(got), fmtNum(want), got === want ? "ok" : "BAD"]), ["l", "r", "r", "l"]));
    const flushedOk = lastCounter > 0 && lastCounter <= expectedCounter;
    console.log(
      `flushed series in /metrics: srv_requests_total{region="eu-west",shard_id="1",queue="ranked"} = ${fmtNum(lastCounter)} (last value sent ${fmtNum(expectedCounter)}; /metrics shows the last 10-s flush) → ${flushedOk ? "ok" : "BAD"}`,
    );
    const vmOk = vmScrapes >= Math.floor(T.ref / 10) - 1 && vmSink.n > 0;
    console.log(`vmagent: ${vmScrapes} scrapes of the 300-series target and ${vmSink.n} remote-write requests (${fmtNum(vmSink.b)} bytes) to the sink in the window → ${vmOk ? "ok" : "BAD"}`);
    if (!vmOk) console.log(vmOut.slice(-2000));
    const checksOk = checks.every(([, got, want]) => got === want) && flushedOk && vmOk;

    const cpuPass = ref.cpuPct <= GOAL_CPU_PCT;
    const rssPass = ref.rssMax <= GOAL_RSS_MIB;
    console.log("");
    console.log(`Goal CPU ≤ ${GOAL_CPU_PCT} % of a core at the reference load: ${f(ref.cpuPct)} % → ${cpuPass ? "PASS" : "FAIL"}`);
    console.log(`Goal RSS ≤ ${GOAL_RSS_MIB} MiB at the reference load: mean ${f(ref.rssMean, 1)} MiB, max ${f(ref.rssMax, 1)} MiB → ${rssPass ? "PASS" : "FAIL"}`);
    console.log(`Ingestion checks: ${checksOk ? "PASS" : "FAIL (the load was not fully ingested; the numbers above do not measure the reference load)"}`);
    console.log(`FOOTPRINT: ${cpuPass && rssPass && checksOk ? "PASS" : "FAIL"}`);
    if (!checksOk) process.exitCode = 1;
    await stopChild(agent);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const s of servers) s.close();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
}

runIfMain(import.meta.url, main);
