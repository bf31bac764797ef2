import { describe, expect, test } from "vitest";
import { Hash64 } from "../../../hub/tenants/hash64";
import { rebuildWriteRequest, scanWriteRequest, type ScanLimits, type ScanResult } from "../../../hub/ingest/remote-write-decode";
import type { HubSeriesPolicy } from "../../../hub/ingest/hub-policy";
import {
  ascii,
  doubleBytes,
  encodeWriteRequest,
  expectGolden,
  floatSeries,
  gameLabels,
  indexOfBytes,
  LIMITS,
  newPolicy,
  patchBytes,
  prng,
  prometheus,
  type TimeSeriesShape,
} from "./ingest-test-helpers";

const T0 = 1_764_000_000_000;
const STALE_NAN = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f);

function scanOk(buf: Uint8Array, policy: HubSeriesPolicy = newPolicy(), limits: ScanLimits = LIMITS): ScanResult {
  const result = scanWriteRequest(buf, limits, policy);
  if (!result.ok) throw new Error(`scan failed: ${result.error.message}`);
  return result.value;
}

function verdicts(scan: ScanResult): string[] {
  return scan.series.map((s) => s.rejected?.reason ?? "ok");
}

function keptBytes(buf: Uint8Array, scan: ScanResult): Uint8Array {
  return rebuildWriteRequest(buf, scan.series.filter((s) => s.rejected === undefined), scan.metadata);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** One length-delimited field: tag, length, payload. */
function lenField(tag: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([tag, ...varint(payload.length), ...payload]);
}

function labelField(name: string, value: string): Uint8Array {
  return lenField(0x0a, new Uint8Array(prometheus.Label.encode({ name, value }).finish()));
}

function sampleField(value: number, timestamp: number): Uint8Array {
  return lenField(0x12, new Uint8Array(prometheus.Sample.encode({ value, timestamp }).finish()));
}

/** A realistic request: float series, an integer and a float native histogram, an exemplar, metadata. */
function realisticRequest(): prometheus.IWriteRequest {
  const exemplarSeries = floatSeries("game_match_duration_seconds_bucket", { ...gameLabels(3), le: "30" }, [[42, T0]]);
  exemplarSeries.exemplars = [{ labels: [{ name: "trace_id", value: "4bf92f3577b34da6a3ce929d0e0e4736" }], value: 27.5, timestamp: T0 - 500 }];
  return {
    timeseries: [
      floatSeries("game_players_connected", gameLabels(0), [[118, T0]]),
      floatSeries("game_ticks_total", gameLabels(1), [[1.5e9, T0], [1.5e9 + 3000, T0 + 15_000]]),
      {
        labels: floatSeries("game_tick_duration_ms", gameLabels(2)).labels,
        histograms: [
          {
            countInt: 12,
            sum: 171.5,
            schema: 3,
            zeroThreshold: 1e-128,
            zeroCountInt: 1,
            negativeSpans: [],
            positiveSpans: [
              { offset: -2, length: 2 },
              { offset: 2, length: 1 },
            ],
            positiveDeltas: [3, 2, -4],
            timestamp: T0,
          },
        ],
      },
      {
        labels: floatSeries("game_frame_time_ms", gameLabels(4)).labels,
        histograms: [{ countFloat: 3.5, sum: 10, schema: 0, zeroThreshold: 0, zeroCountFloat: 0.5, positiveSpans: [{ offset: 1, length: 2 }], positiveCounts: [1, 2], timestamp: T0 }],
      },
      exemplarSeries,
    ],
    metadata: [{ type: prometheus.MetricMetadata.MetricType.GAUGE, metricFamilyName: "game_players_connected", help: "Players connected now.", unit: "" }],
  };
}

describe("scanWriteRequest walks a WriteRequest once", () => {
  test("a realistic request: ranges, keys, names, counts (golden)", () => {
    const buf = encodeWriteRequest(realisticRequest());
    const scan = scanOk(buf);
    expect([scan.series.length, scan.samples, scan.histograms, scan.exemplars, scan.rejectedSeries]).toEqual([5, 4, 2, 1, 0]);
    const lines = scan.series.map((s) => `[${s.start}, ${s.end}) ${s.name} samples=${s.samples} histograms=${s.histograms} exemplars=${s.exemplars} ${s.rejected?.reason ?? "ok"}`);
    lines.push(...scan.metadata.map((m) => `metadata [${m.start}, ${m.end})`));
    expectGolden("scan-realistic.txt", `${lines.join("\n")}\n`);

    const original = prometheus.WriteRequest.decode(buf);
    scan.series.forEach((s, i) => {
      // Each range is one complete timeseries field; its identity is the hash of its label fields' bytes.
      const alone = prometheus.WriteRequest.decode(buf.subarray(s.start, s.end));
      expect(alone.timeseries).toEqual([original.timeseries[i]]);
      const labelBytes = concat(...(original.timeseries[i].labels ?? []).map((l) => labelField(l.name ?? "", l.value ?? "")));
      expect(idOf(s)).toBe(hashOfBytes(labelBytes));
    });
    expect(prometheus.WriteRequest.decode(buf.subarray(scan.metadata[0].start, scan.metadata[0].end)).metadata).toEqual(original.metadata);
  });

  test("when every series is kept, the rebuilt request is the original byte for byte", () => {
    const buf = encodeWriteRequest(realisticRequest());
    expect(Buffer.from(keptBytes(buf, scanOk(buf))).equals(Buffer.from(buf))).toBe(true);
  });

  test("an empty body is an empty request", () => {
    expect(scanOk(new Uint8Array(0))).toEqual({ series: [], samples: 0, histograms: 0, exemplars: 0, rejectedSeries: 0, metadata: [], droppedBytes: 0 });
  });

  test("labels interleaved with samples get the same identity as contiguous ones", () => {
    const labels = [labelField("__name__", "up"), labelField("job", "node"), labelField("zone", "a")];
    const sample = sampleField(1, T0);
    const contiguous = lenField(0x0a, concat(...labels, sample));
    const interleaved = lenField(0x0a, concat(labels[0], sample, labels[1], labels[2]));
    const a = scanOk(contiguous).series[0];
    const b = scanOk(interleaved).series[0];
    expect(idOf(b)).toBe(idOf(a));
    expect([b.name, b.samples, b.rejected]).toEqual(["up", 1, undefined]);
  });

  test("a label with an empty value is kept (receivers treat it as absent)", () => {
    const buf = encodeWriteRequest({ timeseries: [floatSeries("up", { job: "", zone: "a" })] });
    expect(verdicts(scanOk(buf))).toEqual(["ok"]);
  });
});

describe("scanWriteRequest rejects series, and the rebuilt request keeps the others byte-identical", () => {
  test("a forbidden label rejects its series only", () => {
    const request = { timeseries: [floatSeries("game_kills_total", gameLabels(0)), floatSeries("game_kills_total", { ...gameLabels(1), player_id: "p-77" }), floatSeries("game_deaths_total", gameLabels(2))] };
    const buf = encodeWriteRequest(request);
    const scan = scanOk(buf);
    expect(verdicts(scan)).toEqual(["ok", "forbidden_label", "ok"]);
    expect(scan.series[1].rejected?.message).toBe('label "player_id" is forbidden (player identity never leaves the host)');
    expect(scan.rejectedSeries).toBe(1);

    const rebuilt = keptBytes(buf, scan);
    const s = scan.series;
    expect(Buffer.from(rebuilt).equals(Buffer.from(concat(buf.subarray(s[0].start, s[0].end), buf.subarray(s[2].start, s[2].end))))).toBe(true);
    expect(prometheus.WriteRequest.decode(rebuilt).timeseries).toEqual(prometheus.WriteRequest.decode(encodeWriteRequest({ timeseries: [request.timeseries[0], request.timeseries[2]] })).timeseries);
  });

  test("native histogram series (integer and float) pass through byte-identical", () => {
    const request = realisticRequest();
    request.timeseries!.push(floatSeries("game_chat_lines_total", { ...gameLabels(5), message: "gg wp" }));
    const buf = encodeWriteRequest(request);
    const scan = scanOk(buf);
    expect(verdicts(scan)).toEqual(["ok", "ok", "ok", "ok", "ok", "forbidden_label"]);
    const rebuilt = keptBytes(buf, scan);
    for (const s of scan.series.slice(0, 5)) expect(indexOfBytes(rebuilt, buf.subarray(s.start, s.end))).toBeGreaterThanOrEqual(0);
    const decoded = prometheus.WriteRequest.decode(rebuilt);
    const original = prometheus.WriteRequest.decode(buf);
    expect(decoded.timeseries).toEqual(original.timeseries.slice(0, 5));
    expect(decoded.metadata).toEqual(original.metadata);
    expect(scanOk(rebuilt).histograms).toBe(2);
  });

  test("stale NaN samples keep their exact bit pattern (never read as a JS number)", () => {
    const marker = 1.2345678e-300; // placeholder value, patched to the stale NaN's bytes below
    const request = { timeseries: [floatSeries("game_players_connected", gameLabels(0), [[marker, T0]]), floatSeries("game_players_connected", { ...gameLabels(1), raw_ip: "x" })] };
    const buf = patchBytes(encodeWriteRequest(request), doubleBytes(marker), STALE_NAN);
    const scan = scanOk(buf);
    expect(verdicts(scan)).toEqual(["ok", "forbidden_label"]);
    const rebuilt = keptBytes(buf, scan);
    const at = indexOfBytes(rebuilt, Uint8Array.of(0x09, ...STALE_NAN));
    expect(at).toBeGreaterThan(0);
    const view = new DataView(rebuilt.buffer, rebuilt.byteOffset + at + 1, 8);
    expect([view.getUint32(4, true).toString(16), view.getUint32(0, true).toString(16)]).toEqual(["7ff00000", "2"]);
  });

  test("a label value that is not UTF-8 rejects the series as invalid_utf8", () => {
    const request = { timeseries: [floatSeries("game_map_loads_total", { ...gameLabels(0), map: "café" }), floatSeries("game_map_loads_total", gameLabels(1))] };
    // "é" is c3 a9; c3 28 is a lead byte without its continuation byte.
    const buf = patchBytes(encodeWriteRequest(request), ascii("café"), Uint8Array.of(0x63, 0x61, 0x66, 0xc3, 0x28));
    const scan = scanOk(buf);
    expect(verdicts(scan)).toEqual(["invalid_utf8", "ok"]);
    expect(scan.series[0].rejected?.message).toBe('label "map" value is not valid UTF-8');
  });

  test.each([
    ["unsorted labels", "unsorted_labels", [["__name__", "up"], ["zone", "a"], ["job", "x"]], 'labels are not sorted by name: "zone" comes before "job"'],
    ["a duplicate label", "duplicate_label", [["__name__", "up"], ["job", "a"], ["job", "b"]], 'label "job" appears twice'],
    ["uppercase sorts before __name__ (byte order)", "ok", [["Zone", "a"], ["__name__", "up"]], ""],
    ["__name__ not first but in order is fine", "ok", [["__name__", "up"], ["a", "1"]], ""],
    ["no __name__", "missing_metric_name", [["job", "a"]], "series has no __name__ label"],
    ["no labels at all", "missing_metric_name", [], "series has no __name__ label"],
    ["an invalid label name", "invalid_label_name", [["__name__", "up"], ["job-name", "a"]], 'label "job-name" is not a valid label name'],
    ["an empty label name", "invalid_label_name", [["", "a"], ["__name__", "up"]], 'label "" is not a valid label name'],
    ["an invalid metric name", "invalid_metric_name", [["__name__", "9lives"]], 'metric name "9lives" is not a valid Prometheus name'],
    ["a PII value", "pii_value", [["__name__", "up"], ["peer", "10.1.2.3"]], 'label "peer" value looks like an IP address'],
    ["free text", "free_text", [["__name__", "up"], ["reason", "player left the game"]], 'label "reason" value contains whitespace'],
  ])("%s → %s", (_what, reason, pairs, message) => {
    const buf = encodeWriteRequest({ timeseries: [{ labels: pairs.map(([name, value]) => ({ name, value })), samples: [{ value: 1, timestamp: T0 }] }] });
    const s = scanOk(buf).series[0];
    expect(s.rejected?.reason ?? "ok").toBe(reason);
    expect(s.rejected?.message ?? "").toBe(message);
  });

  test("an exemplar with a forbidden label rejects its series; trace IDs are fine", () => {
    const ok = floatSeries("game_rpc_seconds_bucket", { ...gameLabels(0), le: "0.5" });
    ok.exemplars = [{ labels: [{ name: "trace_id", value: "12345678901234567890abcdef" }], value: 0.4, timestamp: T0 }];
    const bad = floatSeries("game_rpc_seconds_bucket", { ...gameLabels(1), le: "0.5" });
    bad.exemplars = [{ labels: [{ name: "player_id", value: "p-1" }], value: 0.4, timestamp: T0 }];
    const scan = scanOk(encodeWriteRequest({ timeseries: [ok, bad] }));
    expect(verdicts(scan)).toEqual(["ok", "forbidden_label"]);
    expect(scan.series[1].rejected?.message).toBe('exemplar label "player_id" is forbidden (player identity never leaves the host)');
    expect(scan.exemplars).toBe(2);
  });
});

describe("scanWriteRequest applies the request limits", () => {
  const manyLabels: TimeSeriesShape = floatSeries("game_x", Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`l${String(i).padStart(2, "0")}`, "v"])));

  test.each([
    ["labels per series (__name__ counted)", { maxLabelsPerSeries: 12 }, "too_many_labels", "series has 13 labels, more than the limit of 12 per series"],
    ["label name bytes", { maxLabelNameBytes: 7 }, "label_name_too_long", "a label name has 8 bytes, more than the limit of 7"],
    ["label value bytes", { maxLabelValueBytes: 5 }, "value_too_long", "a label value has 6 bytes, more than the limit of 5"],
  ])("%s", (_what, override, reason, message) => {
    const policy = newPolicy();
    const buf = encodeWriteRequest({ timeseries: [manyLabels] });
    expect(scanOk(buf, policy, { ...LIMITS, ...override }).series[0].rejected).toEqual({ reason, message });
    // The same (now cached) label set under looser limits — another tenant — is admitted.
    expect(scanOk(buf, policy, LIMITS).series[0].rejected).toBeUndefined();
    expect(scanOk(buf, policy, { ...LIMITS, ...override }).series[0].rejected?.reason).toBe(reason);
  });

  test("more series than maxSeries is a 413 for the whole request", () => {
    const buf = encodeWriteRequest({ timeseries: Array.from({ length: 4 }, (_, i) => floatSeries("up", gameLabels(i))) });
    expect(scanWriteRequest(buf, { ...LIMITS, maxSeries: 4 }, newPolicy()).ok).toBe(true);
    const over = scanWriteRequest(buf, { ...LIMITS, maxSeries: 3 }, newPolicy());
    expect(over).toEqual({ ok: false, error: { status: 413, reason: "too_many_series", message: "request has more than 3 series, the limit per request (maxSeriesPerRequest)" } });
  });
});

