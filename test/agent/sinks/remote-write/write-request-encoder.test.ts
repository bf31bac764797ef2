import { describe, expect, test } from "vitest";
import { Aggregator, type SeriesSnapshot } from "../../../../agent/aggregate/aggregator";
import { expoToClassicBuckets } from "../../../../agent/aggregate/classic-buckets";
import { ExpoHistogram } from "../../../../agent/aggregate/expo-histogram";
import { formatLe } from "../../../../agent/sinks/remote-write/le-format";
import { toDeltas, toNativeHistogram } from "../../../../agent/sinks/remote-write/native-histogram";
import { prometheus } from "../../../../agent/sinks/remote-write/prompb/prompb.js";
import {
  createWriteRequestEncoder,
  describeInvalidOptions,
  encodeWriteRequests,
  REMOTE_WRITE_HEADERS,
  staleNanBytes,
  type EncodedWriteRequest,
  type FlushEncoding,
  type StaleSeries,
  type WriteRequestEncoderOptions,
} from "../../../../agent/sinks/remote-write/write-request-encoder";
import { createSeriesBudget } from "../../../../policy/budget/series-budget";
import { DEFAULT_LABEL_POLICY } from "../../../../policy/labels/config";
import { createLabelPolicy } from "../../../../policy/labels/label-policy";
import { seededRandom } from "../../aggregate/expo-helpers";
import {
  bucketsByIndex,
  countBytes,
  decodeRequests,
  decodeWriteRequest,
  expectGolden,
  hexLines,
  labelText,
  labelValue,
  uncompressBody,
  type PlainTimeSeries,
} from "./remote-write-test-helpers";

const T = 1_764_000_000_000;
const IDENTITY: [string, string][] = [
  ["region", "eu-west-1"],
  ["host", "gs-0001"],
  ["zone", ""], // empty: dropped
];

function tickHistogram(): SeriesSnapshot {
  const h = new ExpoHistogram({ maxScale: 2 });
  for (const v of [0, 0.5, 1, 1.5, 3, 3, -2, 100]) h.record(v);
  return { name: "game_tick_ms", labels: [["shard_id", "1"]], kind: "expo", value: 8, expo: h.toData() };
}

/** The fixed flush of the golden files: every kind, label edge cases included. */
function goldenFlush(): SeriesSnapshot[] {
  return [
    { name: "game_matches_total", labels: [["mode", "ranked"], ["queue", "eu"]], kind: "counter", value: 42 },
    { name: "game_players_connected", labels: [["Shard", "3"]], kind: "gauge", value: 17.5 },
    { name: "game_idle_ratio", labels: [], kind: "gauge", value: 0 },
    { name: "game_restarts_total", labels: [["host", "override"], ["empty", ""]], kind: "counter", value: 3 },
    tickHistogram(),
    {
      name: "request_seconds",
      labels: [["route", "join"]],
      kind: "explicit",
      value: 7,
      explicit: { bounds: [0.005, 0.5, 1, 2.5], counts: [1, 2, 0, 3, 1], count: 7, sum: 9.25 },
    },
  ];
}

function encodeOk(series: SeriesSnapshot[], options: WriteRequestEncoderOptions, identity = IDENTITY, timestampMs = T): FlushEncoding {
  const r = encodeWriteRequests(series, identity, timestampMs, options);
  if (!r.ok) throw new Error(`encode failed: ${r.error.message}`);
  return r.value;
}

function onlyRequest(encoding: FlushEncoding): EncodedWriteRequest {
  expect(encoding.requests).toHaveLength(1);
  return encoding.requests[0];
}

const byName = (series: PlainTimeSeries[], name: string): PlainTimeSeries[] => series.filter((s) => labelValue(s, "__name__") === name);

