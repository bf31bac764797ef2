/**
 * Shared by the chaos benches (chaos-kill, receiver-outage, torn-tail): the compiled agent as a
 * child that can be killed and restarted on the same ports and data dir, a real Prometheus 2.42
 * that can be killed, paused and restarted on the same TSDB dir, raw-sample read-back, and a
 * summary of the agent's warn/error log lines. Everything listens on 127.0.0.1.
 *
 *   AGENT_BIN=/path/to/agent   run another build of the agent (default: dist/agent)
 *   PROMETHEUS=/path           another Prometheus binary (default: /usr/bin/prometheus, Debian 2.42)
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseMetrics, type Sample } from "../../test/support/agent-process";
import { ROOT, freeTcpPort, freeUdpPort, sleep } from "./common";
import { Proc } from "./proc";

export { parseMetrics, type Sample };

export const AGENT_BIN = process.env.AGENT_BIN ? resolve(process.env.AGENT_BIN) : join(ROOT, "dist", "agent");
export const PROMETHEUS = process.env.PROMETHEUS ?? "/usr/bin/prometheus";

export function requireBinaries(): void {
  if (!existsSync(AGENT_BIN)) throw new Error(`compiled agent missing at ${AGENT_BIN}: run 'SKIP_ARM64=1 npm run build'`);
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} is missing: install Debian's prometheus (scripts/setup.sh does)`);
}

/** `<path> (<agent version output>)`, so a report names the build it measured. */
export function agentDescription(): string {
  let version = "version unknown";
  try {
    version = execFileSync(AGENT_BIN, ["version"], { stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 }).toString().trim().split("\n")[0];
  } catch {
    // reported as unknown
  }
  return `${AGENT_BIN} (${version})`;
}

// ---------------------------------------------------------------------------------------------
// The agent

export interface AgentPorts {
  otlp: number;
  statsd: number;
  admin: number;
}

export async function agentPorts(): Promise<AgentPorts> {
  return { otlp: await freeTcpPort(), statsd: await freeUdpPort(), admin: await freeTcpPort() };
}

/** Writes `<dataDir>/agent.yaml` for these ports plus `yaml`; returns its path. */
export function writeAgentConfig(dataDir: string, ports: AgentPorts, host: string, yaml: string): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, "agent.yaml");
  writeFileSync(
    file,
    [
      `otlp: { listen: "127.0.0.1:${ports.otlp}" }`,
      `statsd: { listen: "127.0.0.1:${ports.statsd}" }`,
      `admin: { listen: "127.0.0.1:${ports.admin}" }`,
      `dataDir: ${JSON.stringify(dataDir)}`,
      `identity: { labels: { host: ${JSON.stringify(host)} } }`,
      yaml,
    ].join("\n") + "\n",
  );
  return file;
}

/** One run of the agent binary; its stdout+stderr go to `logFile` (appended, one file for every run). */
export class AgentRun extends Proc {
  readonly startedAt = Date.now();

  constructor(
    configFile: string,
    readonly ports: AgentPorts,
    logFile: string,
  ) {
    super("agent", AGENT_BIN, ["run", "--config", configFile], logFile);
  }

  /** Resolves at the first 200 from /-/ready; throws when the process exits or the time runs out. */
  async waitReady(timeoutMs = 15_000, pollMs = 20): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive) throw new Error(`agent exited (${this.proc.exitCode ?? this.proc.signalCode}) during start; log: ${this.logFile}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.ports.admin}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.status === 200) return Date.now();
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`agent not ready after ${timeoutMs} ms; log: ${this.logFile}`);
      await sleep(pollMs);
    }
  }

  async metrics(): Promise<Sample[]> {
    const r = await fetch(`http://127.0.0.1:${this.ports.admin}/metrics`, { signal: AbortSignal.timeout(5000) });
    return parseMetrics(await r.text());
  }
}

/** Sum of the samples named `name` whose labels include `labels` (0 when none). */
export function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let n = 0;
  for (const s of samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) n += s.value;
  return n;
}