/** A scanned series' identity: the 64-bit hash of its label bytes. */
const idOf = (s: { hashHi: number; hashLo: number }) => `${s.hashHi}:${s.hashLo}`;

/** Hash64 of bytes as the scanner hashes a series' label bytes (one latin1 char per byte). */
function hashOfBytes(bytes: Uint8Array): string {
  const h = new Hash64();
  h.hash(Buffer.from(bytes).toString("latin1"));
  return `${h.hi}:${h.lo}`;
}

describe("scanWriteRequest caches verdicts by raw label bytes", () => {
  test("a label set seen before is not judged again", () => {
    const policy = newPolicy();
    // 50 series, 20 distinct label sets.
    const buf = encodeWriteRequest({ timeseries: Array.from({ length: 50 }, (_, i) => floatSeries("game_ticks_total", gameLabels(i % 20))) });
    const first = scanOk(buf, policy);
    const misses = policy.seriesCache.misses;
    expect([misses, new Set(first.series.map(idOf)).size]).toEqual([20, 20]);
    const second = scanOk(buf, policy);
    expect(policy.seriesCache.misses).toBe(misses);
    expect(second.series.map((s) => [idOf(s), s.name, s.rejected])).toEqual(first.series.map((s) => [idOf(s), s.name, s.rejected]));
  });

  test("a new series made of labels seen before only judges its new labels", () => {
    const policy = newPolicy();
    let checked: string[] = [];
    const checkLabel = policy.checkLabel;
    policy.checkLabel = (name, value) => {
      checked.push(`${name}=${value}`);
      return checkLabel(name, value);
    };
    scanOk(encodeWriteRequest({ timeseries: [floatSeries("game_x", { host: "gs-1", shard_id: "1" })] }), policy);
    expect(checked).toEqual(["host=gs-1", "shard_id=1"]);
    checked = [];
    const scan = scanOk(encodeWriteRequest({ timeseries: [floatSeries("game_x", { host: "gs-1", shard_id: "2" }), floatSeries("game_y", { host: "gs-1", player_id: "p", shard_id: "1" })] }), policy);
    expect(checked).toEqual(["shard_id=2", "player_id=p"]);
    expect(verdicts(scan)).toEqual(["ok", "forbidden_label"]);
  });

  test("the cache stays within maxCachedSeries and verdicts stay right after eviction", () => {
    const policy = newPolicy({ maxCachedSeries: 100 });
    const series = Array.from({ length: 1000 }, (_, i) => floatSeries("game_x", { id: `s${i}`, ...(i % 7 === 0 ? { user_id: "u" } : {}) }));
    const buf = encodeWriteRequest({ timeseries: series });
    for (let round = 0; round < 3; round++) {
      const scan = scanOk(buf, policy);
      expect(policy.seriesCache.size).toBeLessThanOrEqual(100);
      expect(scan.series.every((s, i) => (s.rejected?.reason ?? "ok") === (i % 7 === 0 ? "forbidden_label" : "ok"))).toBe(true);
    }
  });
});