describe("encodeFlush, native histograms", () => {
  const encoding = encodeOk(goldenFlush(), { histograms: "native" });
  const request = onlyRequest(encoding);
  const protobuf = uncompressBody(request.body);
  const series = decodeWriteRequest(protobuf);

  test("decodes with the reference decoder to exactly the flush", () => {
    expect(encoding.dropped).toEqual([]);
    expect(encoding.classicFallbacks).toBe(0);
    expect(series.map((s) => labelText(s.labels))).toEqual([
      '{__name__="game_matches_total", host="gs-0001", mode="ranked", queue="eu", region="eu-west-1"}',
      '{Shard="3", __name__="game_players_connected", host="gs-0001", region="eu-west-1"}',
      '{__name__="game_idle_ratio", host="gs-0001", region="eu-west-1"}',
      '{__name__="game_restarts_total", host="override", region="eu-west-1"}',
      '{__name__="game_tick_ms", host="gs-0001", region="eu-west-1", shard_id="1"}',
      '{__name__="request_seconds_bucket", host="gs-0001", le="0.005", region="eu-west-1", route="join"}',
      '{__name__="request_seconds_bucket", host="gs-0001", le="0.5", region="eu-west-1", route="join"}',
      '{__name__="request_seconds_bucket", host="gs-0001", le="1", region="eu-west-1", route="join"}',
      '{__name__="request_seconds_bucket", host="gs-0001", le="2.5", region="eu-west-1", route="join"}',
      '{__name__="request_seconds_bucket", host="gs-0001", le="+Inf", region="eu-west-1", route="join"}',
      '{__name__="request_seconds_count", host="gs-0001", region="eu-west-1", route="join"}',
      '{__name__="request_seconds_sum", host="gs-0001", region="eu-west-1", route="join"}',
    ]);
    const values = series.filter((s) => s.histograms.length === 0).map((s) => s.samples);
    expect(values).toEqual([42, 17.5, 0, 3, 1, 3, 3, 6, 7, 7, 9.25].map((value) => [{ value, timestamp: T }]));
    expect(request).toMatchObject({ series: 12, samples: 11, histograms: 1, uncompressedBytes: protobuf.length });
  });

  test("the exponential histogram arrives as a native histogram with spans and deltas", () => {
    const [tick] = byName(series, "game_tick_ms");
    expect(tick.samples).toEqual([]);
    // scale 2: 0.5 → OTel -5 → Prometheus -4; 1 → -1 → 0; 1.5 → 2 → 3; 3 → 6 → 7; 100 → 26 → 27;
    // -2 → OTel 3 → Prometheus 4 on the negative side.
    expect(tick.histograms).toEqual([
      {
        countInt: 8,
        sum: 107,
        schema: 2,
        zeroThreshold: 0,
        zeroCountInt: 1,
        negativeSpans: [{ offset: 4, length: 1 }],
        negativeDeltas: [1],
        negativeCounts: [],
        positiveSpans: [
          { offset: -4, length: 1 },
          { offset: 3, length: 1 },
          { offset: 2, length: 1 },
          { offset: 3, length: 1 },
          { offset: 19, length: 1 },
        ],
        positiveDeltas: [1, 0, 0, 1, -1],
        positiveCounts: [],
        resetHint: 0, // UNKNOWN
        timestamp: T,
      },
    ]);
  });

  test("the bytes equal protobufjs' encoding of the same WriteRequest", () => {
    const n = toNativeHistogram(tickHistogram().expo!)!;
    const expected = prometheus.WriteRequest.encode({
      timeseries: series.map((s) =>
        s.histograms.length === 0
          ? { labels: s.labels, samples: s.samples }
          : {
              labels: s.labels,
              histograms: [
                {
                  countInt: n.count,
                  sum: n.sum,
                  schema: n.schema,
                  zeroCountInt: n.zeroCount,
                  negativeSpans: n.negative.spans,
                  negativeDeltas: toDeltas(n.negative.counts),
                  positiveSpans: n.positive.spans,
                  positiveDeltas: toDeltas(n.positive.counts),
                  timestamp: T,
                },
              ],
            },
      ),
    }).finish();
    expect(Buffer.from(protobuf).equals(Buffer.from(expected))).toBe(true);
  });

  test("matches the golden bytes", () => {
    expectGolden("flush-native.pb.hex", hexLines(protobuf));
  });
});

