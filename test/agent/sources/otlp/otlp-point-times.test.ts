import { describe, expect, test } from "vitest";
import type { Point } from "../../../../agent/core/points";
import { decodeOtlpMetrics, type OtlpDecodeOptions, type OtlpFormat } from "../../../../agent/sources/otlp/otlp-decode";
import { encodeJsonRequest, encodeRequest, rawMessage, readTestdataJson } from "./otlp-test-helpers";

const FORMATS = ["protobuf", "json"] as const;

function points(request: unknown, format: OtlpFormat, options: OtlpDecodeOptions = { pointTimes: true }): Point[] {
  const body = format === "protobuf" ? encodeRequest(request) : encodeJsonRequest(request);
  const result = decodeOtlpMetrics(body, format, options);
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`);
  return result.value.points;
}

/** One metric of each point kind, the i-th data point of each at times[i] (undefined: no time). */
function requestAt(times: ReadonlyArray<string | undefined>): unknown {
  const at = (i: number) => (times[i] === undefined ? {} : { timeUnixNano: times[i] });
  return {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              { name: "g", gauge: { dataPoints: [{ ...at(0), asDouble: 1 }] } },
              { name: "c", sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ ...at(1), asInt: "2" }] } },
              { name: "h", histogram: { aggregationTemporality: 2, dataPoints: [{ ...at(2), count: "1", sum: 1, explicitBounds: [1], bucketCounts: ["1", "0"] }] } },
              { name: "e", exponentialHistogram: { aggregationTemporality: 2, dataPoints: [{ ...at(3), count: "1", zeroCount: "1" }] } },
            ],
          },
        ],
      },
    ],
  };
}

describe("pointTimes: time_unix_nano → Point.timeMs", () => {
  test.each(FORMATS)("off (the agent's default): no point has a timeMs key (%s)", (format) => {
    for (const request of [requestAt(["1764000120000000000", "1764000120000000000", "1764000120000000000", "1764000120000000000"]), readTestdataJson("request-all-types.json")]) {
      const decoded = points(request, format, {});
      expect(decoded.length).toBeGreaterThan(0);
      expect(decoded.filter((p) => "timeMs" in p)).toEqual([]);
    }
  });

  test.each(FORMATS)("on: every point kind carries its time, floored to whole ms (%s)", (format) => {
    const decoded = points(requestAt(["1764000120123456789", "1764000120999999999", "1764000000000000001", "18446744073709551615"]), format);
    expect(decoded.map((p) => [p.name, p.timeMs])).toEqual([
      ["g", 1_764_000_120_123],
      ["c", 1_764_000_120_999],
      ["h", 1_764_000_000_000],
      ["e", 18_446_744_073_709], // 2^64 - 1 ns
    ]);
  });

  test.each(FORMATS)("on: 0 or absent is undefined; under 1 ms is 0 (%s)", (format) => {
    const decoded = points(requestAt([undefined, "0", "999999", "1000000"]), format);
    expect(decoded.map((p) => p.timeMs)).toEqual([undefined, undefined, 0, 1]);
  });

  test("JSON: a run of zeros is unset; a number is exact for every integer double", () => {
    expect(points(requestAt(["0000000000"]), "json")[0].timeMs).toBeUndefined();
    const numeric = (nanos: number) => {
      const request = requestAt(["0"]) as { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ gauge: { dataPoints: [{ timeUnixNano: unknown }] } }] }] }] };
      request.resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].timeUnixNano = nanos;
      return points(request, "json")[0].timeMs;
    };
    expect(numeric(0)).toBeUndefined();
    expect(numeric(1_500_000)).toBe(1);
    expect(numeric(1764000120999999744)).toBe(1_764_000_120_999); // a double exactly; 1e6 does not divide it
    expect(numeric(2 ** 64 - 2048)).toBe(18_446_744_073_709); // the largest double below 2^64
  });

  test.each([["a string", '"x"'], ["negative", "-1"], ["a fraction", "1.5"], ["2^64", "18446744073709551616"], ["an exponent string", '"1e18"']])(
    "JSON: a timeUnixNano that is %s makes the request malformed when asked for, and is ignored otherwise",
    (_what, literal) => {
      const text = JSON.stringify(requestAt(["0"])).replace('"timeUnixNano":"0"', `"timeUnixNano":${literal}`);
      const body = new TextEncoder().encode(text);
      const asked = decodeOtlpMetrics(body, "json", { pointTimes: true });
      expect(asked.ok ? undefined : asked.error).toEqual({ code: "OTLP_BAD_JSON", message: expect.stringMatching(/^invalid OTLP JSON: timeUnixNano must be /) });
      expect(decodeOtlpMetrics(body, "json").ok).toBe(true);
    },
  );

  test("protobuf: the fixed64 halves give exact ms for random times (checked against BigInt)", () => {
    let seed = 42;
    const next32 = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed;
    };
    for (let i = 0; i < 2_000; i++) {
      const nanos = (BigInt(next32()) << 32n) | BigInt(next32());
      const decoded = points(requestAt([nanos.toString()]), "protobuf");
      expect(decoded[0].timeMs).toBe(Number(nanos / 1_000_000n));
    }
  });

  test("protobuf: time_unix_nano is found wherever it sits in the data point", () => {
    // NumberDataPoint{as_double = 4: 1, time_unix_nano = 3: …} with the time last on the wire.
    const point = rawMessage([{ field: 4, double: 1 }, { field: 3, fixed64: 1_764_000_120_000_000_000 }]);
    const gauge = rawMessage([{ field: 1, bytes: point }]);
    const metric = rawMessage([{ field: 5, bytes: gauge }, { field: 1, string: "g" }]);
    const body = rawMessage([{ field: 1, message: [{ field: 2, message: [{ field: 2, bytes: metric }] }] }]);
    const result = decodeOtlpMetrics(body, "protobuf", { pointTimes: true });
    expect(result.ok && result.value.points.map((p) => [p.name, p.timeMs])).toEqual([["g", 1_764_000_120_000]]);
  });
});