/** The warn/error lines of an agent log, counted by level and message. */
export function logSummary(text: string): { level: string; msg: string; count: number; example: string }[] {
  const byKey = new Map<string, { level: string; msg: string; count: number; example: string }>();
  for (const line of text.split("\n")) {
    const m = /^ts=\S+ level=(warn|error) msg=("(?:[^"\\]|\\.)*"|\S+)/.exec(line);
    if (!m) continue;
    const msg = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
    const key = m[1] + " " + msg;
    const e = byKey.get(key);
    if (e) e.count++;
    else byKey.set(key, { level: m[1], msg, count: 1, example: line.length > 400 ? line.slice(0, 400) + "…" : line });
  }
  return [...byKey.values()].sort((a, b) => b.count - a.count);
}

// ---------------------------------------------------------------------------------------------
// Prometheus

export interface RawSeries {
  labels: Record<string, string>;
  /** [timestamp ms, value] in time order. */
  samples: [number, number][];
}

/** Prometheus 2.42 with the remote-write receiver, on a fixed port and TSDB dir across restarts. */
export class Prometheus {
  proc: ChildProcess | undefined;
  private out = "";
  readonly writeUrl: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.writeUrl = `http://127.0.0.1:${port}/api/v1/write`;
  }

  static async start(dir: string): Promise<Prometheus> {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "prometheus.yml"), "global: { scrape_interval: 1m }\n");
    const p = new Prometheus(dir, await freeTcpPort());
    await p.launch();
    return p;
  }

  /** Starts the process (again) on the same port and data dir; resolves when /-/ready says 200. */
  async launch(timeoutMs = 60_000): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) throw new Error("prometheus is already running");
    this.out = "";
    const proc = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(this.dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(this.dir, "data")}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        "--web.enable-remote-write-receiver",
        "--enable-feature=native-histograms",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.out += d;
      appendFileSync(join(this.dir, "prometheus.log"), d);
      if (this.out.length > 200_000) this.out = this.out.slice(-100_000);
    };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}:\n${this.out}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.status === 200) return;
      } catch {
        // starting
      }
      if (Date.now() > deadline) throw new Error(`prometheus not ready after ${timeoutMs} ms:\n${this.out}`);
      await sleep(100);
    }
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.proc!.kill(sig);
  }

  /** Sends `sig` and waits for the exit. */
  async kill(sig: NodeJS.Signals = "SIGTERM", graceMs = 30_000): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((res) => proc.once("exit", () => res()));
    proc.kill(sig);
    const t = setTimeout(() => proc.exitCode === null && proc.signalCode === null && proc.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(t);
  }

  /** Prometheus' own log since the last launch (warn and above). */
  log(): string {
    return this.out;
  }

  private async api(path: string): Promise<any> {
    const r = await fetch(`http://127.0.0.1:${this.port}${path}`, { signal: AbortSignal.timeout(30_000) });
    const j = (await r.json()) as { status: string; error?: string; data: any };
    if (j.status !== "success") throw new Error(`prometheus ${path} failed: ${j.error}`);
    return j.data;
  }

  /** Instant query: the value of each result series. */
  async query(promql: string): Promise<{ labels: Record<string, string>; value: number }[]> {
    const data = await this.api(`/api/v1/query?query=${encodeURIComponent(promql)}`);
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((x) => ({ labels: x.metric, value: Number(x.value[1]) }));
  }

  /** Every raw sample of the selector in the last `rangeSec` seconds (a range-vector selector). */
  async raw(selector: string, rangeSec: number): Promise<RawSeries[]> {
    const data = await this.api(`/api/v1/query?query=${encodeURIComponent(`${selector}[${Math.ceil(rangeSec)}s]`)}&time=${Date.now() / 1000 + 1}`);
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((x) => ({
      labels: x.metric,
      samples: x.values.map(([t, v]) => [Math.round(t * 1000), Number(v)] as [number, number]),
    }));
  }

  /** A counter of Prometheus' own /metrics (summed over the matching label sets). */
  async selfMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const r = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(5000) });
    const samples = parseMetrics((await r.text()).split("\n").filter((l) => !/\{.*\\"/.test(l)).join("\n"));
    return sumOf(samples, name, labels);
  }
}

// ---------------------------------------------------------------------------------------------
// Misc

/** A label set as one comparable string (sorted `k=v` pairs), leaving out the `omit` names. */
export function labelKey(labels: Record<string, string>, omit: string[] = []): string {
  return Object.keys(labels)
    .filter((k) => !omit.includes(k))
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

export function pct(a: number, b: number): string {
  return b === 0 ? "–" : `${((100 * a) / b).toFixed(2)} %`;
}