describe("encodeFlush, classic histograms", () => {
  const encoding = encodeOk(goldenFlush(), { histograms: "classic" });
  const protobuf = uncompressBody(onlyRequest(encoding).body);
  const series = decodeWriteRequest(protobuf);

  test("an exponential histogram becomes cumulative le buckets at its bucket boundaries, +Inf, _count and _sum", () => {
    const d = tickHistogram().expo!;
    const { upperBounds, cumulativeCounts } = expoToClassicBuckets(d);
    const buckets = byName(series, "game_tick_ms_bucket");
    expect(buckets.map((b) => labelValue(b, "le"))).toEqual([...upperBounds.map(formatLe), "+Inf"]);
    expect(buckets.map((b) => b.samples[0].value)).toEqual([...cumulativeCounts, 8]);
    expect(byName(series, "game_tick_ms_count")[0].samples).toEqual([{ value: 8, timestamp: T }]);
    expect(byName(series, "game_tick_ms_sum")[0].samples).toEqual([{ value: 107, timestamp: T }]);
    expect(series.every((s) => s.histograms.length === 0)).toBe(true);
    // The zero bucket (threshold 0) and the power-of-two boundaries are spelled exactly.
    expect(buckets.map((b) => labelValue(b, "le"))).toEqual(expect.arrayContaining(["0", "0.5", "1", "2", "4", "64"]));
  });

  test("every classic series carries the series and identity labels, sorted", () => {
    for (const s of [...byName(series, "game_tick_ms_bucket"), ...byName(series, "game_tick_ms_sum")]) {
      const names = s.labels.map((l) => l.name);
      expect(names).toEqual([...names].sort());
      expect(labelValue(s, "shard_id")).toBe("1");
      expect(labelValue(s, "host")).toBe("gs-0001");
    }
  });

  test("matches the golden bytes", () => {
    expectGolden("flush-classic.pb.hex", hexLines(protobuf));
  });
});

describe("labels", () => {
  test("__name__ sorts by byte order among the labels, not always first", () => {
    const [s] = decodeRequests(
      encodeOk([{ name: "m", labels: [["Zed", "1"], ["_under", "2"], ["a", "3"], ["__meta", "4"]], kind: "gauge", value: 1 }], { histograms: "native" }, []).requests,
    );
    expect(s.labels.map((l) => l.name)).toEqual(["Zed", "__meta", "__name__", "_under", "a"]);
  });

  test("series labels win over identity labels; empty values are dropped on both sides", () => {
    const [s] = decodeRequests(
      encodeOk([{ name: "m", labels: [["host", "mine"], ["blank", ""]], kind: "gauge", value: 1 }], { histograms: "native" }, [
        ["host", "agent"],
        ["az", ""],
        ["dc", "x"],
      ]).requests,
    );
    expect(labelText(s.labels)).toBe('{__name__="m", dc="x", host="mine"}');
  });

  test("unsorted series labels are sorted", () => {
    const [s] = decodeRequests(encodeOk([{ name: "m", labels: [["b", "2"], ["a", "1"]], kind: "counter", value: 1 }], { histograms: "native" }, []).requests);
    expect(labelText(s.labels)).toBe('{__name__="m", a="1", b="2"}');
  });

  test("UTF-8 label values arrive intact", () => {
    const [s] = decodeRequests(encodeOk([{ name: "m", labels: [["map", "Île-de-France 🗺"]], kind: "gauge", value: 1 }], { histograms: "native" }, []).requests);
    expect(labelValue(s, "map")).toBe("Île-de-France 🗺");
  });

  test.each([
    ["bad-name", [], 'metric name "bad-name" is not a valid Prometheus name'],
    ["m", [["0lead", "x"]], 'label name "0lead" is not a valid Prometheus label name'],
    ["m", [["__name__", "x"]], 'label name "__name__" is reserved'],
    ["m", [["a", "1"], ["a", "2"]], 'label "a" is given twice'],
  ] as [string, [string, string][], string][])("series %s %j is dropped: %s", (name, labels, reason) => {
    const encoding = encodeOk([{ name, labels, kind: "gauge", value: 1 }, { name: "ok", labels: [], kind: "gauge", value: 2 }], { histograms: "native" }, []);
    expect(encoding.dropped).toEqual([{ name, labels, reason }]);
    expect(decodeRequests(encoding.requests).map((s) => labelValue(s, "__name__"))).toEqual(["ok"]);
  });

  test("a histogram with its own le label cannot go out as classic buckets and is dropped", () => {
    const explicit = { bounds: [1], counts: [1, 0], count: 1, sum: 1 };
    const encoding = encodeOk([{ name: "h", labels: [["le", "x"]], kind: "explicit", value: 1, explicit }], { histograms: "native" }, []);
    expect(encoding.dropped[0].reason).toMatch(/own "le" label/);
    expect(encoding.requests).toEqual([]);
    // A counter with an le label is fine.
    expect(decodeRequests(encodeOk([{ name: "c", labels: [["le", "x"]], kind: "counter", value: 1 }], { histograms: "native" }, []).requests)).toHaveLength(1);
  });

  test.each([
    [[["bad name", "x"]], 'identity label name "bad name" is not a valid Prometheus label name'],
    [[["__name__", "x"]], 'identity label name "__name__" is reserved for the remote-write encoder'],
    [[["le", "x"]], 'identity label name "le" is reserved for the remote-write encoder'],
    [[["a", "1"], ["a", "2"]], 'identity label "a" is given twice'],
  ] as [[string, string][], string][])("identity %j is refused: %s", (identity, message) => {
    const r = encodeWriteRequests(goldenFlush(), identity, T, { histograms: "native" });
    expect(r).toEqual({ ok: false, error: { code: "REMOTE_WRITE_INVALID_IDENTITY", message } });
  });

  test("a timestamp that is not an integer is refused", () => {
    const r = encodeWriteRequests(goldenFlush(), [], 1.5, { histograms: "native" });
    expect(r).toEqual({ ok: false, error: { code: "REMOTE_WRITE_INVALID_TIMESTAMP", message: "timestampMs must be an integer number of ms (got 1.5)" } });
  });

  test("a reused encoder follows identity changes and names sharing one labels array", () => {
    const encoder = createWriteRequestEncoder({ histograms: "native" });
    const shared: [string, string][] = [["a", "1"]];
    const flush: SeriesSnapshot[] = [
      { name: "x", labels: shared, kind: "gauge", value: 1 },
      { name: "y", labels: shared, kind: "gauge", value: 2 },
    ];
    const texts = (identity: [string, string][]) => {
      const r = encoder.encodeFlush(flush, identity, T);
      if (!r.ok) throw new Error(r.error.message);
      return decodeRequests(r.value.requests).map((s) => labelText(s.labels));
    };
    expect(texts([["host", "h1"]])).toEqual(['{__name__="x", a="1", host="h1"}', '{__name__="y", a="1", host="h1"}']);
    expect(texts([["host", "h1"]])).toEqual(['{__name__="x", a="1", host="h1"}', '{__name__="y", a="1", host="h1"}']);
    expect(texts([["host", "h2"]])).toEqual(['{__name__="x", a="1", host="h2"}', '{__name__="y", a="1", host="h2"}']);
  });
});

