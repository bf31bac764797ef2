/** `agent hub` (run the hub), `agent hub cadence` and `agent hub fleet` (talk to running hubs). */
import { readFileSync } from "node:fs";
import { systemClock } from "../../agent/core/deps";
import { createLogger } from "../../agent/core/log";
import { ok } from "../../agent/core/result";
import { applyHubFlags, defaultHubConfig, parseHubConfig, type HubFlags } from "../config/hub-config";
import { HubRuntime } from "../run/hub-runtime";

export async function runHubCommand(flags: HubFlags): Promise<void> {
  let base = ok(defaultHubConfig());
  if (flags.config) {
    let text: string;
    try {
      text = readFileSync(flags.config, "utf8");
    } catch (e) {
      return exitWith(`cannot read config ${flags.config}: ${(e as Error).message}`);
    }
    const parsed = await parseHubConfig(text, flags.config);
    if (!parsed.ok) return exitWith(`config ${flags.config}: ${parsed.error}`);
    base = parsed;
  }
  const config = applyHubFlags(base.value, flags);
  if (!config.ok) return exitWith(config.error);
  if (config.value.upstreams.length === 0) return exitWith("no upstream: give --upstream URL or upstreams in the config (see 'agent hub --help')");
  if (config.value.tenants.length === 0) return exitWith("no tenant: give --tenant NAME:TOKEN or tenants in the config; the hub refuses unauthenticated writes");
  const log = createLogger(config.value.log.level);
  const runtime = new HubRuntime(config.value, { clock: systemClock, log });
  const started = await runtime.start();
  if (!started.ok) return exitWith(started.error);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("Shutting down.", { signal });
    await runtime.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

function adminToken(file: string | undefined): string {
  if (file) {
    try {
      return readFileSync(file, "utf8").trim();
    } catch (e) {
      return exitWith(`cannot read --admin-token-file ${file}: ${(e as Error).message}`);
    }
  }
  const env = process.env.EDGE_HUB_ADMIN_TOKEN;
  if (env) return env.trim();
  return exitWith("an admin token is needed: --admin-token-file FILE or EDGE_HUB_ADMIN_TOKEN");
}

export async function hubCadenceCommand(
  mode: "steady" | "incident",
  opts: { selector: string; for?: number; hub?: string[]; adminTokenFile?: string },
): Promise<void> {
  if (mode === "steady" && opts.for !== undefined) exitWith("--for only applies to incident mode");
  const token = adminToken(opts.adminTokenFile);
  const hubs = opts.hub?.length ? opts.hub : ["http://127.0.0.1:9201"];
  let failed = 0;
  for (const hub of hubs) {
    try {
      const res = await fetch(new URL("/api/v1/fleet/cadence", hub), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ selector: opts.selector, mode, ...(opts.for ? { ttlSeconds: opts.for } : {}) }),
        signal: AbortSignal.timeout(5000),
      });
      const text = await res.text();
      if (!res.ok) {
        failed++;
        process.stderr.write(`${hub}: refused (${res.status}): ${text.trim()}\n`);
        continue;
      }
      const body = JSON.parse(text) as { mode: string; ttlSeconds: number; matchingAgents: number };
      const tail = body.mode === "incident" ? ` for ${Math.round(body.ttlSeconds / 60)} min` : "";
      process.stdout.write(`${hub}: ${opts.selector} → ${body.mode}${tail}; ${body.matchingAgents} agents seen there match (they switch at their next flush)\n`);
    } catch (e) {
      failed++;
      process.stderr.write(`${hub}: unreachable (${(e as Error).message})\n`);
    }
  }
  if (failed > 0) process.exitCode = 1;
}

export async function hubFleetCommand(opts: { selector?: string; hub: string; adminTokenFile?: string; json?: boolean }): Promise<void> {
  const token = adminToken(opts.adminTokenFile);
  const url = new URL("/api/v1/fleet", opts.hub);
  if (opts.selector) url.searchParams.set("selector", opts.selector);
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  } catch (e) {
    return exitWith(`cannot reach the hub at ${opts.hub}: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) return exitWith(`hub refused (${res.status}): ${text.trim()}`);
  if (opts.json) {
    process.stdout.write(text);
    return;
  }
  const view = JSON.parse(text) as {
    agents: { tenant: string; host: string; labels: Record<string, string>; version: string; configHash: string; cadence: string; series: number; lastSeenAgoSec: number }[];
    rules: { selector: Record<string, string>; untilMs: number }[];
  };
  const rows = [["TENANT", "HOST", "REGION", "VERSION", "CONFIG", "CADENCE", "SERIES", "LAST SEEN"]];
  for (const a of view.agents) {
    rows.push([a.tenant, a.host, a.labels.region ?? "-", a.version || "-", a.configHash || "-", a.cadence || "-", String(a.series), `${a.lastSeenAgoSec}s ago`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()}\n`);
  for (const rule of view.rules) {
    const sel = Object.entries(rule.selector).map(([k, v]) => `${k}=${v}`).join(",") || "*";
    process.stdout.write(`rule: ${sel} → incident for ${Math.round((rule.untilMs - Date.now()) / 60000)} more min\n`);
  }
}

function exitWith(message: string): never {
  process.stderr.write(`agent hub: ${message}\n`);
  process.exit(1);
}
