import { readFileSync } from "node:fs";
import { describe, expect, it, test } from "vitest";
import {
  Aggregator,
  MISS,
  OP_ADD,
  OP_OBSERVE,
  OP_SET,
  RECORDED,
  REJECTED,
  type SeriesSnapshot,
} from "../../../agent/aggregate/aggregator";
import type { ExplicitHistogramData, ExpoHistogramData, Point, PointValue } from "../../../agent/core/points";
import { createSeriesBudget } from "../../../policy/budget/series-budget";
import { DEFAULT_LABEL_POLICY } from "../../../policy/labels/config";
import { createLabelPolicy } from "../../../policy/labels/label-policy";

/** JSON cannot carry non-finite numbers: testdata spells them {"$num": "NaN" | "+Inf" | "-Inf"}. */
function reviveNumbers(_key: string, v: unknown): unknown {
  if (v !== null && typeof v === "object" && "$num" in v) {
    const n = (v as { $num: string }).$num;
    return n === "NaN" ? Number.NaN : n === "+Inf" ? Infinity : -Infinity;
  }
  return v;
}

interface AggregatorCase {
  name: string;
  points: Point[];
  series: Partial<SeriesSnapshot>[];
  rejections: Record<string, number>;
}

const cases: AggregatorCase[] = JSON.parse(
  readFileSync(new URL("./testdata/aggregator-cases.json", import.meta.url), "utf8"),
  reviveNumbers,
);

function createAggregator(budget = { maxSeries: 300, idleExpiryMs: 300_000 }): Aggregator {
  return new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget(budget) });
}

function byIdentity(a: SeriesSnapshot, b: SeriesSnapshot): number {
  const ka = a.name + JSON.stringify(a.labels);
  const kb = b.name + JSON.stringify(b.labels);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function snapshotSorted(agg: Aggregator): SeriesSnapshot[] {
  return agg.snapshot().sort(byIdentity);
}

const counter = (name: string, value: number, labels: Record<string, string> = {}): Point => ({
  name,
  labels,
  value: { type: "counter", temporality: "delta", value },
});
const cumulative = (name: string, value: number, startTimeMs?: number): Point => ({
  name,
  labels: {},
  startTimeMs,
  value: { type: "counter", temporality: "cumulative", value },
});
const gauge = (name: string, value: number, labels: Record<string, string> = {}): Point => ({
  name,
  labels,
  value: { type: "gauge", value },
});
const point = (name: string, value: PointValue, startTimeMs?: number): Point => ({ name, labels: {}, startTimeMs, value });

function expoData(partial: Partial<ExpoHistogramData>): ExpoHistogramData {
  return {
    scale: 0,
    zeroThreshold: 0,
    zeroCount: 0,
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    positive: { offset: 0, counts: [] },
    negative: { offset: 0, counts: [] },
    ...partial,
  };
}

describe("Aggregator table (testdata/aggregator-cases.json)", () => {
  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const agg = createAggregator();
    for (const p of c.points) agg.record(structuredClone(p), 1_000);
    const snapshot = snapshotSorted(agg);
    expect(snapshot).toHaveLength(c.series.length);
    c.series.forEach((expected, i) => expect(snapshot[i]).toMatchObject(expected));
    expect(Object.fromEntries(agg.rejections())).toEqual(c.rejections);
  });

  test("covers at least twenty cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });
});