describe("values on the wire", () => {
  test("samples keep special values; +0 is left out as the proto3 default and decodes as 0", () => {
    const values = [0, -0, 1e-300, -7.25, Number.MAX_VALUE, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53];
    const flush: SeriesSnapshot[] = values.map((value, i) => ({ name: `g${i}`, labels: [], kind: "gauge", value }));
    const series = decodeRequests(encodeOk(flush, { histograms: "native" }, []).requests);
    expect(series.map((s) => s.samples[0].value)).toEqual(values);
    expect(Object.is(series[1].samples[0].value, -0)).toBe(true);
  });

  test("timestamps before 1970 and at 0 survive", () => {
    for (const timestampMs of [0, -1, -1_000_000_000_000, 2 ** 50]) {
      const [s] = decodeRequests(encodeOk([{ name: "g", labels: [], kind: "gauge", value: 1 }], { histograms: "native" }, [], timestampMs).requests);
      expect(s.samples).toEqual([{ value: 1, timestamp: timestampMs }]);
    }
  });

  test("fractional histogram counts go out as a float histogram", () => {
    const h = new ExpoHistogram({ maxScale: 0 });
    h.record(3, 10 / 3);
    h.record(0, 0.5);
    h.record(-1, 1);
    const [s] = decodeRequests(encodeOk([{ name: "h", labels: [], kind: "expo", value: 0, expo: h.toData() }], { histograms: "native" }, []).requests);
    const hist = s.histograms[0];
    expect(hist.countInt).toBeUndefined();
    expect(hist.zeroCountInt).toBeUndefined();
    expect(hist.countFloat).toBeCloseTo(10 / 3 + 1.5, 12);
    expect(hist.zeroCountFloat).toBe(0.5);
    expect(hist.positiveSpans).toEqual([{ offset: 2, length: 1 }]);
    expect(hist.positiveCounts).toEqual([10 / 3]);
    expect(hist.positiveDeltas).toEqual([]);
    expect(hist.negativeCounts).toEqual([1]);
  });

  test("an exponential histogram below scale -4 falls back to classic buckets in native mode", () => {
    const h = new ExpoHistogram({ maxSize: 2 });
    for (const v of [1e-300, 1, 1e300]) h.record(v);
    const d = h.toData();
    expect(d.scale).toBeLessThan(-4);
    const encoding = encodeOk([{ name: "wide", labels: [], kind: "expo", value: 3, expo: d }], { histograms: "native" }, []);
    expect(encoding.classicFallbacks).toBe(1);
    const series = decodeRequests(encoding.requests);
    expect(series.every((s) => s.histograms.length === 0)).toBe(true);
    expect(byName(series, "wide_count")[0].samples[0].value).toBe(3);
    expect(byName(series, "wide_bucket").at(-1)!.samples[0].value).toBe(3);
  });

  test("explicit bounds that repeat or reach +Inf do not repeat an le series", () => {
    const explicit = { bounds: [1, 1, 2, Number.POSITIVE_INFINITY], counts: [1, 1, 1, 1, 0], count: 4, sum: 5 };
    const series = decodeRequests(encodeOk([{ name: "e", labels: [], kind: "explicit", value: 4, explicit }], { histograms: "classic" }, []).requests);
    const buckets = byName(series, "e_bucket");
    expect(buckets.map((b) => [labelValue(b, "le"), b.samples[0].value])).toEqual([
      ["1", 1],
      ["2", 3],
      ["+Inf", 4],
    ]);
  });
});

