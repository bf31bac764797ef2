/**
 * `agent`: the single binary. Subcommands:
 *   agent run           the per-host agent
 *   agent cadence MODE  switch the running agent's flush cadence (also: agent --cadence MODE)
 *   agent status        print the running agent's status
 *   agent config check  validate a config file
 *   agent hub           the central hub (remote-write gateway); `agent hub cadence|fleet` talk to one
 *   agent version
 * No top-level await (it breaks `bun build --bytecode`): main() runs the program.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { parseDurationSec } from "./cadence/cadence";
import { VERSION } from "./version";

const DEFAULT_ADMIN = "127.0.0.1:9464";

function buildProgram(): Command {
  const program = new Command("agent")
    .description(
      "edge-agent: telemetry edge agent for game servers.\n" +
        "Receives OTLP/HTTP and StatsD on localhost, enforces the label policy and the per-host series\n" +
        "budget, aggregates counters, gauges and exponential histograms, and flushes every 10 s (5 s in\n" +
        "incident mode).",
    )
    .version(VERSION, "-v, --version", "print the version")
    .addOption(new Option("--cadence <mode>", "switch the running agent's cadence (same as `agent cadence MODE`)").choices(["steady", "incident"]))
    .option("--for <duration>", "with --cadence incident: how long before it reverts (default 30m)", parseDurationArg)
    .option("--admin <addr>", "admin address of the running agent", DEFAULT_ADMIN)
    .enablePositionalOptions()
    .showHelpAfterError("(run 'agent --help' for usage)")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  agent run --config /etc/edge-agent/agent.yaml\n" +
        "  agent --cadence incident --for 45m     # 5 s flushes for 45 minutes on this host\n" +
        "  agent cadence steady                  # back to 10 s now\n" +
        "  agent status\n",
    )
    .action(async (opts: { cadence?: "steady" | "incident"; for?: number; admin: string }) => {
      if (!opts.cadence) {
        program.help();
        return;
      }
      await switchCadence(opts.admin, opts.cadence, opts.for);
    });

  program
    .command("run")
    .description("run the per-host agent (sources → policy/budget → aggregation → flush)")
    .option("-c, --config <file>", "YAML config file; flags below override it")
    .option("--otlp-listen <addr>", "OTLP/HTTP listen address (default 127.0.0.1:4318)")
    .option("--statsd-listen <addr>", "StatsD/DogStatsD UDP listen address (default 127.0.0.1:8125)")
    .option("--admin-listen <addr>", "admin HTTP address: /metrics, /-/ready, /api/v1/status (default 127.0.0.1:9464)")
    .option("--series-budget <n>", "max active series on this host (default 300)", parsePositiveInt)
    .addOption(new Option("--cadence <mode>", "start in this cadence (default steady)").choices(["steady", "incident"]))
    .option("--data-dir <dir>", "where state (and the delivery queue) live (default /var/lib/edge-agent)")
    .option("--remote-write-url <url>", "Prometheus remote-write endpoint (hub, AMP, Prometheus, VictoriaMetrics); repeatable", collect)
    .option("--remote-write-token-file <file>", "bearer token for the remote-write endpoints")
    .addHelpText(
      "after",
      "\nCadence: steady = flush every 10 s, incident = every 5 s; incident reverts to steady after its TTL.\n" +
        "Series: labels outside policy/ allowlist, forbidden labels (player_id, raw_ip, request_id, …) and PII-looking\n" +
        "values are rejected whole and counted in agent_series_rejected_total{reason}; new series beyond the budget\n" +
        "are rejected (reason=\"budget\"); series idle for 5 min free their slot.\n",
    )
    .action(async (opts) => {
      const { runAgentCommand } = await import("./cli/run-command");
      await runAgentCommand(opts);
    });

  program
    .command("cadence")
    .description("switch the running agent on this host between steady (10 s) and incident (5 s) flushes")
    .argument("<mode>", "steady | incident", parseMode)
    .option("--for <duration>", "incident only: time before it reverts to steady, e.g. 30m, 1h (default 30m)", parseDurationArg)
    .option("--admin <addr>", "admin address of the running agent", DEFAULT_ADMIN)
    .action(async (mode: "steady" | "incident", opts: { for?: number; admin: string }) => {
      await switchCadence(opts.admin, mode, opts.for);
    });

  program
    .command("status")
    .description("print the running agent's status: uptime, cadence, series/budget, rejections, last flush, queue")
    .option("--admin <addr>", "admin address of the running agent", DEFAULT_ADMIN)
    .option("--json", "print the raw JSON")
    .action(async (opts: { admin: string; json?: boolean }) => {
      const res = await adminRequest(opts.admin, "/api/v1/status");
      const body = await res.text();
      if (opts.json) {
        process.stdout.write(body);
        return;
      }
      const { renderStatusTable } = await import("./cli/status-table");
      process.stdout.write(renderStatusTable(JSON.parse(body)));
    });

  const hub = program
    .command("hub")
    .description("run the hub: multi-tenant remote-write gateway in front of AMP, Mimir, Prometheus or VictoriaMetrics")
    .option("-c, --config <file>", "YAML hub config (tenants with token files, upstreams, limits); flags below override it")
    .option("--listen <addr>", "address for remote write, OTLP, /metrics and admin (default 0.0.0.0:9201)")
    .option("--upstream <url>", "remote-write URL to forward to; repeatable (first is the default)", collect)
    .option("--tenant <name:token>", "quick start: a tenant and its bearer token, written to the first upstream; repeatable", collect)
    .option("--data-dir <dir>", "disk queues, dedupe window and fleet rules (default /var/lib/edge-hub)")
    .option("--admin-token-file <file>", "token for /api/v1/fleet and the fleet cadence switch")
    .option("--hub-id <id>", "this instance's name in logs, metrics and the freshness probe (default hostname)")
    .enablePositionalOptions()
    .passThroughOptions()
    .addHelpText(
      "after",
      "\nAnswers: 204 stored · 400 malformed or refused by the label policy · 401 bad token · 409 tenant over its\n" +
        "series quota · 413 too large · 429 + Retry-After over samples/s · 503 + Retry-After queue unavailable.\n" +
        "A 2xx is sent only after the data is in the hub's disk queue; retried batches (X-Edge-Agent-Batch-Id) are\n" +
        "written once, across restarts too.\n" +
        "\nExamples:\n" +
        "  agent hub --listen 0.0.0.0:9201 --upstream http://prometheus:9090/api/v1/write --tenant studio:$(cat token)\n" +
        "  agent hub --config /etc/edge-hub/hub.yaml\n" +
        "  agent hub cadence incident --selector region=eu-west-1 --for 30m --hub http://hub-1:9201 --hub http://hub-2:9201\n" +
        "  agent hub fleet --selector region=eu-west-1\n",
    )
    .action(async (opts) => {
      const { runHubCommand } = await import("../hub/cli/hub-command");
      await runHubCommand(opts);
    });

  hub
    .command("cadence")
    .description("switch every agent matching a selector to incident (5 s) or back to steady cadence, through the hub(s)")
    .argument("<mode>", "incident | steady", parseMode)
    .requiredOption("--selector <labels>", "agent identity labels, e.g. region=eu-west-1 or region=eu-west-1,cluster=c7 ('*' = all)")
    .option("--for <duration>", "incident only: time before agents revert (default 30m)", parseDurationArg)
    .option("--hub <url>", "hub base URL; repeatable for every instance behind the load balancer (default http://127.0.0.1:9201)", collect)
    .option("--admin-token-file <file>", "admin token (or EDGE_HUB_ADMIN_TOKEN)")
    .action(async (mode: "steady" | "incident", opts: { selector: string; for?: number; hub?: string[]; adminTokenFile?: string }) => {
      const { hubCadenceCommand } = await import("../hub/cli/hub-command");
      await hubCadenceCommand(mode, opts);
    });

  hub
    .command("fleet")
    .description("list the agents a hub has seen: tenant, host, version, config hash, cadence, series, last seen")
    .option("--selector <labels>", "only agents matching these identity labels")
    .option("--hub <url>", "hub base URL (default http://127.0.0.1:9201)", "http://127.0.0.1:9201")
    .option("--admin-token-file <file>", "admin token (or EDGE_HUB_ADMIN_TOKEN)")
    .option("--json", "print the raw JSON")
    .action(async (opts: { selector?: string; hub: string; adminTokenFile?: string; json?: boolean }) => {
      const { hubFleetCommand } = await import("../hub/cli/hub-command");
      await hubFleetCommand(opts);
    });

  const config = program.command("config").description("work with config files");
  config
    .command("check")
    .description("validate a config file; names the bad field and value")
    .argument("<file>", "YAML config file")
    .action(async (file: string) => {
      const { checkConfigFile } = await import("./cli/run-command");
      const r = await checkConfigFile(file);
      if (!r.ok) {
        process.stderr.write(`${file}: ${r.error}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${file}: OK\n`);
    });

  program
    .command("version")
    .description("print the version")
    .action(() => {
      process.stdout.write(`${VERSION}\n`);
    });

  return program;
}

async function switchCadence(admin: string, mode: "steady" | "incident", ttlSec?: number): Promise<void> {
  if (mode === "steady" && ttlSec !== undefined) fail("--for only applies to incident mode");
  const res = await adminRequest(admin, "/api/v1/cadence", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(ttlSec === undefined ? { mode } : { mode, ttlSeconds: ttlSec }),
  });
  const body = (await res.json()) as { mode: string; intervalSec: number; incidentRemainingSec: number; error?: string };
  if (!res.ok) fail(`agent refused: ${body.error ?? res.status}`);
  const tail = body.mode === "incident" ? `, reverts to steady in ${Math.round(body.incidentRemainingSec / 60)} min` : "";
  process.stdout.write(`cadence: ${body.mode} (flush every ${body.intervalSec} s${tail})\n`);
}

async function adminRequest(admin: string, path: string, init?: RequestInit): Promise<Response> {
  const url = `http://${admin}${path}`;
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  } catch (e) {
    fail(`cannot reach the agent at ${admin} (${(e as Error).message}); is 'agent run' running? Use --admin to point elsewhere.`);
  }
}

function fail(message: string): never {
  process.stderr.write(`agent: ${message}\n`);
  process.exit(1);
}

function parseMode(v: string): "steady" | "incident" {
  if (v !== "steady" && v !== "incident") throw new InvalidArgumentError('must be "steady" or "incident".');
  return v;
}

function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number >= 1.");
  return n;
}

function parseDurationArg(v: string): number {
  const sec = parseDurationSec(v);
  if (sec === undefined || !(sec > 0)) throw new InvalidArgumentError("must be a duration like 90s, 30m or 2h.");
  return sec;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function main(): void {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`agent: ${(e as Error).message}\n`);
      process.exit(1);
    });
}

main();
