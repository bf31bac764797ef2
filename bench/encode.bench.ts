/**
 * Encode throughput: Prometheus remote-write request bodies (protobuf + Snappy) per second per
 * core, our encoder versus a straightforward protobufjs + snappyjs encoding of the SAME
 * WriteRequests, in the same process.
 *
 *   node_modules/bun/bin/bun.exe bench/encode.bench.ts      (BENCH_QUICK=1 for a short run)
 *
 * The orchestrator runs the measurement in fresh child processes: Node 20 on an esbuild bundle
 * of this file, and Bun on this file directly; each child prints one RESULT line.
 *
 * Flushes (20 hosts × 300 series = 6,000 series at one timestamp, requests of ≤ 2,000 samples:
 * 3 requests a flush). Every series carries 6 labels (az, host, instance_type, shard_id from the
 * series; cluster, region as identity labels) plus __name__. Every call gets a fresh copy of the
 * flush's label arrays (same strings), as Aggregator.snapshot() hands them out.
 *   mixed        per host 7 counters and 7 gauges × 20 shards, plus one exponential histogram ×
 *                20 shards (ExpoHistogram fed 500 log-uniform latencies 0.05–5,000: scale 3,
 *                ~130 buckets), i.e. 20 native histograms per host. A native histogram counts as
 *                one sample, as in Prometheus' max_samples_per_send.
 *   floats only  the same with the histogram replaced by a gauge (comparable with BASELINES.md).
 *
 * Implementations:
 *   peer           the generated prompb module (protobufjs static code): per flush, build plain
 *                  objects (labels merged with identity and sorted, native histograms as spans +
 *                  deltas), WriteRequest.encode().finish(), snappyjs.compress.
 *   peer, labels cached per series   the same, but each series' label objects are built once
 *                  and kept (by a name + labels content key), as our encoder keeps encoded labels.
 *   ours (steady)  createWriteRequestEncoder reused across flushes, as the sink runs it: label
 *                  sets are encoded once per series and found again by content key.
 *   ours (cold)    a new encoder for every flush: every label set encoded from scratch (the
 *                  first flush after start).
 * Breakdown rows on the peer's exact bytes: protobufjs build+encode alone, snappyjs alone, our
 * Snappy compressor alone.
 *
 * Checks: our uncompressed bytes equal protobufjs' byte for byte; both bodies decompress (with
 * snappyjs) to those bytes; compressed sizes are reported side by side.
 * Goal: ours (steady) ≥ 3× the peer's samples/s on the mixed flush. Each figure is the median
 * of interleaved rounds of process CPU time (process.cpuUsage, all threads); only ratios
 * measured in the same process are compared.
 */
import { fileURLToPath } from "node:url";
import { BUN, NODE, bundleForNode, fmtNum, median, prng, requireBun, resultOf, run, runtimeName, table, runBenchMain } from "./lib/common";

const GOAL_RATIO = 3;
const HOSTS = 20;
const SHARDS = 20;
const MAX_SAMPLES = 2_000;
const TIMESTAMP_MS = 1_764_000_000_000;
const PEER = "peer";
const PEER_CACHED = "peer, labels cached per series";
const OURS = "ours (steady)";

// ---------------------------------------------------------------------------------------------
// Worker: runs in the measured runtime.

interface Row {
  impl: string;
  msPerFlush: number;
  samplesPerSec: number;
  roundsMs: number[];
}

interface ScenarioResult {
  scenario: string;
  samplesPerFlush: number;
  requestsPerFlush: number;
  uncompressedBytes: number;
  compressedOurs: number;
  compressedSnappyjs: number;
  rows: Row[];
  checks: { name: string; ok: boolean; detail: string }[];
}

interface WorkerResult {
  runtime: string;
  rounds: number;
  scenarios: ScenarioResult[];
}