describe("Aggregator.record", () => {
  it("returns the rejection with a message naming the metric", () => {
    const agg = createAggregator();
    agg.record(counter("hits", 1), 0);
    expect(agg.record(gauge("hits", 1), 0)).toEqual({
      reason: "type_conflict",
      message: "metric hits is already a counter; a gauge point was rejected",
    });
    expect(agg.record(counter("hits", -2), 0)).toEqual({
      reason: "negative_counter",
      message: "counter hits got a negative increment -2",
    });
    expect(agg.record(counter("hits", Number.NaN), 0)).toEqual({ reason: "invalid_value", message: "value is NaN or infinite" });
  });

  it("passes the label policy's message through without quoting the label value", () => {
    const agg = createAggregator();
    const rejection = agg.record(counter("kills_total", 1, { player_id: "p-9931" }), 0);
    expect(rejection?.reason).toBe("forbidden_label");
    expect(rejection?.message).toContain('"player_id"');
    expect(rejection?.message).not.toContain("p-9931");
    expect(agg.activeSeries).toBe(0);
  });

  it("clears a set's members after each snapshot", () => {
    const agg = createAggregator();
    agg.record(point("users", { type: "set", member: "alice" }), 0);
    agg.record(point("users", { type: "set", member: "bob" }), 0);
    expect(agg.snapshot()[0].value).toBe(2);
    expect(agg.snapshot()[0].value).toBe(0);
    agg.record(point("users", { type: "set", member: "alice" }), 0);
    expect(agg.snapshot()[0]).toEqual({ name: "users", labels: [], kind: "gauge", value: 1 });
  });

  it("keeps cumulative counters exact across many resets", () => {
    const agg = createAggregator();
    let expected = 0;
    for (let stream = 0; stream < 5; stream++) {
      for (const v of [3, 7, 7, 20]) agg.record(cumulative("req_total", v, stream * 1000), 0);
      expected += 20;
    }
    expect(agg.snapshot()[0].value).toBe(expected);
  });

  it("records observations with a weight (sampled timers)", () => {
    const agg = createAggregator();
    agg.record(point("lat", { type: "observe", value: 3, weight: 10 }), 0);
    const s = agg.snapshot()[0];
    expect(s.kind).toBe("expo");
    expect(s.expo).toMatchObject({ count: 10, sum: 30, min: 3, max: 3 });
  });

  it("rejects a malformed exponential histogram with the field named", () => {
    const agg = createAggregator();
    const rejection = agg.record(point("lat", { type: "expo", temporality: "delta", data: expoData({ scale: 99 }) }), 0);
    expect(rejection).toEqual({ reason: "invalid_value", message: "histogram lat: scale must be an integer in [-10, 52] (got 99)" });
  });
});

describe("Aggregator series budget", () => {
  it("admits the first N new series in arrival order and counts the rest as budget", () => {
    const agg = createAggregator({ maxSeries: 3, idleExpiryMs: 1_000 });
    const outcomes = ["a", "b", "c", "d", "e"].map((region) => agg.record(counter("kills_total", 1, { region }), 0)?.reason);
    expect(outcomes).toEqual([undefined, undefined, undefined, "budget", "budget"]);
    expect(snapshotSorted(agg).map((s) => s.labels)).toEqual([[["region", "a"]], [["region", "b"]], [["region", "c"]]]);
    expect(agg.rejections().get("budget")).toBe(2);
    expect(agg.budget.active).toBe(3);
  });

  it("names the budget and the metric in the message", () => {
    const agg = createAggregator({ maxSeries: 1, idleExpiryMs: 1_000 });
    agg.record(counter("a_total", 1), 0);
    expect(agg.record(counter("b_total", 1), 0)).toEqual({
      reason: "budget",
      message: "series budget of 1 active series is full; new series b_total was not admitted",
    });
  });

  it("keeps admitted series flowing while new ones are refused", () => {
    const agg = createAggregator({ maxSeries: 2, idleExpiryMs: 1_000 });
    agg.record(counter("a_total", 1), 0);
    agg.record(counter("b_total", 1), 0);
    for (let i = 0; i < 10; i++) {
      expect(agg.record(counter("c_total", 1), i)?.reason).toBe("budget");
      expect(agg.record(counter("a_total", 1), i)).toBeUndefined();
    }
    expect(snapshotSorted(agg).map((s) => [s.name, s.value])).toEqual([
      ["a_total", 11],
      ["b_total", 1],
    ]);
  });

  it("expires series idle for longer than idleExpiryMs and frees their slots", () => {
    const agg = createAggregator({ maxSeries: 2, idleExpiryMs: 100 });
    agg.record(counter("a_total", 1), 0);
    agg.record(counter("b_total", 1), 50);
    expect(agg.expireIdle(100)).toEqual([]);
    expect(agg.expireIdle(101)).toEqual([{ name: "a_total", labels: [], kind: "counter" }]);
    expect(agg.activeSeries).toBe(1);
    expect(agg.budget.active).toBe(1);
    expect(agg.record(counter("c_total", 1), 101)).toBeUndefined();
  });

  it("admits a raw key that was refused for budget once a slot frees (budget epoch)", () => {
    const agg = createAggregator({ maxSeries: 1, idleExpiryMs: 10 });
    expect(agg.record(counter("a_total", 1), 0, "a")).toBeUndefined();
    expect(agg.record(counter("b_total", 1), 0, "b")?.reason).toBe("budget");
    expect(agg.tryRecordCached("b", "counter", OP_ADD, 1, 1, 0)).toBe(REJECTED);
    expect(agg.expireIdle(100)).toHaveLength(1);
    // The cached budget rejection belongs to an older epoch: the caller is sent to the slow path.
    expect(agg.tryRecordCached("b", "counter", OP_ADD, 1, 1, 100)).toBe(MISS);
    expect(agg.record(counter("b_total", 5), 100, "b")).toBeUndefined();
    expect(agg.tryRecordCached("b", "counter", OP_ADD, 1, 1, 100)).toBe(RECORDED);
    expect(agg.snapshot()).toEqual([{ name: "b_total", labels: [], kind: "counter", value: 6 }]);
    expect(agg.rejections().get("budget")).toBe(2);
  });

  it("starts an expired series again from zero when it comes back", () => {
    const agg = createAggregator({ maxSeries: 5, idleExpiryMs: 10 });
    agg.record(counter("a_total", 4), 0, "a");
    agg.expireIdle(100);
    expect(agg.tryRecordCached("a", "counter", OP_ADD, 1, 1, 100)).toBe(MISS);
    agg.record(counter("a_total", 1), 100, "a");
    expect(agg.snapshot()).toEqual([{ name: "a_total", labels: [], kind: "counter", value: 1 }]);
  });

  it("does not let a policy rejection take a budget slot", () => {
    const agg = createAggregator({ maxSeries: 1, idleExpiryMs: 10 });
    agg.record(counter("a_total", 1, { player_id: "x" }), 0);
    expect(agg.record(counter("a_total", 1), 0)).toBeUndefined();
  });

  it("drops cached rejections beyond maxCachedRejections and still rejects them on the slow path", () => {
    const agg = new Aggregator({
      policy: createLabelPolicy(DEFAULT_LABEL_POLICY),
      budget: createSeriesBudget({ maxSeries: 10, idleExpiryMs: 10 }),
      maxCachedRejections: 2,
    });
    for (const key of ["k1", "k2", "k3"]) agg.record(counter("a_total", 1, { player_id: key }), 0, key);
    // k1 and k2 were dropped when k3 needed room.
    expect(agg.tryRecordCached("k1", "counter", OP_ADD, 1, 1, 0)).toBe(MISS);
    expect(agg.tryRecordCached("k3", "counter", OP_ADD, 1, 1, 0)).toBe(REJECTED);
    expect(agg.record(counter("a_total", 1, { player_id: "k1" }), 0, "k1")?.reason).toBe("forbidden_label");
    expect(agg.rejections().get("forbidden_label")).toBe(5);
  });
});