describe("property: random histograms through the wire", () => {
  test("decoded buckets equal the histogram's counts at schema min(scale, 8), and Prometheus' checks hold", () => {
    const random = seededRandom(11);
    const flush: SeriesSnapshot[] = [];
    for (let i = 0; i < 200; i++) {
      const h = new ExpoHistogram({ maxSize: 4 + Math.floor(random() * 160), maxScale: 20 });
      const spread = random() < 0.3 ? random() * 0.2 : random() * 60; // binades
      for (let k = 0, n = Math.floor(random() * 300); k < n; k++) {
        const r = random();
        h.record(r < 0.1 ? 0 : (r < 0.4 ? -1 : 1) * 2 ** ((random() - 0.5) * spread), 1 + Math.floor(random() * 5));
      }
      flush.push({ name: "h", labels: [["i", String(i)]], kind: "expo", value: 0, expo: h.toData() });
    }
    const encoding = encodeOk(flush, { histograms: "native" }, []);
    const series = decodeRequests(encoding.requests);
    expect(encoding.classicFallbacks).toBe(0);
    expect(series).toHaveLength(200);
    let downscaled = 0;
    for (const s of series) {
      const d = flush[Number(labelValue(s, "i"))].expo!;
      const expected = ExpoHistogram.fromData(d, { maxScale: 20, maxSize: 1000 });
      if (d.scale > 8) {
        expected.downscale(d.scale - 8);
        downscaled++;
      }
      const e = expected.toData();
      const [h] = s.histograms;
      expect(h.schema).toBe(Math.min(d.scale, 8));
      let total = h.zeroCountInt!;
      for (const [spans, deltas, want] of [
        [h.positiveSpans, h.positiveDeltas, e.positive],
        [h.negativeSpans, h.negativeDeltas, e.negative],
      ] as const) {
        const got = bucketsByIndex(spans, deltas, []);
        const wanted = new Map<number, number>();
        want.counts.forEach((c, j) => c !== 0 && wanted.set(want.offset + j + 1, c)); // Prometheus index = OTel + 1
        expect(got).toEqual(wanted);
        for (const c of got.values()) {
          expect(c).toBeGreaterThan(0); // no bucket population below zero
          total += c;
        }
        spans.slice(1).forEach((span) => expect(span.offset).toBeGreaterThan(0)); // only the first span may be negative
      }
      // Prometheus: count == zero_count + Σ buckets, exactly.
      expect(h.countInt).toBe(total);
      expect(h.countInt).toBe(d.count);
      expect(h.zeroCountInt).toBe(d.zeroCount);
      expect(h.sum).toBe(d.sum);
    }
    expect(downscaled).toBeGreaterThan(20);
  });
});