describe("scanWriteRequest and malformed input", () => {
  test("every truncation point is a 400 unless it falls between top-level fields", () => {
    const buf = encodeWriteRequest(realisticRequest());
    const full = scanOk(buf);
    const boundaries = new Set([0, ...full.series.map((s) => s.end), ...full.metadata.map((m) => m.end)]);
    for (let cut = 0; cut < buf.length; cut++) {
      const result = scanWriteRequest(buf.subarray(0, cut), LIMITS, newPolicy());
      if (boundaries.has(cut)) {
        expect(result.ok, `cut at ${cut} is a boundary`).toBe(true);
        if (result.ok) expect(result.value.series.length).toBe(full.series.filter((s) => s.end <= cut).length);
      } else {
        expect(result.ok ? "ok" : `${result.error.status} ${result.error.reason}`, `cut at ${cut}`).toBe("400 malformed_protobuf");
      }
    }
  });

  test.each([
    ["timeseries as a varint", Uint8Array.of(0x08, 0x01)],
    ["a sample value as a varint", lenField(0x0a, concat(labelField("__name__", "up"), lenField(0x12, Uint8Array.of(0x08, 0x01))))],
    ["a label as a fixed64", lenField(0x0a, Uint8Array.of(0x09, 1, 2, 3, 4, 5, 6, 7, 8))],
    ["a histogram schema as a fixed32", lenField(0x0a, concat(labelField("__name__", "up"), lenField(0x22, Uint8Array.of(0x25, 1, 2, 3, 4))))],
    ["packed counts not a multiple of 8", lenField(0x0a, concat(labelField("__name__", "up"), lenField(0x22, Uint8Array.of(0x6a, 3, 1, 2, 3))))],
    ["a nested length overrunning its parent", Uint8Array.of(0x0a, 0x04, 0x0a, 0x09, 0x0a, 0x01)],
    ["a varint longer than 10 bytes", lenField(0x0a, concat(labelField("__name__", "up"), lenField(0x12, Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))))],
    ["field number 0", Uint8Array.of(0x02, 0x00)],
    ["wire type 7", Uint8Array.of(0x0f)],
  ])("%s → 400 malformed_protobuf", (_what, buf) => {
    const result = scanWriteRequest(buf, LIMITS, newPolicy());
    expect(result.ok ? "ok" : `${result.error.status} ${result.error.reason}`).toBe("400 malformed_protobuf");
  });

  test("random bytes and mutated requests never throw; accepted ones rebuild and re-scan the same", () => {
    const random = prng(7);
    const valid = encodeWriteRequest(realisticRequest());
    const policy = newPolicy({ maxCachedSeries: 1000 });
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      let buf: Uint8Array;
      if (i % 2 === 0) {
        buf = new Uint8Array(Math.floor(random() * 80)).map(() => Math.floor(random() * 256));
      } else {
        buf = valid.slice();
        for (let k = 0; k < 1 + Math.floor(random() * 3); k++) buf[Math.floor(random() * buf.length)] = Math.floor(random() * 256);
      }
      const result = scanWriteRequest(buf, LIMITS, policy);
      if (!result.ok) {
        expect([400, 413]).toContain(result.error.status);
        continue;
      }
      accepted++;
      const rebuilt = keptBytes(buf, result.value);
      const again = scanOk(rebuilt, policy);
      expect(again.rejectedSeries).toBe(0);
      expect(again.series.map(idOf)).toEqual(result.value.series.filter((s) => !s.rejected).map(idOf));
    }
    expect(accepted).toBeGreaterThan(100);
  });
});