async function worker(): Promise<void> {
  const quick = process.env.BENCH_QUICK === "1";
  const { createWriteRequestEncoder } = await import("../agent/sinks/remote-write/write-request-encoder");
  const { toNativeHistogram, toDeltas } = await import("../agent/sinks/remote-write/native-histogram");
  const { SnappyCompressor } = await import("../agent/codec/snappy-compress");
  const { ExpoHistogram } = await import("../agent/aggregate/expo-histogram");
  const { prometheus } = await import("../agent/sinks/remote-write/prompb/prompb.js");
  const snappyMod = await import("snappyjs");
  const snappy = ((snappyMod as unknown as { default?: typeof snappyMod }).default ?? snappyMod) as typeof snappyMod;
  type SeriesSnapshot = import("../agent/aggregate/aggregator").SeriesSnapshot;
  type TimeSeriesShape = import("../agent/sinks/remote-write/prompb/prompb.js").prometheus.TimeSeries.$Properties;
  type LabelShape = { name: string; value: string };

  const ROUNDS = quick ? 3 : 9;
  const FLUSHES = quick ? 4 : 12;
  const identity: [string, string][] = [
    ["cluster", "prod-eu-1"],
    ["region", "eu-west-1"],
  ];

  function buildFlush(withHistograms: boolean): SeriesSnapshot[] {
    const random = prng(20261122);
    const flush: SeriesSnapshot[] = [];
    const counterNames = ["game_matches_started_total", "game_matches_finished_total", "game_player_joins_total", "game_player_leaves_total", "game_ticks_total", "game_packets_received_total", "game_packets_sent_total"];
    const gaugeNames = ["game_players_connected", "game_tick_rate_hz", "game_memory_heap_bytes", "game_entities_active", "game_cpu_utilisation_ratio", "game_queue_depth", "game_net_rtt_ms"];
    for (let h = 0; h < HOSTS; h++) {
      const host = `gs-${String(h).padStart(4, "0")}.eu-west-1.internal`;
      const az = `eu-west-1${"abc"[h % 3]}`;
      const instanceType = h % 2 === 0 ? "c7g.2xlarge" : "c6i.2xlarge";
      for (let shard = 0; shard < SHARDS; shard++) {
        const labels: [string, string][] = [
          ["az", az],
          ["host", host],
          ["instance_type", instanceType],
          ["shard_id", String(shard)],
        ];
        for (const name of counterNames) flush.push({ name, labels: labels.slice(), kind: "counter", value: Math.floor(random() * 1e7) });
        for (const name of gaugeNames) flush.push({ name, labels: labels.slice(), kind: "gauge", value: Math.round(random() * 1e6) / 1e3 });
        if (withHistograms) {
          const hist = new ExpoHistogram();
          for (let i = 0; i < 500; i++) hist.record(Math.round(0.05 * Math.pow(1e5, random()) * 1000) / 1000);
          const expo = hist.toData();
          flush.push({ name: "game_tick_duration_ms", labels: labels.slice(), kind: "expo", value: expo.count, expo });
        } else {
          flush.push({ name: "game_tick_duration_ms_avg", labels: labels.slice(), kind: "gauge", value: Math.round(random() * 1e5) / 1e3 });
        }
      }
    }
    return flush;
  }

  // --- Peer: protobufjs objects + encode + snappyjs, batched like ours (≤ MAX_SAMPLES).
  const labelsOf = (s: SeriesSnapshot): LabelShape[] => {
    const merged = new Map<string, string>(identity);
    for (const [k, v] of s.labels) merged.set(k, v);
    merged.set("__name__", s.name);
    return [...merged]
      .filter(([, v]) => v !== "")
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([name, value]) => ({ name, value }));
  };
  // The stronger peer keeps label objects per series across flushes, keyed by content as ours
  // is (Aggregator.snapshot() hands out fresh label arrays every flush).
  const labelCache = new Map<string, LabelShape[]>();
  const cachedLabelsOf = (s: SeriesSnapshot): LabelShape[] => {
    let key = s.name;
    for (const [k, v] of s.labels) key += "\u0000" + k + "\u0001" + v;
    let labels = labelCache.get(key);
    if (labels === undefined) labelCache.set(key, (labels = labelsOf(s)));
    return labels;
  };
  /** What Aggregator.snapshot() does to labels each flush: new pair arrays, same strings. */
  const freshCopy = (flush: SeriesSnapshot[]): SeriesSnapshot[] => flush.map((x) => ({ ...x, labels: x.labels.map(([k, v]) => [k, v] as [string, string]) }));
  const peerBuild = (flush: SeriesSnapshot[], labelsFor: (s: SeriesSnapshot) => LabelShape[]): TimeSeriesShape[][] => {
    const requests: TimeSeriesShape[][] = [];
    let current: TimeSeriesShape[] = [];
    for (const s of flush) {
      const labels = labelsFor(s);
      if (s.kind === "expo") {
        const n = toNativeHistogram(s.expo!)!;
        current.push({
          labels,
          histograms: [
            {
              countInt: n.count,
              sum: n.sum,
              schema: n.schema,
              zeroThreshold: n.zeroThreshold,
              zeroCountInt: n.zeroCount,
              negativeSpans: n.negative.spans,
              negativeDeltas: toDeltas(n.negative.counts),
              positiveSpans: n.positive.spans,
              positiveDeltas: toDeltas(n.positive.counts),
              timestamp: TIMESTAMP_MS,
            },
          ],
        });
      } else {
        current.push({ labels, samples: [{ value: s.value, timestamp: TIMESTAMP_MS }] });
      }
      if (current.length === MAX_SAMPLES) {
        requests.push(current);
        current = [];
      }
    }
    if (current.length > 0) requests.push(current);
    return requests;
  };
  const peerEncode = (requests: TimeSeriesShape[][]): Uint8Array[] => requests.map((timeseries) => prometheus.WriteRequest.encode({ timeseries }).finish());
  const sameBytes = (a: Uint8Array[], b: Uint8Array[]) => a.length === b.length && a.every((x, i) => Buffer.compare(Buffer.from(x), Buffer.from(b[i])) === 0);
  const totalBytes = (xs: Uint8Array[]) => xs.reduce((a, b) => a + b.length, 0);

  function measure(scenario: string, flush: SeriesSnapshot[]): ScenarioResult {
    const options = { histograms: "native" as const, maxSamplesPerRequest: MAX_SAMPLES };
    const steady = createWriteRequestEncoder(options);
    const oursFlush = (series: SeriesSnapshot[], encoder = steady): Uint8Array[] => {
      const r = encoder.encodeFlush(series, identity, TIMESTAMP_MS);
      if (!r.ok || r.value.dropped.length > 0) throw new Error(`encode failed: ${JSON.stringify(r)}`);
      return r.value.requests.map((q) => q.body);
    };
    const peerFlush = (series: SeriesSnapshot[], labelsFor: (s: SeriesSnapshot) => LabelShape[]): Uint8Array[] =>
      peerEncode(peerBuild(series, labelsFor)).map((b) => snappy.compress(b));

    // Checks: same bytes everywhere, valid Snappy.
    const checks: ScenarioResult["checks"] = [];
    const peerRaw = peerEncode(peerBuild(flush, labelsOf));
    checks.push({ name: "both peers encode the same bytes", ok: sameBytes(peerRaw, peerEncode(peerBuild(flush, cachedLabelsOf))), detail: "" });
    const peerBodies = peerRaw.map((b) => snappy.compress(b));
    checks.push({ name: "snappyjs round trip of the peer's bodies", ok: sameBytes(peerBodies.map((b) => snappy.uncompress(b)), peerRaw), detail: "" });
    const oursBodies = oursFlush(freshCopy(flush));
    const oursRaw = oursBodies.map((b) => snappy.uncompress(b));
    checks.push({ name: "our bodies decompress (snappyjs) to protobufjs' bytes", ok: sameBytes(oursRaw, peerRaw), detail: `${oursRaw.length} vs ${peerRaw.length} requests` });
    const decoded = prometheus.WriteRequest.decode(oursRaw[0]);
    checks.push({ name: "reference decoder reads our first request", ok: decoded.timeseries.length === Math.min(MAX_SAMPLES, flush.length), detail: `${decoded.timeseries.length} series` });

    // Timing: interleaved rounds, median ms per flush.
    const ownSnappy = new SnappyCompressor();
    let sink = 0;
    // Each implementation gets a fresh copy of the flush per call, as from Aggregator.snapshot().
    const impls: Record<string, (series: SeriesSnapshot[]) => void> = {
      [PEER]: (series) => {
        sink += peerFlush(series, labelsOf).length;
      },
      [PEER_CACHED]: (series) => {
        sink += peerFlush(series, cachedLabelsOf).length;
      },
      [OURS]: (series) => {
        sink += oursFlush(series).length;
      },
      "ours (cold)": (series) => {
        sink += oursFlush(series, createWriteRequestEncoder(options)).length;
      },
      "peer protobufjs build+encode only": () => {
        sink += peerEncode(peerBuild(flush, labelsOf)).length;
      },
      "snappyjs compress only": () => {
        for (const b of peerRaw) sink += snappy.compress(b).length;
      },
      "our snappy compress only": () => {
        for (const b of peerRaw) sink += ownSnappy.compress(b).length;
      },
    };
    const times: Record<string, number[]> = {};
    for (const name of Object.keys(impls)) {
      times[name] = [];
      for (let i = 0; i < 3; i++) impls[name](freshCopy(flush)); // warm-up
    }
    // CPU time of this process (all threads, so GC helpers count too): steadier than wall time
    // on a shared box, and it is what "per core" means.
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, fn] of Object.entries(impls)) {
        const copies = Array.from({ length: FLUSHES }, () => freshCopy(flush));
        const t0 = cpuMs();
        for (let i = 0; i < FLUSHES; i++) fn(copies[i]);
        times[name].push((cpuMs() - t0) / FLUSHES);
      }
    }
    if (sink === 0) throw new Error("nothing encoded");
    const rows: Row[] = Object.keys(impls).map((impl) => {
      const ms = median(times[impl]);
      return { impl, msPerFlush: ms, samplesPerSec: (flush.length / ms) * 1000, roundsMs: times[impl].map((x) => Math.round(x * 100) / 100) };
    });
    return {
      scenario,
      samplesPerFlush: flush.length,
      requestsPerFlush: oursBodies.length,
      uncompressedBytes: totalBytes(peerRaw),
      compressedOurs: totalBytes(oursBodies),
      compressedSnappyjs: totalBytes(peerBodies),
      rows,
      checks,
    };
  }

  const scenarios = [measure("mixed", buildFlush(true)), measure("floats only", buildFlush(false))];
  // Stale markers must reach the wire as the exact NaN bit pattern in this runtime too (JSC
  // canonicalises NaN payloads of JS numbers, so they are written as raw bytes).
  const stale = createWriteRequestEncoder({ histograms: "native" }).encodeStaleMarkers([{ name: "gone_total", labels: [], kind: "counter" }], identity, TIMESTAMP_MS);
  const staleBody = stale.ok ? Buffer.from(snappy.uncompress(stale.value.requests[0].body)) : Buffer.alloc(0);
  scenarios[0].checks.push({
    name: "stale NaN written as 02 00 00 00 00 00 f0 7f in this runtime",
    ok: staleBody.includes(Buffer.from([0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f])),
    detail: "",
  });
  const result: WorkerResult = { runtime: runtimeName(), rounds: ROUNDS, scenarios };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

