import { describe, expect, it } from "vitest";
import type { SeriesSnapshot } from "../../../agent/aggregate/aggregator";
import { formatLabels, formatValue, PROM_TEXT_CONTENT_TYPE, renderPrometheusText, type SelfFamily } from "../../../agent/admin/prom-text";
import { buildSelfMetrics } from "../../../agent/run/self-metrics";
import { promtoolCheckMetrics } from "./promtool";
import { goldenChecker } from "../../support/golden";

const GOLDEN_DIR = new URL("./testdata/golden/", import.meta.url);

const expectGolden = goldenChecker(GOLDEN_DIR);

function expectPromtoolClean(text: string): void {
  expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
}

/** One of each kind; given out of name order, labels sorted as the aggregator keeps them. */
const SERIES: SeriesSnapshot[] = [
  { name: "players", labels: [["region", "eu"]], kind: "gauge", value: 42 },
  { name: "game_kills_total", labels: [["region", 'back\\slash "quoted"\nnewline']], kind: "counter", value: 7 },
  { name: "game_kills_total", labels: [["region", "us"]], kind: "counter", value: 1e21 },
  { name: "temperature", labels: [], kind: "gauge", value: -Infinity },
  { name: "load_ratio", labels: [], kind: "gauge", value: Number.NaN },
  {
    // Observations -3, -0.75, 0, 0, 2, 3, 4 at scale 0: negative index -1 and 1, zero bucket 2,
    // positive index 0 ((1,2]) and 1 ((2,4]).
    name: "match_latency_seconds",
    labels: [["az", "b"]],
    kind: "expo",
    value: 7,
    expo: {
      scale: 0,
      zeroThreshold: 0,
      zeroCount: 2,
      count: 7,
      sum: 5.25,
      min: -3,
      max: 4,
      positive: { offset: 0, counts: [1, 2] },
      negative: { offset: -1, counts: [1, 0, 1] },
    },
  },
  {
    name: "payload_bytes",
    labels: [["host", "series-wins"]],
    kind: "explicit",
    value: 6,
    explicit: { bounds: [100, 1000, 10000], counts: [1, 2, 0, 3], count: 6, sum: 40100 },
  },
];

const IDENTITY: [string, string][] = [
  ["host", "gs-eu-001"],
  ["instance", "match-7"],
];

const SELF: SelfFamily[] = [
  { name: "active_series_total", help: "Gauge: active series counted against the per-host series budget.", type: "untyped", samples: [{ labels: [], value: 6 }] },
  {
    name: "agent_series_rejected_total",
    help: "Data points rejected by the label policy or the series budget, by reason.",
    type: "counter",
    samples: [
      { labels: [["reason", "budget"]], value: 3 },
      { labels: [["reason", "forbidden_label"]], value: 1 },
    ],
  },
  { name: "agent_flush_interval_seconds", help: "Current flush interval.\nEscaped \\ help.", type: "gauge", samples: [{ labels: [], value: 10 }] },
];

