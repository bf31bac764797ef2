/**
 * Runs the compiled `dist/agent hub` for end-to-end tests: a free loopback port, a temporary
 * data dir, tenants with tokens, an admin token, and helpers to send remote write to it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, requireBinary, sleep } from "./agent-process";

export const ADMIN_TOKEN = "admin-token-0123456789abcdef";

export interface HubHandle {
  proc: ChildProcess;
  port: number;
  url: string;
  dataDir: string;
  output(): string;
  metricsText(): Promise<string>;
  /** Value of one sample line in /metrics, e.g. metric('tenant_samples_ingested_total{tenant="a"}'); 0 when absent. */
  metric(selector: string): Promise<number>;
  admin(path: string, init?: RequestInit): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface HubStartOptions {
  /** Full YAML config; `{{dataDir}}` and `{{port}}` are filled in. When absent, flags are used. */
  yaml?: string;
  upstreams?: string[];
  tenants?: Record<string, string>;
  args?: string[];
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  /** The hub listens with TLS: poll it over https with this client CA/certificate. */
  tls?: { ca: string; cert?: string; key?: string };
  readyUrl?: "http" | "https";
}

export async function startHub(opts: HubStartOptions): Promise<HubHandle> {
  const bin = requireBinary();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "edge-hub-e2e-"));
  const port = opts.port ?? (await freePort());
  const adminFile = join(dataDir, "admin.token");
  writeFileSync(adminFile, ADMIN_TOKEN);
  const args = ["hub", "--listen", `127.0.0.1:${port}`, "--data-dir", dataDir, "--admin-token-file", adminFile, "--hub-id", "e2e-hub"];
  if (opts.yaml !== undefined) {
    const file = join(dataDir, "hub.yaml");
    writeFileSync(file, opts.yaml.replaceAll("{{dataDir}}", dataDir).replaceAll("{{port}}", String(port)));
    args.push("--config", file);
  }
  for (const u of opts.upstreams ?? []) args.push("--upstream", u);
  for (const [name, token] of Object.entries(opts.tenants ?? {})) args.push("--tenant", `${name}:${token}`);
  args.push(...(opts.args ?? []));
  const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
  let get: (u: string, init?: RequestInit) => Promise<Response> = (u, init) => fetch(u, init);
  if (opts.tls) {
    const { Agent, fetch: undiciFetch } = await import("undici");
    const dispatcher = new Agent({ connect: { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key } });
    get = (u, init) => undiciFetch(u, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
  }
  const handle: HubHandle = {
    proc,
    port,
    url,
    dataDir,
    output: () => out,
    metricsText: async () => (await get(`${url}/metrics`)).text(),
    async metric(selector) {
      const want = parseSample(`${selector} 0`);
      const text = await handle.metricsText();
      for (const line of text.split("\n")) {
        if (line.startsWith("#") || line === "") continue;
        const got = parseSample(line);
        if (got.key === want.key) return got.value;
      }
      return 0;
    },
    admin: (path, init) => get(url + path, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init?.headers as Record<string, string>) } }),
    stop(signal = "SIGTERM") {
      return new Promise((res) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return res(proc.exitCode);
        proc.once("exit", (code) => res(code));
        proc.kill(signal);
      });
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`hub exited with ${proc.exitCode} during start:\n${out}`);
    try {
      const r = await get(`${url}/-/ready`);
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`hub not ready after 15 s:\n${out}`);
    }
    await sleep(50);
  }
  return handle;
}

/** `name{b="2",a="1"} 3` → key `name{a="1",b="2"}` (labels sorted) and value 3. */
function parseSample(line: string): { key: string; value: number } {
  const space = line.lastIndexOf(" ");
  const series = line.slice(0, space);
  const brace = series.indexOf("{");
  if (brace < 0) return { key: series, value: Number(line.slice(space + 1)) };
  const labels = series.slice(brace + 1, -1).match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? [];
  return { key: `${series.slice(0, brace)}{${labels.sort().join(",")}}`, value: Number(line.slice(space + 1)) };
}
