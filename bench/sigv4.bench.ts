/**
 * SigV4 signing cost per upstream request: µs of CPU per signature and signatures/s per core,
 * for our signer (hub/upstream/sigv4.ts: @smithy/signature-v4 with node:crypto SHA-256 through
 * @smithy/hash-node) versus the same signer on @aws-crypto/sha256-js (the pure-JS SHA-256 the
 * AWS SDK uses in browsers), in the same process.
 *
 *   node_modules/bun/bin/bun.exe bench/sigv4.bench.ts      (BENCH_QUICK=1 for a short run)
 *
 * The orchestrator runs the measurement in fresh child processes: Node 20 on an esbuild bundle
 * of this file, and Bun on this file directly; each child prints one RESULT line.
 *
 * Requests: AMP remote-write POSTs as the hub sends them (PRW 1.0 headers, a user-agent, a
 * session token from instance-role credentials), bodies of 0 B, 4 KiB, 32 KiB (a typical
 * snappy-compressed 2,000-sample request), 256 KiB and 1 MiB of fixed pseudo-random bytes. The
 * credentials provider is the cached path (a resolved Result), as between refreshes. Every
 * signature is checked against the first implementation's for the same request.
 * Goal: ours ≥ 1,000 signatures/s on one core at every size up to 256 KiB (the hub's budget of
 * ~1,000 upstream requests/s). Figures are medians of interleaved rounds of process CPU time.
 */
import { fileURLToPath } from "node:url";
import { BUN, NODE, bundleForNode, fmtNum, median, prng, requireBun, resultOf, run, runtimeName, table, runBenchMain } from "./lib/common";

const GOAL_SIGNS_PER_SEC = 1_000;
const GOAL_MAX_BODY = 256 * 1024;
const BODY_SIZES = [0, 4 * 1024, 32 * 1024, 256 * 1024, 1024 * 1024];
const OURS = "ours (node:crypto)";
const PEER = "peer (sha256-js)";
const AMP_URL = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-0123abcd-4567-89ef-0123-456789abcdef/api/v1/remote_write";

// ---------------------------------------------------------------------------------------------
// Worker: runs in the measured runtime.

interface Row {
  impl: string;
  bodyBytes: number;
  usPerSign: number;
  signsPerSec: number;
}

interface WorkerResult {
  runtime: string;
  rounds: number;
  rows: Row[];
  checks: { name: string; ok: boolean; detail: string }[];
}