describe("renderPrometheusText", () => {
  it("renders the golden exposition for a fixed snapshot, identity labels and self families", () => {
    expectGolden("metrics.prom", renderPrometheusText(SERIES, IDENTITY, SELF));
  });

  it("renders the golden exposition without identity labels", () => {
    expectGolden("metrics-no-identity.prom", renderPrometheusText(SERIES, [], []));
  });

  it("passes promtool check metrics with no output", () => {
    expectPromtoolClean(renderPrometheusText(SERIES, IDENTITY, SELF));
  });

  it("passes promtool check metrics with the real self-metrics", () => {
    const self = buildSelfMetrics({
      activeSeries: 6,
      budget: 300,
      rejections: new Map([["budget", 2], ["type_conflict", 1]]),
      malformed: new Map([["statsd\u0000bad_tags", 4], ["otlp\u0000bad_protobuf", 1]]),
      pointsAccepted: { otlp: 10, statsd: 20 },
      pointsRejected: { otlp: 1, statsd: 2 },
      flushes: 3,
      lastFlushMs: 1_700_000_000_000,
      intervalSec: 5,
      incident: true,
      incidentRemainingSec: 1799.5,
      expired: 0,
      statsd: { datagrams: 5, bytes: 500, oversized: 0, invalidUtf8: 0 },
      uptimeSec: 12.5, delivery: [],
    });
    expectPromtoolClean(renderPrometheusText(SERIES, IDENTITY, self));
  });

  it("passes promtool for an empty snapshot and an empty histogram", () => {
    expectPromtoolClean(renderPrometheusText([], IDENTITY, []));
    const empty: SeriesSnapshot = {
      name: "idle_seconds",
      labels: [],
      kind: "expo",
      value: 0,
      expo: { scale: 20, zeroThreshold: 0, zeroCount: 0, count: 0, sum: 0, min: Infinity, max: -Infinity, positive: { offset: 0, counts: [] }, negative: { offset: 0, counts: [] } },
    };
    const text = renderPrometheusText([empty], IDENTITY, []);
    expect(text).toContain('idle_seconds_bucket{host="gs-eu-001",instance="match-7",le="0"} 0\n');
    expectPromtoolClean(text);
  });

  it("keeps each family contiguous with one HELP and one TYPE line", () => {
    const text = renderPrometheusText(SERIES, IDENTITY, SELF);
    const helps = text.split("\n").filter((l) => l.startsWith("# HELP ")).map((l) => l.split(" ")[2]);
    expect(new Set(helps).size).toBe(helps.length);
    expect(helps.slice(0, 6)).toEqual(["game_kills_total", "load_ratio", "match_latency_seconds", "payload_bytes", "players", "temperature"]);
  });

  it("lets a series label win over an identity label of the same name", () => {
    const text = renderPrometheusText(SERIES, IDENTITY, []);
    expect(text).toContain('payload_bytes_count{host="series-wins",instance="match-7"} 6\n');
    expect(text).not.toContain('host="gs-eu-001",host=');
  });

  it("escapes backslash, double quote and newline in label values", () => {
    expect(formatLabels([["v", 'a\\b"c\nd']])).toBe('{v="a\\\\b\\"c\\nd"}');
    expect(formatLabels([])).toBe("");
  });

  it("formats special values the way Prometheus parses them", () => {
    expect([Infinity, -Infinity, Number.NaN, 0, -0.5, 1e21].map(formatValue)).toEqual(["+Inf", "-Inf", "NaN", "0", "-0.5", "1e+21"]);
    expect(PROM_TEXT_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  // Regression (found in review, fixed): renderPrometheusText renders aggregated series and self families independently, so a
  // game metric whose (sanitised) name equals a self family — e.g. StatsD
  // "process.resident_memory_bytes:1|g" → gauge process_resident_memory_bytes — produces two
  // HELP/TYPE blocks for one name. promtool: "second HELP line for metric name
  // \"process_resident_memory_bytes\"" (exit 1), contradicting the module doc and the
  // self-metrics promise that game metrics cannot hide the agent's own.
  it("passes promtool when a game series has the name of a self-metric", () => {
    const self = SELF.concat([{ name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: "gauge", samples: [{ labels: [], value: 1 }] }]);
    const game: SeriesSnapshot[] = [{ name: "process_resident_memory_bytes", labels: [], kind: "gauge", value: 5 }];
    expectPromtoolClean(renderPrometheusText(game, [], self));
  });

  // Regression (found in review, fixed): a histogram family `x` owns x_bucket/x_sum/x_count; a separate gauge named x_count
  // (StatsD "req:1|ms" plus "req.count:5|g") is rendered as its own family after it and
  // promtool fails with "second HELP line for metric name \"req\"" (exit 1).
  it("passes promtool when a gauge is named like a histogram's _count series", () => {
    const series: SeriesSnapshot[] = [
      { name: "req", labels: [], kind: "explicit", value: 1, explicit: { bounds: [1], counts: [1, 0], count: 1, sum: 0.5 } },
      { name: "req_count", labels: [], kind: "gauge", value: 5 },
    ];
    expectPromtoolClean(renderPrometheusText(series, [], []));
  });
});
