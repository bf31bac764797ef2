/**
 * Record path: in-process recording cost of a counter add and an exponential-histogram record,
 * 300 series × 3 labels (region/shard_id/queue), ours versus @opentelemetry/sdk-metrics and
 * prom-client, in the same process, with the same label sets and the same values.
 *
 *   node_modules/bun/bin/bun.exe bench/record-path.bench.ts      (or: npm run bench -- --only record-path)
 *
 * The orchestrator runs the measurement twice in fresh child processes: Node 20 on an esbuild
 * bundle of this file, and Bun on this file directly; each child prints one RESULT line.
 *
 * Ours is measured two ways:
 *   (a) record(point)      Aggregator.record() with a Point literal built per call and a shared
 *                          labels object: labels are sorted and the series key is built on every
 *                          call (what the OTLP path does per data point).
 *   (b) tryRecordCached    the StatsD source's raw-key path: a precomputed "name\0tags" string,
 *                          one Map lookup plus the arithmetic (cache primed through
 *                          record(point, now, rawKey) first).
 * Peers: OTel MeterProvider (a View selects EXPONENTIAL_HISTOGRAM for the histogram; a reader is
 * attached so the instruments are live), prom-client Counter.inc / Histogram.observe with labels
 * (prom-client has no exponential histogram: its default explicit buckets).
 *
 * Goal: ours ≥ 10× the OTel SDK's ops/s. Timings are medians of interleaved rounds; only ratios
 * measured in the same process are compared, never absolute numbers. Every peer's recorded data
 * is read back at the end and checked against what was sent (a bench that records nothing fails).
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  BUN,
  NODE,
  bundleForNode,
  fmtNum,
  labelSets,
  latencyValues,
  median,
  requireBun,
  resultOf,
  run,
  runtimeName,
  seriesOrder,
  table,
  type LabelSet,
  runBenchMain,
} from "./lib/common";

const GOAL_RATIO = 10;

// ---------------------------------------------------------------------------------------------
// Worker: runs in the measured runtime.

interface Row {
  op: "counter" | "histogram" | "combined";
  impl: string;
  nsPerOp: number;
  roundsNs: number[];
}

interface WorkerResult {
  runtime: string;
  ops: number;
  rounds: number;
  rows: Row[];
  checks: { impl: string; ok: boolean; detail: string }[];
}

const N = 8192; // data ring (power of two)
const MASK = N - 1;

async function worker(): Promise<void> {
  const quick = process.env.BENCH_QUICK === "1";
  const { Aggregator, OP_ADD, OP_OBSERVE, RECORDED } = await import("../agent/aggregate/aggregator");
  const { createLabelPolicy } = await import("../policy/labels/label-policy");
  const { DEFAULT_LABEL_POLICY } = await import("../policy/labels/config");
  const { createSeriesBudget } = await import("../policy/budget/series-budget");
  const otel = await import("@opentelemetry/sdk-metrics");
  const promMod = await import("prom-client");
  const prom = ((promMod as unknown as { default?: typeof promMod }).default ?? promMod) as typeof promMod;
  type Point = import("../agent/core/points").Point;

  const labels: LabelSet[] = labelSets(300);
  // Separate but equal objects per peer, so no peer benefits from another's hidden classes/caches.
  const attrsOtel = labels.map((l) => ({ ...l }));
  const attrsProm = labels.map((l) => ({ ...l }));
  const labelsOurs = labels.map((l) => ({ ...l }) as Record<string, string>);
  const vals = latencyValues(N);
  const order = seriesOrder(N, labels.length);
  let valsSum = 0;
  for (let i = 0; i < N; i++) valsSum += vals[i];

  const BLOCKS = quick ? 6 : 24;
  const M = N * BLOCKS; // ops per measurement (a multiple of N so totals are checkable)
  const ROUNDS = quick ? 3 : 7;
  const now = Date.now();

  // --- OpenTelemetry SDK
  class LiveReader extends otel.MetricReader {
    protected onForceFlush(): Promise<void> {
      return Promise.resolve();
    }
    protected onShutdown(): Promise<void> {
      return Promise.resolve();
    }
  }
  const reader = new LiveReader();
  const provider = new otel.MeterProvider({
    views: [{ instrumentName: "game.latency", aggregation: { type: otel.AggregationType.EXPONENTIAL_HISTOGRAM } }],
    readers: [reader],
  });
  const meter = provider.getMeter("bench");
  const oc = meter.createCounter("game.requests");
  const oh = meter.createHistogram("game.latency");

  // --- prom-client
  const registry = new prom.Registry();
  const pc = new prom.Counter({ name: "game_requests_total", help: "h", labelNames: ["region", "shard_id", "queue"], registers: [registry] });
  const ph = new prom.Histogram({ name: "game_latency", help: "h", labelNames: ["region", "shard_id", "queue"], registers: [registry] });

  // --- ours: one aggregator per path; budget 1000 because counter + histogram are 600 series.
  const newAgg = () =>
    new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget({ maxSeries: 1000, idleExpiryMs: 3_600_000 }) });
  const aggA = newAgg();
  const aggB = newAgg();
  const keyC = labels.map((l) => `game_requests_total\u0000region:${l.region},shard_id:${l.shard_id},queue:${l.queue}`);
  const keyH = labels.map((l) => `game_latency\u0000region:${l.region},shard_id:${l.shard_id},queue:${l.queue}`);
  for (let s = 0; s < labels.length; s++) {
    const r1 = aggB.record({ name: "game_requests_total", labels: { ...labels[s] }, value: { type: "counter", temporality: "delta", value: 0 } }, now, keyC[s]);
    const r2 = aggB.record({ name: "game_latency", labels: { ...labels[s] }, value: { type: "observe", value: 1, weight: 1 } }, now, keyH[s]);
    if (r1 || r2) throw new Error(`priming rejected: ${JSON.stringify(r1 ?? r2)}`);
  }
  const primeHistCount = labels.length; // one observation of 1 per series through the priming

  // Each loop is written out so every call site stays monomorphic. `bad` counts failures.
  const loops: Record<string, Record<Row["op"], () => number>> = {
    "OTel SDK": {
      counter() {
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          oc.add(vals[j], attrsOtel[order[j]]);
        }
        return 0;
      },
      histogram() {
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          oh.record(vals[j], attrsOtel[order[j]]);
        }
        return 0;
      },
      combined() {
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          const a = attrsOtel[order[j]];
          oc.add(vals[j], a);
          oh.record(vals[j], a);
        }
        return 0;
      },
    },
    "prom-client": {
      counter() {
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          pc.inc(attrsProm[order[j]], vals[j]);
        }
        return 0;
      },
      histogram() {
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          ph.observe(attrsProm[order[j]], vals[j]);
        }
        return 0;
      },
      combined() {
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          const a = attrsProm[order[j]];
          pc.inc(a, vals[j]);
          ph.observe(a, vals[j]);
        }
        return 0;
      },
    },
    "ours (a) record(point)": {
      counter() {
        let bad = 0;
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          const p: Point = { name: "game_requests_total", labels: labelsOurs[order[j]], value: { type: "counter", temporality: "delta", value: vals[j] } };
          if (aggA.record(p, now) !== undefined) bad++;
        }
        return bad;
      },
      histogram() {
        let bad = 0;
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          const p: Point = { name: "game_latency", labels: labelsOurs[order[j]], value: { type: "observe", value: vals[j], weight: 1 } };
          if (aggA.record(p, now) !== undefined) bad++;
        }
        return bad;
      },
      combined() {
        let bad = 0;
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          const l = labelsOurs[order[j]];
          const p1: Point = { name: "game_requests_total", labels: l, value: { type: "counter", temporality: "delta", value: vals[j] } };
          if (aggA.record(p1, now) !== undefined) bad++;
          const p2: Point = { name: "game_latency", labels: l, value: { type: "observe", value: vals[j], weight: 1 } };
          if (aggA.record(p2, now) !== undefined) bad++;
        }
        return bad;
      },
    },
    "ours (b) tryRecordCached(rawKey)": {
      counter() {
        let bad = 0;
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          if (aggB.tryRecordCached(keyC[order[j]], "counter", OP_ADD, vals[j], 1, now) !== RECORDED) bad++;
        }
        return bad;
      },
      histogram() {
        let bad = 0;
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          if (aggB.tryRecordCached(keyH[order[j]], "expo", OP_OBSERVE, vals[j], 1, now) !== RECORDED) bad++;
        }
        return bad;
      },
      combined() {
        let bad = 0;
        for (let i = 0; i < M; i++) {
          const j = i & MASK;
          const s = order[j];
          if (aggB.tryRecordCached(keyC[s], "counter", OP_ADD, vals[j], 1, now) !== RECORDED) bad++;
          if (aggB.tryRecordCached(keyH[s], "expo", OP_OBSERVE, vals[j], 1, now) !== RECORDED) bad++;
        }
        return bad;
      },
    },
  };

  const impls = Object.keys(loops);
  const opsKinds: Row["op"][] = ["counter", "histogram", "combined"];
  const runs: Record<string, { counter: number; histogram: number }> = {};
  const bad: Record<string, number> = {};
  for (const impl of impls) {
    runs[impl] = { counter: 0, histogram: 0 };
    bad[impl] = 0;
  }
  const timed = (impl: string, op: Row["op"]): number => {
    const t0 = process.hrtime.bigint();
    bad[impl] += loops[impl][op]();
    const ns = Number(process.hrtime.bigint() - t0);
    if (op !== "histogram") runs[impl].counter++;
    if (op !== "counter") runs[impl].histogram++;
    return ns / (op === "combined" ? 2 * M : M);
  };

  // Warm-up: every loop twice (JIT tiers up), not recorded.
  for (let w = 0; w < 2; w++) for (const impl of impls) for (const op of opsKinds) timed(impl, op);

  const samples: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no implementation always runs right after the same one.
    for (let k = 0; k < impls.length; k++) {
      const impl = impls[(k + r) % impls.length];
      for (const op of opsKinds) (samples[`${impl}|${op}`] ??= []).push(timed(impl, op));
    }
  }

  const rows: Row[] = [];
  for (const op of opsKinds) {
    for (const impl of impls) {
      const s = samples[`${impl}|${op}`];
      rows.push({ op, impl, nsPerOp: median(s), roundsNs: s.map((x) => Math.round(x * 10) / 10) });
    }
  }

  // --- Read back what each peer recorded.
  const checks: WorkerResult["checks"] = [];
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
  const expect = (impl: string, extraHist = 0) => ({
    counterSum: runs[impl].counter * BLOCKS * valsSum,
    histCount: runs[impl].histogram * M + extraHist,
  });

  {
    const e = expect("OTel SDK");
    const collected = await reader.collect();
    let counterSum = 0;
    let histCount = 0;
    let cSeries = 0;
    let hSeries = 0;
    for (const sm of collected.resourceMetrics.scopeMetrics) {
      for (const m of sm.metrics) {
        for (const dp of m.dataPoints as { value: unknown }[]) {
          if (m.descriptor.name === "game.requests") {
            counterSum += dp.value as number;
            cSeries++;
          } else {
            histCount += (dp.value as { count: number }).count;
            hSeries++;
          }
        }
      }
    }
    const ok = close(counterSum, e.counterSum) && histCount === e.histCount && cSeries === 300 && hSeries === 300;
    checks.push({ impl: "OTel SDK", ok, detail: `counter sum ${counterSum.toFixed(1)}/${e.counterSum.toFixed(1)}, hist count ${histCount}/${e.histCount}, series ${cSeries}+${hSeries}` });
    await provider.shutdown();
  }
  {
    const e = expect("prom-client");
    const json = await registry.getMetricsAsJSON();
    let counterSum = 0;
    let histCount = 0;
    let cSeries = 0;
    let hSeries = 0;
    for (const m of json) {
      for (const v of m.values as { value: number; metricName?: string }[]) {
        if (m.name === "game_requests_total") {
          counterSum += v.value;
          cSeries++;
        } else if (v.metricName === "game_latency_count") {
          histCount += v.value;
          hSeries++;
        }
      }
    }
    const ok = close(counterSum, e.counterSum) && histCount === e.histCount && cSeries === 300 && hSeries === 300;
    checks.push({ impl: "prom-client", ok, detail: `counter sum ${counterSum.toFixed(1)}/${e.counterSum.toFixed(1)}, hist count ${histCount}/${e.histCount}, series ${cSeries}+${hSeries}` });
  }
  for (const [impl, agg, extra] of [
    ["ours (a) record(point)", aggA, 0],
    ["ours (b) tryRecordCached(rawKey)", aggB, primeHistCount],
  ] as const) {
    const e = expect(impl, extra);
    let counterSum = 0;
    let histCount = 0;
    let cSeries = 0;
    let hSeries = 0;
    for (const s of agg.snapshot()) {
      if (s.kind === "counter") {
        counterSum += s.value;
        cSeries++;
      } else if (s.kind === "expo") {
        histCount += s.expo!.count;
        hSeries++;
      }
    }
    const ok = bad[impl] === 0 && close(counterSum, e.counterSum) && histCount === e.histCount && cSeries === 300 && hSeries === 300 && agg.rejections().size === 0;
    checks.push({ impl, ok, detail: `counter sum ${counterSum.toFixed(1)}/${e.counterSum.toFixed(1)}, hist count ${histCount}/${e.histCount}, series ${cSeries}+${hSeries}, failed calls ${bad[impl]}` });
  }

  const result: WorkerResult = { runtime: runtimeName(), ops: M, rounds: ROUNDS, rows, checks };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

const OTEL = "OTel SDK";
const PROM = "prom-client";

function report(r: WorkerResult): { lines: string[]; verdicts: { runtime: string; impl: string; op: string; ratio: number; pass: boolean }[] } {
  const lines: string[] = [];
  const verdicts: { runtime: string; impl: string; op: string; ratio: number; pass: boolean }[] = [];
  lines.push(`### ${r.runtime} — ${fmtNum(r.ops)} ops per measurement, median of ${r.rounds} interleaved rounds`);
  const rows: (string | number)[][] = [];
  for (const op of ["counter", "histogram", "combined"] as const) {
    const get = (impl: string) => r.rows.find((x) => x.op === op && x.impl === impl)!.nsPerOp;
    const otelNs = get(OTEL);
    const promNs = get(PROM);
    for (const row of r.rows.filter((x) => x.op === op)) {
      const vsOtel = otelNs / row.nsPerOp;
      const vsProm = promNs / row.nsPerOp;
      const isOurs = row.impl.startsWith("ours");
      rows.push([
        op === "combined" ? "combined (1 add + 1 record)" : op === "histogram" ? (row.impl === PROM ? "histogram (explicit buckets)" : "histogram (exponential)") : "counter add",
        row.impl,
        row.nsPerOp.toFixed(1),
        fmtNum(1e9 / row.nsPerOp),
        vsOtel.toFixed(2) + "×",
        vsProm.toFixed(2) + "×",
        isOurs ? (vsOtel >= GOAL_RATIO ? "PASS" : "FAIL") : "",
      ]);
      if (isOurs) verdicts.push({ runtime: r.runtime, impl: row.impl, op, ratio: vsOtel, pass: vsOtel >= GOAL_RATIO });
    }
  }
  lines.push(table(["operation", "implementation", "ns/op", "ops/s", "speed vs OTel SDK", "speed vs prom-client", `goal ≥${GOAL_RATIO}× OTel`], rows, ["l", "l", "r", "r", "r", "r", "l"]));
  lines.push("");
  lines.push("Read-back (recorded totals vs what was sent):");
  for (const c of r.checks) lines.push(`  ${c.ok ? "ok  " : "BAD "} ${c.impl}: ${c.detail}`);
  return { lines, verdicts };
}

async function orchestrate(): Promise<void> {
  requireBun();
  const self = fileURLToPath(import.meta.url);
  console.log("== Record path: counter add + exponential-histogram record, 300 series × 3 labels ==");
  console.log("Ours (a) = Aggregator.record(point): Point literal per call, labels sorted + series key built each call (the OTLP path).");
  console.log("Ours (b) = Aggregator.tryRecordCached(rawKey, …): precomputed raw key string, cache primed via record(point, now, rawKey) (the StatsD path).");
  console.log("Peers in the same process: @opentelemetry/sdk-metrics 2.12.0 (View → EXPONENTIAL_HISTOGRAM, reader attached), prom-client (explicit buckets).");
  console.log("");
  const bundle = await bundleForNode(self);
  const env = { BENCH_WORKER: "1" };
  const results: WorkerResult[] = [];
  try {
    results.push(resultOf<WorkerResult>(await run(NODE, [bundle], env), "Node worker"));
  } finally {
    rmSync(dirname(bundle), { recursive: true, force: true });
  }
  results.push(resultOf<WorkerResult>(await run(BUN, [self], env), "Bun worker"));

  const verdicts: ReturnType<typeof report>["verdicts"] = [];
  let checksOk = true;
  for (const r of results) {
    const out = report(r);
    console.log(out.lines.join("\n"));
    console.log("");
    verdicts.push(...out.verdicts);
    checksOk &&= r.checks.every((c) => c.ok);
  }

  console.log(`Goal: ours ≥ ${GOAL_RATIO}× the OTel SDK's ops/s`);
  const summary: (string | number)[][] = [];
  for (const impl of ["ours (a) record(point)", "ours (b) tryRecordCached(rawKey)"]) {
    for (const runtime of results.map((r) => r.runtime)) {
      const v = verdicts.filter((x) => x.impl === impl && x.runtime === runtime);
      const cell = (op: string) => {
        const x = v.find((y) => y.op === op)!;
        return `${x.ratio.toFixed(1)}× ${x.pass ? "PASS" : "FAIL"}`;
      };
      summary.push([impl, runtime, cell("counter"), cell("histogram"), cell("combined")]);
    }
  }
  console.log(table(["path", "runtime", "counter", "histogram", "combined"], summary, ["l", "l", "r", "r", "r"]));
  const passA = verdicts.filter((v) => v.impl.startsWith("ours (a)")).every((v) => v.pass);
  const passB = verdicts.filter((v) => v.impl.startsWith("ours (b)")).every((v) => v.pass);
  console.log(`record(point) path (OTLP-style):      ${passA ? "PASS" : "FAIL"}`);
  console.log(`raw-key path (StatsD-style):          ${passB ? "PASS" : "FAIL"}`);
  console.log(`read-back checks:                     ${checksOk ? "PASS" : "FAIL (a peer did not record what was sent)"}`);
  console.log(`RECORD-PATH: ${passA && passB && checksOk ? "PASS" : "FAIL"}`);
  if (!checksOk) process.exitCode = 1;
}

runBenchMain(worker, orchestrate);
