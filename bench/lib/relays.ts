/**
 * The processes of the hub benches, all on 127.0.0.1 with temp dirs: VictoriaMetrics (Debian
 * 1.79, flags as test/support/stores.ts), vmagent (Debian 1.79) relaying to it, the compiled hub
 * (`dist/agent hub --config`), a null remote-write sink (generator ceiling), and /proc sampling
 * of CPU and RSS. Each process's output goes to a log file in the work dir.
 *
 *   AGENT_BIN=/path/agent   another hub build (default dist/agent)
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, resolve } from "node:path";
import { ROOT, freeTcpPort, procCpuSec, sleep } from "./common";
import { Proc } from "./proc";

export { Proc };

export const HUB_BIN = process.env.AGENT_BIN ? resolve(process.env.AGENT_BIN) : join(ROOT, "dist", "agent");
export const VICTORIA_BIN = process.env.VICTORIA_METRICS ?? "/usr/bin/victoria-metrics";
export const VMAGENT_BIN = process.env.VMAGENT ?? "/usr/bin/vmagent";

export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${what}`);
}

export async function waitHttp200(url: string, p: Proc, timeoutMs = 30_000, pollMs = 50): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!p.alive) throw new Error(`${p.name} exited (${p.proc.exitCode ?? p.proc.signalCode}) during start; log: ${p.logFile}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return Date.now();
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${p.name} not ready after ${timeoutMs} ms; log: ${p.logFile}`);
    await sleep(pollMs);
  }
}

/** Prometheus text → Map of `name{labels}` (labels as printed) → value; also `sum(name)` via sumMetric. */
export function parseProm(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

export function sumMetric(samples: { name: string; labels: Record<string, string>; value: number }[], name: string, labels: Record<string, string> = {}): number {
  let n = 0;
  for (const s of samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) n += s.value;
  return n;
}

// ---------------------------------------------------------------------------------------------
// VictoriaMetrics

export class Victoria {
  private constructor(
    readonly p: Proc,
    readonly port: number,
  ) {}

  static async start(dir: string, logFile: string): Promise<Victoria> {
    requireFile(VICTORIA_BIN, "install Debian's victoria-metrics (scripts/setup.sh does)");
    mkdirSync(dir, { recursive: true });
    const port = await freeTcpPort();
    const p = new Proc("victoria-metrics", VICTORIA_BIN, [`-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=ERROR", "-retentionPeriod=100y"], logFile);
    await waitHttp200(`http://127.0.0.1:${port}/health`, p);
    return new Victoria(p, port);
  }

  /**
   * The counting store (counting-store.ts) in VictoriaMetrics' place: same write URL and
   * arrivals counter; it stores nothing (no forceFlush, no export).
   */
  static async startCounting(logFile: string): Promise<Victoria> {
    const port = await freeTcpPort();
    const p = new Proc("counting-store", join(ROOT, "node_modules", "bun", "bin", "bun.exe"), [join(ROOT, "bench", "lib", "counting-store.ts"), "--port", String(port)], logFile);
    await waitHttp200(`http://127.0.0.1:${port}/health`, p);
    return new Victoria(p, port);
  }

  get writeUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v1/write`;
  }

  async metrics() {
    const r = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return parseProm(await r.text());
  }

  /** Rows received over Prometheus remote write (before storage). */
  async rowsInserted(): Promise<number> {
    return sumMetric(await this.metrics(), "vm_rows_inserted_total", { type: "promremotewrite" });
  }

  async forceFlush(): Promise<void> {
    await (await fetch(`http://127.0.0.1:${this.port}/internal/force_flush`, { signal: AbortSignal.timeout(30_000) })).arrayBuffer();
  }

  /** Raw samples of every series matching `match` in [startMs, endMs] (/api/v1/export). */
  async export(match: string, startMs: number, endMs: number): Promise<{ metric: Record<string, string>; values: number[]; timestamps: number[] }[]> {
    const q = new URLSearchParams({ "match[]": match, start: String(startMs / 1000), end: String(endMs / 1000) });
    const r = await fetch(`http://127.0.0.1:${this.port}/api/v1/export?${q}`, { signal: AbortSignal.timeout(60_000) });
    if (r.status !== 200) throw new Error(`export ${match}: HTTP ${r.status}: ${(await r.text()).slice(0, 300)}`);
    const text = await r.text();
    return text
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  }
}

// ---------------------------------------------------------------------------------------------
// vmagent

export class Vmagent {
  private constructor(
    readonly p: Proc,
    readonly port: number,
  ) {}

  static async start(dir: string, upstreamUrl: string, logFile: string): Promise<Vmagent> {
    requireFile(VMAGENT_BIN, "install Debian's vmagent (victoria-metrics package)");
    mkdirSync(dir, { recursive: true });
    const port = await freeTcpPort();
    const p = new Proc(
      "vmagent",
      VMAGENT_BIN,
      [`-remoteWrite.url=${upstreamUrl}`, `-remoteWrite.tmpDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, "-loggerLevel=ERROR"],
      logFile,
    );
    await waitHttp200(`http://127.0.0.1:${port}/health`, p);
    return new Vmagent(p, port);
  }

  get writeUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v1/write`;
  }

  async metrics() {
    const r = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return parseProm(await r.text());
  }

  /** Bytes waiting in its queues (memory + file). */
  async pendingBytes(): Promise<number> {
    return sumMetric(await this.metrics(), "vmagent_remotewrite_pending_data_bytes");
  }
}

// ---------------------------------------------------------------------------------------------
// The hub

export interface HubSetup {
  dataDir: string;
  port: number;
  upstreamUrl: string;
  tenant: string;
  token: string;
  /** Queue shards; absent: the hub's default (one per CPU, 2 to 16). */
  shards?: number;
  maxRequestsPerSec: number;
  /** The upstream's fsync policy; absent: the hub's default (batch). */
  fsync?: "always" | "batch" | "never";
  /** The upstream's least time between fdatasyncs (fsyncIntervalMs); absent: the hub's default. */
  fsyncIntervalMs?: number;
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Extra YAML appended at the top level. */
  extraYaml?: string;
}

/** `--hub-fsync batch|never` from a bench's argv (README "Durability and throughput"); undefined when absent. */
export function hubFsyncArg(argv: readonly string[]): "batch" | "never" | undefined {
  const i = argv.indexOf("--hub-fsync");
  if (i === -1) return undefined;
  const v = argv[i + 1];
  if (v !== "batch" && v !== "never") throw new Error(`--hub-fsync must be batch or never (got ${v})`);
  return v;
}

/** Writes `<dataDir>/hub.yaml` (and the tenant token file); returns the config path. */
export function writeHubConfig(s: HubSetup): string {
  mkdirSync(s.dataDir, { recursive: true });
  const tokenFile = join(s.dataDir, `${s.tenant}.token`);
  writeFileSync(tokenFile, s.token + "\n");
  const file = join(s.dataDir, "hub.yaml");
  writeFileSync(
    file,
    [
      `listen: "127.0.0.1:${s.port}"`,
      `dataDir: ${JSON.stringify(s.dataDir)}`,
      `hubId: bench-hub`,
      `log: { level: ${s.logLevel ?? "info"} }`,
      `upstreams:`,
      `  - name: store`,
      `    url: ${JSON.stringify(s.upstreamUrl)}`,
      ...(s.shards === undefined ? [] : [`    shards: ${s.shards}`]),
      ...(s.fsync === undefined ? [] : [`    fsync: ${s.fsync}`]),
      ...(s.fsyncIntervalMs === undefined ? [] : [`    fsyncIntervalMs: ${s.fsyncIntervalMs}`]),
      `    maxRequestsPerSec: ${s.maxRequestsPerSec}`,
      `tenants:`,
      `  - id: ${s.tenant}`,
      `    tokenFile: ${JSON.stringify(tokenFile)}`,
      s.extraYaml ?? "",
    ].join("\n") + "\n",
  );
  return file;
}

export class HubProc {
  private constructor(
    readonly p: Proc,
    readonly port: number,
  ) {}

  /** Starts `agent hub --config FILE`; resolves at the first 200 from /-/ready. */
  static async start(configFile: string, port: number, logFile: string, readyTimeoutMs = 30_000, pollMs = 20): Promise<{ hub: HubProc; readyAt: number }> {
    requireFile(HUB_BIN, "run 'SKIP_ARM64=1 npm run build'");
    const p = new Proc("hub", HUB_BIN, ["hub", "--config", configFile], logFile);
    const readyAt = await waitHttp200(`http://127.0.0.1:${port}/-/ready`, p, readyTimeoutMs, pollMs);
    return { hub: new HubProc(p, port), readyAt };
  }

  get writeUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v1/write`;
  }

  async metrics() {
    const r = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return parseProm(await r.text());
  }
}

// ---------------------------------------------------------------------------------------------
// Null sink: answers 204 to every POST after reading the body (measures the generator alone).

export async function startNullSink(): Promise<{ url: string; close(): Promise<void>; requests(): number }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      n++;
      res.writeHead(204);
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await freeTcpPort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    requests: () => n,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

// ---------------------------------------------------------------------------------------------
// CPU / RSS over a window

export class CpuWindow {
  private readonly cpu0: number[];
  private readonly t0 = performance.now();
  constructor(private readonly pids: number[]) {
    this.cpu0 = pids.map((p) => procCpuSec(p) ?? 0);
  }
  /** CPU % (100 = one core) of each pid since construction. */
  pct(): number[] {
    const sec = (performance.now() - this.t0) / 1000;
    return this.pids.map((p, i) => (((procCpuSec(p) ?? this.cpu0[i]) - this.cpu0[i]) / sec) * 100);
  }
}
