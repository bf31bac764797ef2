#!/usr/bin/env node
// Runs the benchmarks in bench/ one after another, each printing its own table and PASS/FAIL.
//
//   npm run bench                          the default set (record-path, statsd, footprint, encode)
//   npm run bench -- --only statsd         one (or a comma-separated list; any bench below)
//   npm run bench -- --quick               shorter runs (smoke test; numbers are noisier)
//   npm run bench -- --hub                 the hub benches (hub-decode, sigv4, hub-relay into
//                                          VictoriaMetrics and into a counting store, hub-chaos)
//   npm run bench -- --chaos               the chaos benches instead (chaos-kill, receiver-outage,
//                                          torn-tail: ~2-3 min each, a real Prometheus 2.42
//                                          started on 127.0.0.1; not in the default set)
//   AGENT_BIN=/path/agent                  the chaos benches run this build instead of dist/agent
//
// Each bench is one command of its own, e.g. `node_modules/bun/bin/bun.exe bench/statsd.bench.ts`;
// the orchestrators run under the pinned Bun and start Node / Bun children as the bench needs.
// Exit code: 1 when a bench crashed or its measurement is not valid (its read-back checks
// failed); goal FAILs are reported in the summary, and make the exit code 1 only with --strict.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", "bun", "bin", "bun.exe");
const BENCHES = [
  { name: "record-path", file: "bench/record-path.bench.ts", verdict: "RECORD-PATH:" },
  { name: "statsd", file: "bench/statsd.bench.ts", verdict: "STATSD:" },
  { name: "footprint", file: "bench/footprint.bench.ts", verdict: "FOOTPRINT:" },
  { name: "encode", file: "bench/encode.bench.ts", verdict: "ENCODE:" },
  { name: "chaos-kill", file: "bench/chaos-kill.bench.ts", verdict: "CHAOS-KILL:", chaos: true },
  { name: "receiver-outage", file: "bench/receiver-outage.bench.ts", verdict: "RECEIVER-OUTAGE:", chaos: true },
  { name: "torn-tail", file: "bench/torn-tail.bench.ts", verdict: "TORN-TAIL:", chaos: true },
  { name: "hub-decode", file: "bench/hub-decode.bench.ts", verdict: "HUB-DECODE:", hub: true },
  { name: "sigv4", file: "bench/sigv4.bench.ts", verdict: "SIGV4:", hub: true },
  { name: "hub-relay", file: "bench/hub-relay.bench.ts", verdict: "HUB-RELAY:", hub: true },
  // The same comparison with a store that is never the bottleneck (VictoriaMetrics is, on 2 cores).
  { name: "hub-relay-counting", file: "bench/hub-relay.bench.ts", args: ["--store", "counting", "--search-max", "2400000"], verdict: "HUB-RELAY:", hub: true },
  // The same with the upstream's fsync policy "never" (acknowledged after write(2), README "Durability and throughput").
  { name: "hub-relay-counting-fsync-never", file: "bench/hub-relay.bench.ts", args: ["--store", "counting", "--search-max", "2400000", "--hub-fsync", "never"], verdict: "HUB-RELAY:", hub: true },
  // The default fsync policy with an fdatasync as soon as the last is done (fsyncIntervalMs 0, the
  // default before it was 4 ms): what the interval buys into VictoriaMetrics and costs a counting store.
  { name: "hub-relay-fsync-interval-0", file: "bench/hub-relay.bench.ts", args: ["--hub-fsync-interval-ms", "0"], verdict: "HUB-RELAY:", hub: true },
  { name: "hub-relay-counting-fsync-interval-0", file: "bench/hub-relay.bench.ts", args: ["--store", "counting", "--search-max", "2400000", "--hub-fsync-interval-ms", "0"], verdict: "HUB-RELAY:", hub: true },
  { name: "hub-chaos", file: "bench/hub-chaos.bench.ts", verdict: "HUB-CHAOS:", hub: true },
  { name: "hub-chaos-fsync-never", file: "bench/hub-chaos.bench.ts", args: ["--hub-fsync", "never"], verdict: "HUB-CHAOS:", hub: true },
];

const args = process.argv.slice(2);
let only;
let quick = false;
let strict = false;
let chaos = false;
let hub = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--only") only = args[++i];
  else if (a.startsWith("--only=")) only = a.slice("--only=".length);
  else if (a === "--quick") quick = true;
  else if (a === "--strict") strict = true;
  else if (a === "--chaos") chaos = true;
  else if (a === "--hub") hub = true;
  else if (a === "-h" || a === "--help") {
    console.log(`usage: node scripts/run-benches.mjs [--only ${BENCHES.map((b) => b.name).join("|")}[,…]] [--chaos] [--quick] [--strict]
  default: ${BENCHES.filter((b) => !b.chaos && !b.hub).map((b) => b.name).join(", ")}
  --hub: ${BENCHES.filter((b) => b.hub).map((b) => b.name).join(", ")} (the hub: decode, SigV4, relay vs vmagent, kill -9)
  --chaos: ${BENCHES.filter((b) => b.chaos).map((b) => b.name).join(", ")} (kill -9 / receiver outage / damaged queue against a real
           Prometheus 2.42 on 127.0.0.1, ~2-3 min each; AGENT_BIN=/path runs another agent build than dist/agent)`);
    process.exit(0);
  } else {
    console.error(`run-benches: unknown argument ${JSON.stringify(a)} (see --help)`);
    process.exit(2);
  }
}
if (only === "") {
  console.error("run-benches: --only needs a bench name");
  process.exit(2);
}
if (chaos && only !== undefined) {
  console.error("run-benches: --chaos and --only do not mix (use --only chaos-kill,torn-tail,…)");
  process.exit(2);
}
const wanted = only === undefined ? BENCHES.filter((b) => Boolean(b.chaos) === chaos && Boolean(b.hub) === hub) : only.split(",").map((n) => BENCHES.find((b) => b.name === n.trim().replace(/\.bench\.ts$/, "")));
if (wanted.some((b) => b === undefined)) {
  console.error(`run-benches: unknown bench in --only ${JSON.stringify(only)}; known: ${BENCHES.map((b) => b.name).join(", ")}`);
  process.exit(2);
}
if (!existsSync(bun)) {
  console.error(`run-benches: the pinned Bun is missing at ${bun}; run npm ci (its postinstall must run)`);
  process.exit(2);
}

function runBench(b) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(bun, [b.file, ...(b.args ?? [])], { cwd: root, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...(quick ? { BENCH_QUICK: "1" } : {}) } });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      process.stdout.write(d);
    });
    p.on("exit", (code, signal) => {
      const line = out.split("\n").reverse().find((l) => l.startsWith(b.verdict));
      resolve({ name: b.name, code: code ?? (signal ? 128 : 1), verdict: line ? line.slice(b.verdict.length).trim() : "no verdict", seconds: (Date.now() - t0) / 1000 });
    });
  });
}

const results = [];
for (const b of wanted) {
  console.log(`\n$ node_modules/bun/bin/bun.exe ${[b.file, ...(b.args ?? [])].join(" ")}${quick ? "   (BENCH_QUICK=1)" : ""}\n`);
  results.push(await runBench(b));
}
console.log("\n== Benchmarks ==");
for (const r of results) console.log(`${r.name.padEnd(16)} ${r.code === 0 ? r.verdict : `ERROR (exit ${r.code}; ${r.verdict})`}   [${r.seconds.toFixed(0)} s]`);
const broken = results.some((r) => r.code !== 0);
const failed = results.some((r) => r.verdict !== "PASS");
process.exitCode = broken || (strict && failed) ? 1 : 0;
