/**
 * Real remote-write stores for end-to-end tests, started on loopback with temporary data dirs:
 * Prometheus 2.42 (Debian `prometheus`) with the remote-write receiver and native histograms, and
 * VictoriaMetrics (Debian `victoria-metrics`). A missing binary fails loudly (scripts/setup.sh installs them).
 * stop() also removes the data dir.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, sleep } from "./agent-process";

export interface Store {
  proc: ChildProcess;
  port: number;
  writeUrl: string;
  /** Instant query; returns the numeric value of each result series. */
  query(promql: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  stop(): Promise<void>;
}

function requireBinary(path: string, pkg: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: install Debian's ${pkg} (scripts/setup.sh does)`);
}

async function waitReady(url: string, proc: ChildProcess, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${output()}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${what} not ready after 30 s:\n${output()}`);
    await sleep(100);
  }
}

function makeStore(proc: ChildProcess, port: number, writePath: string, dir: string): Store {
  return {
    proc,
    port,
    writeUrl: `http://127.0.0.1:${port}${writePath}`,
    async query(promql) {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const j = (await r.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (j.status !== "success") throw new Error(`query ${promql} failed: ${j.error}`);
      return j.data.result.map((x) => ({ labels: x.metric, value: Number(x.value[1]) }));
    },
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startPrometheus(): Promise<Store> {
  requireBinary("/usr/bin/prometheus", "prometheus");
  const dir = mkdtempSync(join(tmpdir(), "e2e-prometheus-"));
  writeFileSync(join(dir, "prometheus.yml"), "global: { scrape_interval: 1m }\n");
  const port = await freePort();
  const proc = spawn(
    "/usr/bin/prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--web.enable-remote-write-receiver",
      "--enable-feature=native-histograms",
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  await waitReady(`http://127.0.0.1:${port}/-/ready`, proc, "prometheus", () => out);
  return makeStore(proc, port, "/api/v1/write", dir);
}

export async function startVictoriaMetrics(): Promise<Store> {
  requireBinary("/usr/bin/victoria-metrics", "victoria-metrics");
  const dir = mkdtempSync(join(tmpdir(), "e2e-vm-"));
  const port = await freePort();
  const proc = spawn(
    "/usr/bin/victoria-metrics",
    [
      `-storageDataPath=${dir}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      "-search.latencyOffset=0s",
      "-search.disableCache",
      "-loggerLevel=ERROR",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  await waitReady(`http://127.0.0.1:${port}/health`, proc, "victoria-metrics", () => out);
  return makeStore(proc, port, "/api/v1/write", dir);
}
