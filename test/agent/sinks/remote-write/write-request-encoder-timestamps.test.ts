import { describe, expect, test } from "vitest";
import type { SeriesSnapshot } from "../../../../agent/aggregate/aggregator";
import { encodeWriteRequests, type FlushEncoding, type TimedSeriesSnapshot } from "../../../../agent/sinks/remote-write/write-request-encoder";
import { decodeRequests, labelText } from "./remote-write-test-helpers";

const T = 1_764_000_000_000;
const OPTIONS = { histograms: "native" } as const;

const gauge = (name: string, value: number, timestampMs?: number): TimedSeriesSnapshot => ({ name, labels: [["k", "v"]], kind: "gauge", value, ...(timestampMs === undefined ? {} : { timestampMs }) });
const explicit = (timestampMs?: number): TimedSeriesSnapshot => ({
  name: "h",
  labels: [],
  kind: "explicit",
  value: 3,
  explicit: { bounds: [1], counts: [1, 2], count: 3, sum: 4 },
  ...(timestampMs === undefined ? {} : { timestampMs }),
});
const expo = (timestampMs?: number): TimedSeriesSnapshot => ({
  name: "e",
  labels: [],
  kind: "expo",
  value: 1,
  expo: { scale: 0, zeroThreshold: 0, zeroCount: 1, count: 1, sum: 0, min: 0, max: 0, positive: { offset: 0, counts: [] }, negative: { offset: 0, counts: [] } },
  ...(timestampMs === undefined ? {} : { timestampMs }),
});

function encode(series: TimedSeriesSnapshot[]): FlushEncoding {
  const result = encodeWriteRequests(series, [], T, OPTIONS);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

function timestamps(e: FlushEncoding): Array<[string, number]> {
  return decodeRequests(e.requests).map((s) => [labelText(s.labels), s.samples[0]?.timestamp ?? s.histograms[0].timestamp]);
}

describe("encodeFlush with per-snapshot timestamps", () => {
  test("a snapshot's own timestampMs overrides the flush's for its series only", () => {
    const e = encode([gauge("a", 1, T - 5_000), gauge("b", 2), explicit(T - 7_000), gauge("c", 3, T), expo(T - 9_000), gauge("d", 4)]);
    expect(e.dropped).toEqual([]);
    expect(timestamps(e)).toEqual([
      ['{__name__="a", k="v"}', T - 5_000],
      ['{__name__="b", k="v"}', T],
      ['{__name__="h_bucket", le="1"}', T - 7_000],
      ['{__name__="h_bucket", le="+Inf"}', T - 7_000],
      ['{__name__="h_count"}', T - 7_000],
      ['{__name__="h_sum"}', T - 7_000],
      ['{__name__="c", k="v"}', T],
      ['{__name__="e"}', T - 9_000],
      ['{__name__="d", k="v"}', T],
    ]);
  });

  test("without timestampMs the bytes are those of plain snapshots (the agent's flushes)", () => {
    const plain: SeriesSnapshot[] = [gauge("a", 1), explicit(), expo()];
    const sameTime = [gauge("a", 1, T), explicit(T), expo(T)];
    const bodies = (e: FlushEncoding) => e.requests.map((r) => Buffer.from(r.body).toString("hex"));
    expect(bodies(encode(sameTime))).toEqual(bodies(encode(plain)));
  });

  test("an own timestamp that is not a safe integer drops that series, the rest still goes", () => {
    const e = encode([gauge("a", 1, 1.5), gauge("b", 2, Number.NaN), gauge("c", 3, T - 1)]);
    expect(e.dropped.map((d) => [d.name, d.reason])).toEqual([
      ["a", "timestampMs must be an integer number of ms (got 1.5)"],
      ["b", "timestampMs must be an integer number of ms (got NaN)"],
    ]);
    expect(timestamps(e)).toEqual([['{__name__="c", k="v"}', T - 1]]);
  });
});