describe("stale markers", () => {
  const expired: StaleSeries[] = [
    { name: "game_matches_total", labels: [["mode", "ranked"]], kind: "counter" },
    { name: "game_players_connected", labels: [], kind: "gauge" },
    { name: "game_unique_players", labels: [], kind: "set" },
    { name: "game_tick_ms", labels: [["shard_id", "1"]], kind: "expo", last: tickHistogram() },
    { name: "request_seconds", labels: [["route", "join"]], kind: "explicit" },
  ];

  function encodeStale(options: WriteRequestEncoderOptions): { protobuf: Uint8Array; series: PlainTimeSeries[] } {
    const r = createWriteRequestEncoder(options).encodeStaleMarkers(expired, IDENTITY, T + 15_000);
    if (!r.ok) throw new Error(r.error.message);
    const protobuf = uncompressBody(onlyRequest(r.value).body);
    return { protobuf, series: decodeWriteRequest(protobuf) };
  }

  test("float series get the stale NaN as raw bytes 02 00 00 00 00 00 f0 7f", () => {
    const { protobuf, series } = encodeStale({ histograms: "native" });
    const STALE_NAN_BYTES = staleNanBytes();
    expect(Array.from(STALE_NAN_BYTES)).toEqual([0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f]);
    const sampleValueTag = 0x09; // Sample.value = 1, fixed64
    const floats = series.filter((s) => s.samples.length > 0);
    expect(countBytes(protobuf, Uint8Array.of(sampleValueTag, ...STALE_NAN_BYTES))).toBe(floats.length);
    expect(floats.map((s) => labelValue(s, "__name__"))).toEqual([
      "game_matches_total",
      "game_players_connected",
      "game_unique_players",
      "request_seconds_bucket",
      "request_seconds_count",
      "request_seconds_sum",
    ]);
    for (const s of floats) {
      expect(s.samples).toHaveLength(1);
      expect(s.samples[0].value).toBeNaN();
      expect(s.samples[0].timestamp).toBe(T + 15_000);
    }
    // Without the last snapshot only le="+Inf" of the explicit histogram is known.
    expect(byName(series, "request_seconds_bucket").map((s) => labelValue(s, "le"))).toEqual(["+Inf"]);
  });

  test("a native histogram series gets a stale histogram: sum = stale NaN, count 0, no buckets", () => {
    const { protobuf, series } = encodeStale({ histograms: "native" });
    const sumTag = 0x19; // Histogram.sum = 3, fixed64
    expect(countBytes(protobuf, Uint8Array.of(sumTag, ...staleNanBytes()))).toBe(1);
    const [tick] = byName(series, "game_tick_ms");
    expect(tick.samples).toEqual([]);
    expect(tick.histograms).toHaveLength(1);
    const h = tick.histograms[0];
    expect(h.sum).toBeNaN();
    expect(h).toMatchObject({ countInt: 0, zeroCountInt: 0, schema: 0, positiveSpans: [], negativeSpans: [], timestamp: T + 15_000 });
  });

  test("in classic mode a histogram's every le series known from its last snapshot goes stale", () => {
    const { series } = encodeStale({ histograms: "classic" });
    const { upperBounds } = expoToClassicBuckets(tickHistogram().expo!);
    const buckets = byName(series, "game_tick_ms_bucket");
    expect(buckets.map((b) => labelValue(b, "le"))).toEqual([...upperBounds.map(formatLe), "+Inf"]);
    for (const s of [...buckets, ...byName(series, "game_tick_ms_sum"), ...byName(series, "game_tick_ms_count")]) {
      expect(s.samples[0].value).toBeNaN();
    }
    expect(series.every((s) => s.histograms.length === 0)).toBe(true);
  });

  test("match the golden bytes", () => {
    expectGolden("stale-native.pb.hex", hexLines(encodeStale({ histograms: "native" }).protobuf));
    expectGolden("stale-classic.pb.hex", hexLines(encodeStale({ histograms: "classic" }).protobuf));
  });
});