describe("metadata and unknown fields", () => {
  test("unknown top-level fields are skipped and not rebuilt; metadata is", () => {
    const series = encodeWriteRequest({ timeseries: [floatSeries("up", { job: "a" }), floatSeries("up", { job: "b", user_id: "u" })] });
    const metadata = encodeWriteRequest({ metadata: [{ type: 1, metricFamilyName: "up", help: "Target up.", unit: "" }] });
    const unknown = Uint8Array.of(0x10, 0x01); // field 2 (Cortex "source"), varint
    const buf = concat(series, unknown, metadata);
    const scan = scanOk(buf);
    expect([scan.droppedBytes, scan.metadata.length]).toEqual([2, 1]);
    const rebuilt = keptBytes(buf, scan);
    const decoded = prometheus.WriteRequest.decode(rebuilt);
    expect(decoded.timeseries.map((t) => t.labels?.[1]?.value)).toEqual(["a"]);
    expect(decoded.metadata[0].help).toBe("Target up.");
  });

  test("metadata with broken UTF-8 is dropped, not the request", () => {
    const buf = patchBytes(encodeWriteRequest({ timeseries: [floatSeries("up", {})], metadata: [{ type: 2, metricFamilyName: "up", help: "naïve" }] }), ascii("ï"), Uint8Array.of(0xc3, 0xc3));
    const scan = scanOk(buf);
    expect([scan.series.length, scan.metadata.length, scan.droppedBytes > 0]).toEqual([1, 0, true]);
  });
});