describe("Aggregator.tryRecordCached", () => {
  it("misses for a raw key never seen", () => {
    expect(createAggregator().tryRecordCached("nope", "counter", OP_ADD, 1, 1, 0)).toBe(MISS);
  });

  it("records into the cached series for add, set and observe", () => {
    const agg = createAggregator();
    agg.record(counter("c_total", 1), 0, "c");
    agg.record(gauge("g", 1), 0, "g");
    agg.record(point("h", { type: "observe", value: 1, weight: 1 }), 0, "h");
    expect(agg.tryRecordCached("c", "counter", OP_ADD, 2, 1, 5)).toBe(RECORDED);
    expect(agg.tryRecordCached("g", "gauge", OP_SET, -4, 1, 5)).toBe(RECORDED);
    expect(agg.tryRecordCached("g", "gauge", OP_ADD, 1.5, 1, 5)).toBe(RECORDED);
    expect(agg.tryRecordCached("h", "expo", OP_OBSERVE, 2, 3, 5)).toBe(RECORDED);
    const [c, g, h] = snapshotSorted(agg);
    expect(c.value).toBe(3);
    expect(g.value).toBe(-2.5);
    expect(h.expo).toMatchObject({ count: 4, sum: 7 });
  });

  it("counts a cached policy rejection and returns REJECTED", () => {
    const agg = createAggregator();
    agg.record(counter("c_total", 1, { player_id: "x" }), 0, "bad");
    expect(agg.tryRecordCached("bad", "counter", OP_ADD, 1, 1, 0)).toBe(REJECTED);
    expect(agg.rejections().get("forbidden_label")).toBe(2);
  });

  it.each([
    ["a negative counter increment", "counter", OP_ADD, -1],
    ["an infinite counter increment", "counter", OP_ADD, Infinity],
    ["a NaN gauge", "gauge", OP_SET, Number.NaN],
    ["an infinite gauge delta", "gauge", OP_ADD, -Infinity],
    ["a NaN observation", "expo", OP_OBSERVE, Number.NaN],
  ] as const)("misses on %s so the slow path rejects it", (_what, kind, op, value) => {
    const agg = createAggregator();
    const seed: PointValue =
      kind === "counter"
        ? { type: "counter", temporality: "delta", value: 1 }
        : kind === "gauge"
          ? { type: "gauge", value: 1 }
          : { type: "observe", value: 1, weight: 1 };
    agg.record(point("m", seed), 0, "k");
    expect(agg.tryRecordCached("k", kind, op, value, 1, 0)).toBe(MISS);
  });

  it("misses when the cached series has another kind", () => {
    const agg = createAggregator();
    agg.record(gauge("g", 1), 0, "k");
    expect(agg.tryRecordCached("k", "counter", OP_ADD, 1, 1, 0)).toBe(MISS);
  });

  it("updates lastUpdateMs so a series fed only by the fast path does not expire", () => {
    const agg = createAggregator({ maxSeries: 5, idleExpiryMs: 100 });
    agg.record(counter("c_total", 1), 0, "c");
    expect(agg.tryRecordCached("c", "counter", OP_ADD, 1, 1, 1_000)).toBe(RECORDED);
    expect(agg.expireIdle(1_050)).toEqual([]);
  });

  it("gives the same snapshot and rejections as the slow path for the same input", () => {
    type Input = { key: string; kind: "counter" | "gauge" | "expo"; op: 0 | 1 | 2; value: number; weight: number; point: Point };
    const inputs: Input[] = [];
    const names = ["a", "b", "c"];
    for (let i = 0; i < 300; i++) {
      const n = names[i % 3];
      const v = ((i * 7919) % 23) - 3;
      if (n === "a") inputs.push({ key: "a", kind: "counter", op: OP_ADD, value: v, weight: 1, point: counter("a_total", v) });
      else if (n === "b") {
        const isDelta = i % 2 === 0;
        inputs.push({
          key: "b",
          kind: "gauge",
          op: isDelta ? OP_ADD : OP_SET,
          value: v,
          weight: 1,
          point: point("b", isDelta ? { type: "gauge_delta", value: v } : { type: "gauge", value: v }),
        });
      } else inputs.push({ key: "c", kind: "expo", op: OP_OBSERVE, value: v / 3, weight: 1 + (i % 4), point: point("c", { type: "observe", value: v / 3, weight: 1 + (i % 4) }) });
    }
    inputs.push({ key: "d", kind: "counter", op: OP_ADD, value: 1, weight: 1, point: counter("d_total", 1, { player_id: "x" }) });
    inputs.push({ key: "d", kind: "counter", op: OP_ADD, value: 1, weight: 1, point: counter("d_total", 1, { player_id: "x" }) });

    const slow = createAggregator();
    for (const input of inputs) slow.record(structuredClone(input.point), 0, input.key);
    const fast = createAggregator();
    for (const input of inputs) {
      const outcome = fast.tryRecordCached(input.key, input.kind, input.op, input.value, input.weight, 0);
      if (outcome === MISS) fast.record(structuredClone(input.point), 0, input.key);
    }
    expect(snapshotSorted(fast)).toEqual(snapshotSorted(slow));
    expect(Object.fromEntries(fast.rejections())).toEqual(Object.fromEntries(slow.rejections()));
    expect(Object.fromEntries(fast.rejections())).toEqual({ negative_counter: expect.any(Number), forbidden_label: 2 });
  });

  // Regression (found in review, fixed): Aggregator.resolve caches a type_conflict rejection under the caller's raw key, and the
  // raw key does not carry the kind (StatsD keys are name + NUL + tags). One conflicting point
  // therefore poisons the key: later points of the ORIGINAL kind hit the cached rejection in
  // tryRecordCached/resolve and are rejected as type_conflict although their series is live.
  it("keeps accepting the original kind after a type conflict on the same raw key", () => {
    const agg = createAggregator();
    expect(agg.record(counter("hits", 1), 0, "hits")).toBeUndefined();
    expect(agg.record(gauge("hits", 7), 0, "hits")?.reason).toBe("type_conflict");
    // Expected: undefined (counter series "hits" is alive). Actual: type_conflict.
    expect(agg.record(counter("hits", 1), 0, "hits")).toBeUndefined();
  });

  // Regression (found in review, fixed): same root cause as above, seen through the fast path: after the conflict
  // tryRecordCached("hits", "counter", OP_ADD, 1, …) returns REJECTED instead of RECORDED.
  it("fast path still records the original kind after a type conflict on the same raw key", () => {
    const agg = createAggregator();
    agg.record(counter("hits", 1), 0, "hits");
    agg.record(gauge("hits", 7), 0, "hits");
    expect(agg.tryRecordCached("hits", "counter", OP_ADD, 1, 1, 0)).not.toBe(REJECTED);
  });
});