describe("splitting a flush into requests", () => {
  function manySeries(n: number): SeriesSnapshot[] {
    return Array.from({ length: n }, (_, i) => ({ name: "game_events_total", labels: [["i", String(i).padStart(5, "0")]] as [string, string][], kind: "counter" as const, value: i }));
  }

  test("requests stay under maxRequestBytes and keep every series once, in order", () => {
    const encoding = encodeOk(manySeries(1000), { histograms: "native", maxRequestBytes: 4096, maxSamplesPerRequest: 1e9 }, []);
    expect(encoding.requests.length).toBeGreaterThan(5);
    for (const r of encoding.requests) {
      expect(r.uncompressedBytes).toBeLessThanOrEqual(4096);
      expect(uncompressBody(r.body)).toHaveLength(r.uncompressedBytes);
      expect(decodeWriteRequest(uncompressBody(r.body))).toHaveLength(r.series);
    }
    const values = decodeRequests(encoding.requests).map((s) => s.samples[0].value);
    expect(values).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test("requests hold at most maxSamplesPerRequest samples", () => {
    const encoding = encodeOk(manySeries(4500), { histograms: "native", maxSamplesPerRequest: 2000 }, []);
    expect(encoding.requests.map((r) => r.samples)).toEqual([2000, 2000, 500]);
    expect(decodeRequests(encoding.requests)).toHaveLength(4500);
  });

  test("a classic histogram's series always share one request", () => {
    const explicit = { bounds: [1, 2, 3, 4, 5, 6], counts: [1, 1, 1, 1, 1, 1, 1], count: 7, sum: 20 };
    const flush: SeriesSnapshot[] = [];
    for (let i = 0; i < 50; i++) {
      flush.push({ name: "c", labels: [["i", String(i)]], kind: "counter", value: i });
      flush.push({ name: "h", labels: [["i", String(i)]], kind: "explicit", value: 7, explicit });
    }
    for (const limits of [
      { maxRequestBytes: 1500, maxSamplesPerRequest: 1e9 },
      { maxRequestBytes: 1 << 20, maxSamplesPerRequest: 13 },
    ]) {
      const encoding = encodeOk(flush, { histograms: "classic", ...limits }, []);
      expect(encoding.requests.length).toBeGreaterThan(3);
      let total = 0;
      for (const r of encoding.requests) {
        const series = decodeWriteRequest(uncompressBody(r.body));
        total += series.length;
        const histograms = new Map<string, number>();
        for (const s of series.filter((x) => labelValue(x, "__name__")!.startsWith("h_"))) {
          histograms.set(labelValue(s, "i")!, (histograms.get(labelValue(s, "i")!) ?? 0) + 1);
        }
        for (const parts of histograms.values()) expect(parts).toBe(9); // 6 bounds + +Inf + _count + _sum
        expect(r.samples).toBeLessThanOrEqual(limits.maxSamplesPerRequest);
      }
      expect(total).toBe(50 * 10);
    }
  });

  test("a group bigger than maxRequestBytes goes out alone", () => {
    const explicit = { bounds: Array.from({ length: 100 }, (_, i) => i + 1), counts: new Array(101).fill(1), count: 101, sum: 1 };
    const flush: SeriesSnapshot[] = [
      { name: "a", labels: [], kind: "counter", value: 1 },
      { name: "big", labels: [], kind: "explicit", value: 101, explicit },
      { name: "b", labels: [], kind: "counter", value: 2 },
    ];
    const encoding = encodeOk(flush, { histograms: "native", maxRequestBytes: 1000 }, []);
    expect(encoding.requests.map((r) => r.series)).toEqual([1, 103, 1]);
    expect(encoding.requests[1].uncompressedBytes).toBeGreaterThan(1000);
  });

  test("an empty flush makes no request", () => {
    expect(encodeOk([], { histograms: "native" }).requests).toEqual([]);
  });
});

describe("with the real aggregator", () => {
  test("steady flushes reuse every encoded label set; expired series end with stale markers", () => {
    const aggregator = new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget({ maxSeries: 100, idleExpiryMs: 60_000 }) });
    const encoder = createWriteRequestEncoder({ histograms: "native" });
    const record = (nowMs: number, region: string) => {
      aggregator.record({ name: "game_matches_total", labels: { region }, value: { type: "counter", temporality: "delta", value: 1 } }, nowMs);
      aggregator.record({ name: "game_tick_ms", labels: { region }, value: { type: "observe", value: 16.6, weight: 1 } }, nowMs);
    };
    const flush = (nowMs: number): FlushEncoding => {
      const r = encoder.encodeFlush(aggregator.snapshot(), IDENTITY, nowMs);
      if (!r.ok) throw new Error(r.error.message);
      return r.value;
    };
    record(0, "eu");
    record(0, "us");
    expect(flush(10_000).labelSetsEncoded).toBe(4);
    record(10_000, "eu");
    const second = flush(20_000);
    expect(second.labelSetsEncoded).toBe(0); // the snapshot hands out the same labels arrays
    const series = decodeRequests(second.requests);
    expect(series.map((s) => `${labelValue(s, "__name__")} ${labelValue(s, "region")} ${labelValue(s, "host")}`)).toEqual([
      "game_matches_total eu gs-0001",
      "game_tick_ms eu gs-0001",
      "game_matches_total us gs-0001",
      "game_tick_ms us gs-0001",
    ]);
    expect(byName(series, "game_matches_total").map((s) => s.samples[0].value)).toEqual([2, 1]);
    expect(byName(series, "game_tick_ms").map((s) => s.histograms[0].countInt)).toEqual([2, 1]);

    const expired = aggregator.expireIdle(65_000); // idle 60 s: "us" (last updated at 0) goes, "eu" (10 s) stays
    expect(expired.map((e) => e.labels)).toEqual([[["region", "us"]], [["region", "us"]]]);
    const stale = encoder.encodeStaleMarkers(expired, IDENTITY, 65_000);
    if (!stale.ok) throw new Error(stale.error.message);
    expect(stale.value.labelSetsEncoded).toBe(0);
    const marked = decodeRequests(stale.value.requests);
    expect(marked.map((s) => [labelValue(s, "__name__"), labelValue(s, "region"), s.samples[0]?.value ?? s.histograms[0].sum])).toEqual([
      ["game_matches_total", "us", Number.NaN],
      ["game_tick_ms", "us", Number.NaN],
    ]);
  });
});