describe("rebuildWriteRequest", () => {
  test("merges series and metadata ranges in byte order and coalesces neighbours", () => {
    const buf = Uint8Array.from({ length: 20 }, (_, i) => i);
    const out = rebuildWriteRequest(buf, [{ start: 0, end: 3 }, { start: 3, end: 5 }, { start: 12, end: 14 }], [{ start: 6, end: 8 }, { start: 18, end: 20 }]);
    expect(Array.from(out)).toEqual([0, 1, 2, 3, 4, 6, 7, 12, 13, 18, 19]);
  });

  test("ranges out of order are a bug, not a silent reordering of samples", () => {
    const buf = new Uint8Array(10);
    expect(() => rebuildWriteRequest(buf, [{ start: 5, end: 6 }, { start: 0, end: 2 }])).toThrow(/^BUG: /);
    expect(() => rebuildWriteRequest(buf, [{ start: 5, end: 11 }])).toThrow(/^BUG: /);
  });
});

describe("scanWriteRequest matches predicted label sets in place", () => {
  const series = (name: string, labels: Uint8Array[], ...rest: Uint8Array[]) => lenField(0x0a, concat(labelField("__name__", name), ...labels, ...rest));
  const job = labelField("job", "node");
  const zone = labelField("zone", "a");
  const extra = labelField("zz", "b");
  const sample = sampleField(1, T0);
  /** What a cold cache makes of `buf`: the reference for a warm scan. */
  const cold = (buf: Uint8Array) => scanOk(buf).series.map((s) => [idOf(s), s.name, s.samples, s.rejected?.reason ?? "ok"]);
  const warm = (scan: ScanResult) => scan.series.map((s) => [idOf(s), s.name, s.samples, s.rejected?.reason ?? "ok"]);

  test("a request repeated in the same order is matched series by series without misses", () => {
    const policy = newPolicy();
    const buf = encodeWriteRequest({ timeseries: Array.from({ length: 30 }, (_, i) => floatSeries("game_ticks_total", gameLabels(i))) });
    scanOk(buf, policy);
    const [hits, predicted, misses] = [policy.seriesCache.hits, policy.seriesCache.predictedHits, policy.seriesCache.misses];
    const again = scanOk(buf, policy);
    // The first series is found by hash (nothing before it); the other 29 are predicted.
    expect([policy.seriesCache.hits - hits, policy.seriesCache.predictedHits - predicted, policy.seriesCache.misses - misses]).toEqual([30, 29, 0]);
    expect(warm(again)).toEqual(cold(buf));
  });

  test("a series with one label more than the predicted one is not taken for it", () => {
    const policy = newPolicy();
    scanOk(concat(series("up", [job]), series("up", [job, zone])), policy);
    // Same order, but the second series now has a third label after the predicted two.
    const next = concat(series("up", [job]), series("up", [job, zone, extra], sample));
    expect(warm(scanOk(next, policy))).toEqual(cold(next));
    expect(scanOk(next, policy).series[1].cached.labelCount).toBe(4);
  });

  test("labels after the samples make the series start again the long way, with the joined key", () => {
    const policy = newPolicy();
    scanOk(concat(series("up", [job]), series("up", [job, zone])), policy);
    // The second series starts with the predicted bytes (__name__, job, zone), then a sample,
    // then one more label: its key is all four label fields, not the predicted three.
    const next = concat(series("up", [job]), series("up", [job, zone], sample, extra));
    const scan = scanOk(next, policy);
    expect(warm(scan)).toEqual(cold(next));
    expect([scan.series[1].cached.labelCount, scan.series[1].samples]).toEqual([4, 1]);
    expect(idOf(scan.series[1])).toBe(idOf(scanOk(concat(series("up", [job, zone, extra], sample))).series[0]));
  });

  test("a predicted series whose verdict was a rejection is still rejected, and limits still apply", () => {
    const policy = newPolicy();
    const forbidden = labelField("player_id", "p-1");
    const buf = concat(series("up", [job]), series("up", [forbidden]), series("up", [job, zone]));
    scanOk(buf, policy);
    const again = scanOk(buf, policy);
    expect(verdicts(again)).toEqual(["ok", "forbidden_label", "ok"]);
    const tight = scanWriteRequest(buf, { ...LIMITS, maxLabelsPerSeries: 2 }, policy);
    expect(tight.ok && tight.value.series.map((s) => s.rejected?.reason ?? "ok")).toEqual(["ok", "forbidden_label", "too_many_labels"]);
  });

  test("random requests over a warm cache scan exactly as over a cold one", () => {
    const rand = prng(7);
    const policy = newPolicy({ maxCachedSeries: 64 });
    const pool = Array.from({ length: 40 }, (_, i) => [labelField("a", `v${i % 5}`), labelField("b", `w${i}`), ...(i % 9 === 0 ? [labelField("user_id", "u")] : [])]);
    // Senders repeat their series in the same order: 6 fixed orders, each request one of them
    // with some series changed in shape, so predictions both hold and fail.
    const orders = Array.from({ length: 6 }, () => Array.from({ length: 1 + Math.floor(rand() * 12) }, () => Math.floor(rand() * pool.length)));
    for (let round = 0; round < 300; round++) {
      const parts: Uint8Array[] = [];
      for (const index of orders[Math.floor(rand() * orders.length)]) {
        const labels = pool[index];
        const shape = rand();
        // Contiguous labels; a label moved after the sample; or one label dropped.
        if (shape < 0.8) parts.push(series("m", labels, sample));
        else if (shape < 0.9) parts.push(series("m", labels.slice(0, 1), sample, ...labels.slice(1)));
        else parts.push(series("m", labels.slice(1), sample));
      }
      const buf = concat(...parts);
      expect(warm(scanOk(buf, policy))).toEqual(cold(buf));
    }
    expect(policy.seriesCache.predictedHits).toBeGreaterThan(100);
  });
});
