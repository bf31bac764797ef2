/**
 * Shared by the benches: fixed pseudo-random data, the 300-series label space, table printing,
 * child processes (Bun / Node-on-an-esbuild-bundle) that report one JSON line, /proc readers.
 *
 * Only node: built-ins here, so the file runs under Bun directly and under Node after esbuild.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BUN = join(ROOT, "node_modules", "bun", "bin", "bun.exe");
export const NODE = process.env.BENCH_NODE ?? "node";

// ---------------------------------------------------------------------------------------------
// Data: the same 300 series and the same values for every peer.

/** mulberry32: small, fast, fixed-seed PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"]; // 5
export const SHARDS = ["1", "2", "3", "4", "5", "6"]; // 6
export const QUEUES = ["ranked", "casual", "arena", "coop", "duel", "br-solo", "br-duo", "br-squad", "custom", "training"]; // 10

export interface LabelSet {
  region: string;
  shard_id: string;
  queue: string;
}

/** The 5 × 6 × 10 = 300 label sets, in a fixed order. */
export function labelSets(count = 300): LabelSet[] {
  const out: LabelSet[] = [];
  for (const region of REGIONS) for (const shard_id of SHARDS) for (const queue of QUEUES) out.push({ region, shard_id, queue });
  if (count > out.length) throw new Error(`only ${out.length} label sets`);
  return out.slice(0, count);
}

/** DogStatsD tag text of a label set, in a fixed order (as a client library would send it). */
export function dogTags(l: LabelSet): string {
  return `region:${l.region},shard_id:${l.shard_id},queue:${l.queue}`;
}

/** Latency-like values (log-uniform 0.05 .. 5000), fixed seed. */
export function latencyValues(n: number, seed = 42): Float64Array {
  const r = prng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(0.05 * Math.pow(1e5, r()) * 1000) / 1000;
  return out;
}

/** Series indices 0..series-1 in a fixed pseudo-random order (every series appears). */
export function seriesOrder(n: number, series: number, seed = 7): Int32Array {
  const r = prng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i < series ? i : Math.floor(r() * series);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Output

export function table(headers: string[], rows: (string | number)[][], align?: ("l" | "r")[]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const a = align ?? headers.map((_, i) => (i === 0 ? "l" : "r"));
  const fmt = (r: string[]) =>
    "| " + r.map((c, i) => (a[i] === "l" ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  return [fmt(headers), "|" + widths.map((w, i) => (a[i] === "l" ? ":" + "-".repeat(w + 1) : "-".repeat(w + 1) + ":")).join("|") + "|", ...cells.map(fmt)].join("\n");
}

export function fmtNum(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function runtimeName(): string {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return bun ? `Bun ${bun}` : `Node ${process.versions.node}`;
}

// ---------------------------------------------------------------------------------------------
// Child processes

/**
 * Bundles a .ts entry for Node with esbuild into a temp .mjs (CJS deps need `require`). The temp
 * directory is removed when this process exits.
 */
export async function bundleForNode(entry: string): Promise<string> {
  const esbuild = await import("esbuild");
  const outdir = mkdtempSync(join(tmpdir(), "edge-bench-"));
  process.once("exit", () => rmSync(outdir, { recursive: true, force: true }));
  const outfile = join(outdir, entry.replace(/^.*\//, "").replace(/\.ts$/, ".mjs"));
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "error",
    external: ["esbuild"],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return outfile;
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, collecting output; stderr is also passed through when `echo`. */
export function run(cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<ChildResult> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("error", rej);
    p.on("exit", (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

/** The last line of stdout that starts with `RESULT ` parsed as JSON. */
export function resultOf<T>(r: ChildResult, what: string): T {
  const line = r.stdout.split("\n").reverse().find((l) => l.startsWith("RESULT "));
  if (r.code !== 0 || line === undefined) {
    throw new Error(`${what} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  }
  return JSON.parse(line.slice("RESULT ".length)) as T;
}

export function requireBun(): void {
  if (!existsSync(BUN)) throw new Error(`pinned Bun missing at ${BUN}: run npm ci (its postinstall must run)`);
}

// ---------------------------------------------------------------------------------------------
// Ports

// Below the kernel's ephemeral range, so no outgoing connection takes one between probe and bind
// (test/support/agent-process.ts, where the tests get theirs too).
export { freePort as freeTcpPort, freeUdpPort } from "../../test/support/agent-process";

// ---------------------------------------------------------------------------------------------
// /proc

export const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux x86_64/arm64

/** utime + stime of a process (all threads), in seconds; undefined when it is gone. */
export function procCpuSec(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // after "pid (comm) ": state=0 … utime=11 stime=12
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** A field of /proc/PID/status in KiB (VmRSS, RssAnon, RssFile, RssShmem, VmHWM, Threads). */
export function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
      const m = /^(\w+):\s+(\d+)/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
  } catch {
    // gone
  }
  return out;
}

export function rssMiB(pid: number): number | undefined {
  const kb = procStatus(pid).VmRSS;
  return kb === undefined ? undefined : kb / 1024;
}

/**
 * A bench file is two programs: the orchestrator (prints the table and the verdict) and, with
 * BENCH_WORKER=1, the worker it starts under each runtime. Either failing exits 1.
 */
export function runBenchMain(worker: () => Promise<void>, orchestrate: () => Promise<void>): void {
  (process.env.BENCH_WORKER === "1" ? worker() : orchestrate()).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

/** Runs `main` when this file is the program (not when a test or another bench imports it); a failure exits 1. */
export function runIfMain(moduleUrl: string, main: () => Promise<void>): void {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
