/** `agent run` and `agent config check`: load config, apply flags, start the runtime. */
import { readFileSync } from "node:fs";
import { AgentRuntime } from "../run/agent-runtime";
import { createAdminServer } from "../admin/admin-server";
import { isListenAddress, parseAgentConfig, defaultAgentConfig, type AgentConfig } from "../config/config";
import { systemClock } from "../core/deps";
import { createLogger } from "../core/log";
import { err, ok, type Result } from "../core/result";

export interface RunFlags {
  config?: string;
  otlpListen?: string;
  statsdListen?: string;
  adminListen?: string;
  seriesBudget?: number;
  cadence?: "steady" | "incident";
  dataDir?: string;
  remoteWriteUrl?: string[];
  remoteWriteTokenFile?: string;
}

export async function loadConfigFile(file: string): Promise<Result<AgentConfig, string>> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return err(`cannot read config file: ${(e as Error).message}`);
  }
  return parseAgentConfig(text, file);
}

export function checkConfigFile(file: string): Promise<Result<AgentConfig, string>> {
  return loadConfigFile(file);
}

/** Flags override the file (or the embedded defaults). */
export function applyFlags(base: AgentConfig, flags: RunFlags): Result<AgentConfig, string> {
  const c: AgentConfig = structuredClone(base);
  for (const [flag, value] of [
    ["--otlp-listen", flags.otlpListen],
    ["--statsd-listen", flags.statsdListen],
    ["--admin-listen", flags.adminListen],
  ] as const) {
    if (value !== undefined && !isListenAddress(value)) return err(`${flag} must be host:port (got ${JSON.stringify(value)})`);
  }
  if (flags.otlpListen) c.otlp.listen = flags.otlpListen;
  if (flags.statsdListen) c.statsd.listen = flags.statsdListen;
  if (flags.adminListen) c.admin.listen = flags.adminListen;
  if (flags.seriesBudget) c.policy.budget.maxSeries = flags.seriesBudget;
  if (flags.cadence) c.cadence.mode = flags.cadence;
  if (flags.dataDir) c.dataDir = flags.dataDir;
  for (const url of flags.remoteWriteUrl ?? []) {
    try {
      new URL(url);
    } catch {
      return err(`--remote-write-url must be a URL (got ${JSON.stringify(url)})`);
    }
    c.remoteWrite.push({ url, name: c.remoteWrite.length === 0 ? "default" : `sink${c.remoteWrite.length}` });
  }
  if (flags.remoteWriteTokenFile) {
    if (c.remoteWrite.length === 0) return err("--remote-write-token-file needs a --remote-write-url (or remoteWrite in the config)");
    for (const target of c.remoteWrite) target.bearerTokenFile ??= flags.remoteWriteTokenFile;
  }
  return ok(c);
}

export async function runAgentCommand(flags: RunFlags): Promise<void> {
  const base = flags.config ? await loadConfigFile(flags.config) : ok(defaultAgentConfig());
  if (!base.ok) return exitWith(`config ${flags.config}: ${base.error}`);
  const config = applyFlags(base.value, flags);
  if (!config.ok) return exitWith(config.error);
  const log = createLogger(config.value.log.level);
  const runtime = new AgentRuntime(config.value, { clock: systemClock, log });
  const admin = createAdminServer(config.value.admin.listen, runtime, log);
  const adminStarted = await admin.start();
  if (!adminStarted.ok) return exitWith(adminStarted.error);
  const started = await runtime.start();
  if (!started.ok) {
    await admin.stop();
    return exitWith(started.error);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("Shutting down.", { signal });
    await runtime.stop();
    await admin.stop();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

function exitWith(message: string): void {
  process.stderr.write(`agent: ${message}\n`);
  process.exit(1);
}