function ratioOf(s: ScenarioResult, impl: string, base: string): number {
  const rate = (name: string) => s.rows.find((x) => x.impl === name)!.samplesPerSec;
  return rate(impl) / rate(base);
}

function report(runtime: string, rounds: number, s: ScenarioResult): string[] {
  const lines: string[] = [];
  lines.push(
    `### ${runtime}, ${s.scenario}: ${fmtNum(s.samplesPerFlush)} samples per flush in ${s.requestsPerFlush} requests, ` +
      `${fmtNum(s.uncompressedBytes)} B protobuf → ${fmtNum(s.compressedOurs)} B ours / ${fmtNum(s.compressedSnappyjs)} B snappyjs; median of ${rounds} rounds of CPU time`,
  );
  const rows = s.rows.map((x) => [
    x.impl,
    x.msPerFlush.toFixed(2),
    fmtNum(x.samplesPerSec),
    x.impl.startsWith("ours") || x.impl.startsWith("peer,") || x.impl === PEER ? `${ratioOf(s, x.impl, PEER).toFixed(2)}×` : "",
  ]);
  lines.push(table(["implementation", "CPU ms/flush", "samples/s per core", "vs peer"], rows, ["l", "r", "r", "r"]));
  for (const c of s.checks) lines.push(`  ${c.ok ? "ok  " : "BAD "} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
  return lines;
}

async function orchestrate(): Promise<void> {
  requireBun();
  const self = fileURLToPath(import.meta.url);
  console.log("== Encode throughput: remote-write bodies (protobuf + Snappy), ours vs protobufjs + snappyjs ==");
  console.log(`Flushes: ${HOSTS} hosts × 300 series, 6 labels + __name__, ≤ ${fmtNum(MAX_SAMPLES)} samples per request; "mixed" has 20 native histograms per host.`);
  console.log("");
  const bundle = await bundleForNode(self);
  const env = { BENCH_WORKER: "1" };
  const results: WorkerResult[] = [];
  results.push(resultOf<WorkerResult>(await run(NODE, [bundle], env), "Node worker"));
  results.push(resultOf<WorkerResult>(await run(BUN, [self], env), "Bun worker"));
  let pass = true;
  let checksOk = true;
  const summary: (string | number)[][] = [];
  for (const r of results) {
    for (const s of r.scenarios) {
      console.log(report(r.runtime, r.rounds, s).join("\n"));
      console.log("");
      const ratio = ratioOf(s, OURS, PEER);
      const scenarioChecks = s.checks.every((c) => c.ok);
      checksOk &&= scenarioChecks;
      if (s.scenario === "mixed") pass &&= ratio >= GOAL_RATIO;
      summary.push([
        r.runtime,
        s.scenario,
        `${ratio.toFixed(2)}×`,
        s.scenario === "mixed" ? (ratio >= GOAL_RATIO ? "PASS" : "FAIL") : "",
        `${ratioOf(s, OURS, PEER_CACHED).toFixed(2)}×`,
        scenarioChecks ? "ok" : "BAD",
      ]);
    }
  }
  console.log(
    table(["runtime", "flush", "ours (steady) vs peer", `goal ≥ ${GOAL_RATIO}× (mixed)`, "vs peer with cached labels", "checks"], summary, ["l", "l", "r", "l", "r", "l"]),
  );
  console.log(`ENCODE: ${pass && checksOk ? "PASS" : "FAIL"}`);
  if (!checksOk) process.exitCode = 1;
}

runBenchMain(worker, orchestrate);