async function worker(): Promise<void> {
  const quick = process.env.BENCH_QUICK === "1";
  const { createSigV4Signer } = await import("../hub/upstream/sigv4");
  const { Sha256 } = await import("@aws-crypto/sha256-js");
  const { fakeClock } = await import("../agent/core/deps");
  const { ok } = await import("../agent/core/result");
  type SignRequest = import("../hub/upstream/sigv4").SignRequest;
  type Sha256Constructor = import("../hub/upstream/sigv4").Sha256Constructor;

  const ROUNDS = quick ? 3 : 9;
  const credentials = ok({ accessKeyId: "ASIAEXAMPLEEXAMPLE12", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE".repeat(40), source: "imds" as const });
  const config = { region: "eu-west-1", credentials: async () => credentials };
  const clock = fakeClock(Date.parse("2026-03-01T10:00:00Z"));
  const impls: Record<string, SignRequest> = {
    [OURS]: createSigV4Signer(config, { clock }),
    [PEER]: createSigV4Signer(config, { clock, sha256: Sha256 as unknown as Sha256Constructor }),
  };
  const headers = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "edge-hub/0.1.0",
  };
  const cpuUs = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };

  // Warm-up: let the JIT settle on both signers before the first measured size.
  const warmBody = new Uint8Array(4096);
  for (const sign of Object.values(impls)) for (let i = 0; i < (quick ? 500 : 3000); i++) await sign({ url: AMP_URL, method: "POST", headers, body: warmBody });

  const rows: Row[] = [];
  const checks: WorkerResult["checks"] = [];
  for (const bodyBytes of BODY_SIZES) {
    const random = prng(bodyBytes + 1);
    const body = new Uint8Array(bodyBytes);
    for (let i = 0; i < bodyBytes; i++) body[i] = Math.floor(random() * 256);
    const request = { url: AMP_URL, method: "POST", headers, body };
    // Enough signatures per round for ~50 ms of the faster implementation.
    const perRound = Math.max(20, Math.round((quick ? 20_000 : 50_000) / (15 + bodyBytes / 1024)));

    const signatures = new Map<string, string>();
    for (const [name, sign] of Object.entries(impls)) {
      const r = await sign(request);
      if (!r.ok) throw new Error(r.error.message);
      signatures.set(name, r.value.authorization);
    }
    const same = signatures.get(OURS) === signatures.get(PEER);
    checks.push({ name: `${fmtNum(bodyBytes)} B: both sign identically`, ok: same, detail: same ? "" : `${signatures.get(OURS)} vs ${signatures.get(PEER)}` });

    const times: Record<string, number[]> = Object.fromEntries(Object.keys(impls).map((k) => [k, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, sign] of Object.entries(impls)) {
        const t0 = cpuUs();
        for (let i = 0; i < perRound; i++) {
          const r = await sign(request);
          if (!r.ok) throw new Error(r.error.message);
        }
        times[name].push((cpuUs() - t0) / perRound);
      }
    }
    for (const impl of Object.keys(impls)) {
      const us = median(times[impl]);
      rows.push({ impl, bodyBytes, usPerSign: us, signsPerSec: 1e6 / us });
    }
  }
  const result: WorkerResult = { runtime: runtimeName(), rounds: ROUNDS, rows, checks };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

function rowOf(r: WorkerResult, impl: string, bodyBytes: number): Row {
  return r.rows.find((x) => x.impl === impl && x.bodyBytes === bodyBytes)!;
}

async function orchestrate(): Promise<void> {
  requireBun();
  const self = fileURLToPath(import.meta.url);
  console.log("== SigV4 signing: AMP remote-write requests, ours (node:crypto) vs @aws-crypto/sha256-js ==");
  console.log(`Goal: ours ≥ ${fmtNum(GOAL_SIGNS_PER_SEC)} signatures/s on one core for bodies up to ${fmtNum(GOAL_MAX_BODY / 1024)} KiB.`);
  console.log("");
  const bundle = await bundleForNode(self);
  const env = { BENCH_WORKER: "1" };
  const results: WorkerResult[] = [];
  results.push(resultOf<WorkerResult>(await run(NODE, [bundle], env), "Node worker"));
  results.push(resultOf<WorkerResult>(await run(BUN, [self], env), "Bun worker"));
  let pass = true;
  let checksOk = true;
  for (const r of results) {
    console.log(`### ${r.runtime}: median of ${r.rounds} rounds of CPU time`);
    const lines = BODY_SIZES.map((size) => {
      const ours = rowOf(r, OURS, size);
      const peer = rowOf(r, PEER, size);
      const meets = size > GOAL_MAX_BODY || ours.signsPerSec >= GOAL_SIGNS_PER_SEC;
      pass &&= meets;
      return [
        `${fmtNum(size / 1024, size < 1024 && size > 0 ? 1 : 0)} KiB`,
        ours.usPerSign.toFixed(1),
        fmtNum(ours.signsPerSec),
        peer.usPerSign.toFixed(1),
        fmtNum(peer.signsPerSec),
        `${(peer.usPerSign / ours.usPerSign).toFixed(2)}×`,
        size > GOAL_MAX_BODY ? "" : meets ? "PASS" : "FAIL",
      ];
    });
    console.log(table(["body", "ours µs/sign", "ours signs/s", "peer µs/sign", "peer signs/s", "ours vs peer", "goal"], lines));
    for (const c of r.checks) {
      checksOk &&= c.ok;
      if (!c.ok) console.log(`  BAD  ${c.name}: ${c.detail}`);
    }
    console.log(`  ${r.checks.every((c) => c.ok) ? "ok  " : "BAD "} both implementations produce the same Authorization at every size`);
    console.log("");
  }
  console.log(`SIGV4: ${pass && checksOk ? "PASS" : "FAIL"}`);
  if (!checksOk) process.exitCode = 1;
}

runBenchMain(worker, orchestrate);