describe("label cache", () => {
  test("series unseen for 8–16 flushes are forgotten and encoded again when they come back", () => {
    const encoder = createWriteRequestEncoder({ histograms: "native" });
    const seen = (names: string[]) => {
      // Fresh arrays every time, as Aggregator.snapshot() hands them out.
      const r = encoder.encodeFlush(names.map((name) => ({ name, labels: [["a", "1"]], kind: "gauge" as const, value: 1 })), [], T);
      if (!r.ok) throw new Error(r.error.message);
      return r.value.labelSetsEncoded;
    };
    expect(seen(["kept", "gone"])).toBe(2);
    for (let i = 0; i < 7; i++) expect(seen(["kept"])).toBe(0);
    expect(seen(["kept", "gone"])).toBe(0); // 8 flushes later: still in the older generation
    for (let i = 0; i < 16; i++) expect(seen(["kept"])).toBe(0);
    expect(seen(["kept", "gone"])).toBe(1); // 16 flushes unseen: rebuilt
  });
});

describe("headers", () => {
  test("are the PRW 1.0 ones for a snappy-compressed protobuf WriteRequest", () => {
    expect(REMOTE_WRITE_HEADERS).toEqual({
      "Content-Encoding": "snappy",
      "Content-Type": "application/x-protobuf",
      "X-Prometheus-Remote-Write-Version": "0.1.0",
    });
  });
});

describe("options", () => {
  test.each([
    [{ histograms: "both" }, 'histograms must be "native" or "classic" (got "both")'],
    [{ histograms: "native", maxRequestBytes: 0 }, "maxRequestBytes must be a positive integer (got 0)"],
    [{ histograms: "native", maxSamplesPerRequest: 1.5 }, "maxSamplesPerRequest must be a positive integer (got 1.5)"],
  ])("%j is refused: %s", (options, message) => {
    expect(describeInvalidOptions(options as WriteRequestEncoderOptions)).toBe(message);
    expect(() => createWriteRequestEncoder(options as WriteRequestEncoderOptions)).toThrow(/^BUG: /);
  });
});