describe("Aggregator.toPersisted / restore", () => {
  function richAggregator(): Aggregator {
    const agg = createAggregator();
    agg.record(counter("kills_total", 3, { region: "eu" }), 10);
    agg.record(cumulative("req_total", 10, 1_000), 11);
    agg.record(cumulative("req_total", 4, 2_000), 12);
    agg.record(gauge("temp", -Infinity), 13);
    agg.record(point("players", { type: "updown", temporality: "delta", value: -2 }), 14);
    agg.record(point("lat", { type: "observe", value: 0.3, weight: 2 }), 15);
    agg.record(point("lat", { type: "observe", value: -7, weight: 1 }), 15);
    agg.record(
      point(
        "otel_lat",
        { type: "expo", temporality: "cumulative", data: expoData({ count: 2, sum: 3, min: 1.5, max: 1.5, positive: { offset: 0, counts: [2] } }) },
        1_000,
      ),
      16,
    );
    agg.record(point("size", { type: "explicit", temporality: "cumulative", data: { bounds: [1, 2], counts: [1, 0, 2], count: 3, sum: 7.5 } }, 1_000), 17);
    agg.record(point("size_delta", { type: "explicit", temporality: "delta", data: { bounds: [1], counts: [1, 1], count: 2, sum: 2.5 } }), 18);
    return agg;
  }

  it("round-trips every kind exactly", () => {
    const before = richAggregator();
    const persisted = before.toPersisted();
    const after = createAggregator();
    expect(after.restore(structuredClone(persisted))).toEqual({ restored: 8, dropped: 0 });
    expect(snapshotSorted(after)).toEqual(snapshotSorted(before));
    expect(after.toPersisted()).toEqual(persisted);
  });

  it("survives a JSON round trip of the persisted form except for non-finite numbers", () => {
    const persisted = richAggregator().toPersisted();
    const counterOnly = persisted.filter((p) => p.kind === "counter");
    expect(JSON.parse(JSON.stringify(counterOnly))).toEqual(counterOnly);
  });

  it("continues a cumulative counter after restore without a reset or a double count", () => {
    const before = createAggregator();
    before.record(cumulative("req_total", 10, 1_000), 0);
    before.record(cumulative("req_total", 4, 2_000), 0); // reset: base 10, last 4
    const after = createAggregator();
    after.restore(before.toPersisted());
    after.record(cumulative("req_total", 4, 2_000), 0); // the same point again
    expect(after.snapshot()[0].value).toBe(14);
    after.record(cumulative("req_total", 9, 2_000), 0);
    expect(after.snapshot()[0].value).toBe(19);
    after.record(cumulative("req_total", 2, 3_000), 0); // a real reset after restore
    expect(after.snapshot()[0].value).toBe(21);
  });

  it("continues cumulative histograms after restore without a reset or a double count", () => {
    const before = createAggregator();
    const p1 = expoData({ count: 2, sum: 3, min: 1.5, max: 1.5, positive: { offset: 0, counts: [2] } });
    const p2 = expoData({ count: 3, sum: 6, min: 1.5, max: 3, positive: { offset: 0, counts: [2, 1] } });
    before.record(point("lat", { type: "expo", temporality: "cumulative", data: p1 }, 1_000), 0);
    const e1: ExplicitHistogramData = { bounds: [1], counts: [1, 1], count: 2, sum: 3 };
    const e2: ExplicitHistogramData = { bounds: [1], counts: [1, 3], count: 4, sum: 9 };
    before.record(point("size", { type: "explicit", temporality: "cumulative", data: e1 }, 1_000), 0);
    const after = createAggregator();
    after.restore(before.toPersisted());
    after.record(point("lat", { type: "expo", temporality: "cumulative", data: p2 }, 1_000), 0);
    after.record(point("size", { type: "explicit", temporality: "cumulative", data: e2 }, 1_000), 0);
    const [lat, size] = snapshotSorted(after);
    expect(lat.expo).toMatchObject({ count: 3, sum: 6, positive: { offset: 0, counts: [2, 1] } });
    expect(size.explicit).toEqual(e2);
  });

  it("drops restored series beyond the budget", () => {
    const persisted = richAggregator().toPersisted();
    const small = createAggregator({ maxSeries: 3, idleExpiryMs: 1_000 });
    expect(small.restore(persisted)).toEqual({ restored: 3, dropped: 5 });
    expect(small.activeSeries).toBe(3);
    expect(small.budget.active).toBe(3);
  });

  it("skips a persisted series that is already present", () => {
    const persisted = richAggregator().toPersisted();
    const agg = createAggregator();
    expect(agg.restore([...persisted, persisted[0]])).toEqual({ restored: 8, dropped: 1 });
    expect(agg.budget.active).toBe(8);
  });

  it("keeps restored series' kinds, so a conflicting point is still a type conflict", () => {
    const agg = createAggregator();
    agg.restore(richAggregator().toPersisted());
    expect(agg.record(gauge("req_total", 1), 0)?.reason).toBe("type_conflict");
  });

  // Regression (found in review, fixed): toPersisted() promises a "plain-data copy" but hands out the live explicit-histogram
  // object (and histLast/explicitLast/labels by reference). A later delta point mutates the
  // already-returned persisted state: counts [1,0] become [2,0] in the earlier copy.
  it("returns a copy from toPersisted that later points do not change", () => {
    const agg = createAggregator();
    const delta = (): Point => point("size", { type: "explicit", temporality: "delta", data: { bounds: [1], counts: [1, 0], count: 1, sum: 0.5 } });
    agg.record(delta(), 0);
    const persisted = agg.toPersisted();
    const frozen = structuredClone(persisted);
    agg.record(delta(), 0);
    expect(persisted).toEqual(frozen);
  });
});

