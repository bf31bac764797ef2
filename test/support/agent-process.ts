/**
 * Runs the compiled `dist/agent` binary for end-to-end tests: free loopback ports, a temporary
 * data dir, helpers to read /metrics and status. A missing binary fails loudly (build first:
 * `npm test` does).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createSocket } from "node:dgram";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const AGENT_BINARY = resolve(process.cwd(), "dist/agent");

export function requireBinary(): string {
  if (!existsSync(AGENT_BINARY)) {
    throw new Error(`compiled agent missing at ${AGENT_BINARY}: run 'npm run build' (npm test does it first)`);
  }
  return AGENT_BINARY;
}

/**
 * Ports handed to the processes under test come from below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range, usually 32768–60999). A port from listen(0) is an
 * ephemeral one: between our probe closing it and the binary binding it, any outgoing connection
 * on the box (a fetch, a forwarder) could be given it, and the binary then failed to start
 * ("Is port … in use?", seen once in CI). Below the range only another listener can take it.
 */
const PORT_RANGE = portRange();

function portRange(): { from: number; to: number } {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {}
  return { from: 10_000, to: Math.max(10_100, ephemeralLow) };
}

/** A port in PORT_RANGE that `probe` could bind just now: random start, then the next ones. */
async function portBelowEphemeral(probe: (port: number) => Promise<boolean>): Promise<number> {
  const { from, to } = PORT_RANGE;
  const start = from + Math.floor(Math.random() * (to - from));
  for (let i = 0; i < to - from; i++) {
    const port = from + ((start - from + i) % (to - from));
    if (await probe(port)) return port;
  }
  throw new Error(`no free loopback port in ${from}–${to - 1}`);
}

/** A TCP port nobody listens on right now, outside the ephemeral range. */
export function freePort(): Promise<number> {
  return portBelowEphemeral(
    (port) =>
      new Promise((done) => {
        const srv = createServer();
        srv.once("error", () => done(false));
        srv.listen(port, "127.0.0.1", () => srv.close(() => done(true)));
      }),
  );
}

/** A UDP port nobody holds right now, outside the ephemeral range. */
export function freeUdpPort(): Promise<number> {
  return portBelowEphemeral(
    (port) =>
      new Promise((done) => {
        const s = createSocket("udp4");
        s.once("error", () => done(false));
        s.bind(port, "127.0.0.1", () => s.close(() => done(true)));
      }),
  );
}

export interface AgentHandle {
  proc: ChildProcess;
  otlpPort: number;
  statsdPort: number;
  adminPort: number;
  dataDir: string;
  configFile: string;
  output(): string;
  admin(path: string, init?: RequestInit): Promise<Response>;
  metricsText(): Promise<string>;
  status(): Promise<any>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface StartOptions {
  /** Extra YAML appended to the generated config. */
  yaml?: string;
  args?: string[];
  dataDir?: string;
  ports?: { otlp: number; statsd: number; admin: number };
  /** Identity labels (default { host: "e2e-host" }). */
  identity?: Record<string, string>;
}

export async function startAgent(opts: StartOptions = {}): Promise<AgentHandle> {
  const bin = requireBinary();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "edge-agent-e2e-"));
  const otlpPort = opts.ports?.otlp ?? (await freePort());
  const statsdPort = opts.ports?.statsd ?? (await freeUdpPort());
  const adminPort = opts.ports?.admin ?? (await freePort());
  const configFile = join(dataDir, "agent.yaml");
  writeFileSync(
    configFile,
    [
      `otlp: { listen: "127.0.0.1:${otlpPort}" }`,
      `statsd: { listen: "127.0.0.1:${statsdPort}" }`,
      `admin: { listen: "127.0.0.1:${adminPort}" }`,
      `dataDir: ${JSON.stringify(dataDir)}`,
      `identity: { labels: ${JSON.stringify(opts.identity ?? { host: "e2e-host" })} }`,
      opts.yaml ?? "",
    ].join("\n"),
  );
  const proc = spawn(bin, ["run", "--config", configFile, ...(opts.args ?? [])], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const base = `http://127.0.0.1:${adminPort}`;
  const handle: AgentHandle = {
    proc,
    otlpPort,
    statsdPort,
    adminPort,
    dataDir,
    configFile,
    output: () => out,
    admin: (path, init) => fetch(base + path, init),
    metricsText: async () => (await fetch(base + "/metrics")).text(),
    status: async () => (await fetch(base + "/api/v1/status")).json(),
    stop(signal = "SIGTERM") {
      return new Promise((res) => {
        if (proc.exitCode !== null) return res(proc.exitCode);
        proc.once("exit", (code) => res(code));
        proc.kill(signal);
      });
    },
    run: (args) => runBinary([...args]),
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode} during start:\n${out}`);
    try {
      const r = await fetch(base + "/-/ready");
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`agent not ready after 15 s:\n${out}`);
    }
    await sleep(50);
  }
  return handle;
}

export function runBinary(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const bin = requireBinary();
  return new Promise((res) => {
    const p = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    p.on("exit", (code) => res({ code, stdout, stderr }));
    p.stdin.end(input ?? "");
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until fn returns a truthy value or the timeout passes. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text 0.0.4 samples (enough for our own output). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm: RegExpExecArray | null;
      while ((lm = re.exec(m[3])) !== null) labels[lm[1]] = lm[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    const v = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value: v });
  }
  return out;
}

/** The single sample matching name and (a subset of) labels; throws when 0 or >1 match. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples match ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

export function writeTempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "edge-agent-"));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