describe("Aggregator.snapshot", () => {
  it("returns values that later points do not change", () => {
    const agg = createAggregator();
    agg.record(counter("c_total", 1), 0);
    agg.record(gauge("g", 1), 0);
    agg.record(point("h", { type: "observe", value: 1, weight: 1 }), 0);
    agg.record(point("e", { type: "explicit", temporality: "delta", data: { bounds: [1], counts: [1, 0], count: 1, sum: 1 } }), 0);
    agg.record(point("ec", { type: "explicit", temporality: "cumulative", data: { bounds: [1], counts: [1, 0], count: 1, sum: 1 } }), 0);
    agg.record(point("x", { type: "expo", temporality: "cumulative", data: expoData({ count: 1, sum: 1.5, min: 1.5, max: 1.5, positive: { offset: 0, counts: [1] } }) }), 0);
    const first = agg.snapshot();
    const copy = structuredClone(first);
    agg.record(counter("c_total", 1), 0);
    agg.record(gauge("g", 2), 0);
    agg.record(point("h", { type: "observe", value: 5, weight: 1 }), 0);
    agg.record(point("e", { type: "explicit", temporality: "delta", data: { bounds: [1], counts: [0, 1], count: 1, sum: 3 } }), 0);
    agg.record(point("ec", { type: "explicit", temporality: "cumulative", data: { bounds: [1], counts: [1, 1], count: 2, sum: 4 } }), 0);
    agg.record(point("x", { type: "expo", temporality: "cumulative", data: expoData({ count: 2, sum: 3, min: 1.5, max: 1.5, positive: { offset: 0, counts: [2] } }) }), 0);
    expect(first).toEqual(copy);
    expect(agg.snapshot()).not.toEqual(copy);
  });

  it("does not change the aggregation state (two snapshots in a row are equal)", () => {
    const agg = createAggregator();
    agg.record(cumulative("req_total", 10, 1), 0);
    agg.record(point("x", { type: "expo", temporality: "cumulative", data: expoData({ count: 2, sum: 3, min: 1.5, max: 1.5, positive: { offset: 0, counts: [2] } }) }), 0);
    expect(agg.snapshot()).toEqual(agg.snapshot());
  });

  // Regression (found in review, fixed): snapshot() documents "deep copies" but every SeriesSnapshot.labels is the series' own
  // array: a consumer that edits the snapshot's labels (e.g. to add identity labels in place)
  // changes the aggregator's series and every later snapshot.
  it("hands out labels that a consumer may change without touching the aggregator", () => {
    const agg = createAggregator();
    agg.record(counter("kills_total", 1, { region: "eu" }), 0);
    agg.snapshot()[0].labels.push(["host", "h1"]);
    expect(agg.snapshot()[0].labels).toEqual([["region", "eu"]]);
  });
});
