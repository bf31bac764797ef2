import { describe, expect, test } from "vitest";
import { decodeOtlpMetrics, type OtlpDecoded, type OtlpFormat } from "../../../../agent/sources/otlp/otlp-decode";
import {
  concatBytes,
  encodeJsonRequest,
  encodeRequest,
  ExportMetricsServiceRequest,
  expectGolden,
  patchBytes,
  rawMessage,
  readTestdataJson,
  stableJson,
  type RawField,
} from "./otlp-test-helpers";

const INCLUDE = { includeResourceAttributes: new Set(["service_name", "host_name"]) };

function decodeOk(body: Uint8Array, format: OtlpFormat, options = INCLUDE): OtlpDecoded {
  const result = decodeOtlpMetrics(body, format, options);
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

function errorCode(body: Uint8Array, format: OtlpFormat): string | undefined {
  const result = decodeOtlpMetrics(body, format);
  return result.ok ? undefined : result.error.code;
}

// --- one request with every type and rule, in both encodings --------------------------------

describe("request-all-types.json", () => {
  const request = readTestdataJson("request-all-types.json");

  test("protobuf decodes to the golden points and rejections", () => {
    expectGolden("decoded-all-types.json", stableJson(decodeOk(encodeRequest(request), "protobuf")));
  });

  test("JSON decodes to the same golden points and rejections", () => {
    expectGolden("decoded-all-types.json", stableJson(decodeOk(encodeJsonRequest(request), "json")));
  });

  test("without includeResourceAttributes no resource attribute becomes a label", () => {
    const decoded = decodeOk(encodeRequest(request), "protobuf", { includeResourceAttributes: new Set() });
    const labelNames = new Set(decoded.points.flatMap((p) => Object.keys(p.labels)));
    expect(labelNames.has("service_name")).toBe(false);
    // The kvlist resource attribute is not included, so bad_resource's points are kept.
    expect(decoded.points.filter((p) => p.name === "bad_resource")).toHaveLength(2);
  });
});

// --- protobuf wire rules ------------------------------------------------------------------

/** Request → ResourceMetrics → ScopeMetrics → [metric]. */
function wrapMetric(metric: RawField[], resource: RawField[] = []): Uint8Array {
  return rawMessage([
    {
      field: 1,
      message: [
        ...(resource.length > 0 ? [{ field: 1, message: resource }] : []),
        { field: 2, message: [{ field: 2, message: metric }] },
      ],
    },
  ]);
}

const kvString = (key: string, value: string): RawField[] => [
  { field: 1, string: key },
  { field: 2, message: [{ field: 1, string: value }] },
];

describe("protobuf field order and unknown fields", () => {
  test("a metric whose data comes before its name, with temporality after the points", () => {
    const body = wrapMetric([
      {
        field: 7, // sum
        message: [
          { field: 1, message: [{ field: 7, message: kvString("k", "v") }, { field: 4, double: 2 }] },
          { field: 3, varint: 1 }, // is_monotonic
          { field: 2, varint: 1 }, // delta
        ],
      },
      { field: 1, string: "late.name" },
    ]);
    expect(decodeOk(body, "protobuf").points).toEqual([
      { name: "late_name", labels: { k: "v" }, startTimeMs: undefined, value: { type: "counter", temporality: "delta", value: 2 } },
    ]);
  });

  test("a KeyValue whose value comes before its key", () => {
    const body = wrapMetric([
      { field: 1, string: "g" },
      { field: 5, message: [{ field: 1, message: [{ field: 7, message: [{ field: 2, message: [{ field: 1, string: "v" }] }, { field: 1, string: "k" }] }, { field: 4, double: 1 }] }] },
    ]);
    expect(decodeOk(body, "protobuf").points[0].labels).toEqual({ k: "v" });
  });

  test("unknown fields of every wire type are skipped at every level", () => {
    const unknown: RawField[] = [
      { field: 99, varint: 300 },
      { field: 98, double: 1.5 },
      { field: 97, string: "x" },
      { field: 96, fixed32: 7 },
    ];
    const body = rawMessage([
      ...unknown,
      {
        field: 1,
        message: [
          ...unknown,
          {
            field: 2,
            message: [
              ...unknown,
              {
                field: 2,
                message: [
                  ...unknown,
                  { field: 1, string: "g" },
                  { field: 5, message: [...unknown, { field: 1, message: [...unknown, { field: 7, message: [...unknown, ...kvString("k", "v")] }, { field: 4, double: 1 }] }] },
                ],
              },
            ],
          },
        ],
      },
    ]);
    expect(decodeOk(body, "protobuf").points).toEqual([{ name: "g", labels: { k: "v" }, startTimeMs: undefined, value: { type: "gauge", value: 1 } }]);
  });

  test("an unknown proto2 group is skipped", () => {
    const metric = wrapMetric([
      { field: 1, string: "g" },
      { field: 5, message: [{ field: 1, message: [{ field: 4, double: 1 }] }] },
    ]);
    // field 50: start group, a varint inside, end group.
    const group = Uint8Array.from([(50 << 3) | 3, 0x08, 0x01, (50 << 3) | 4].flatMap((b) => (b > 0x7f ? [(b & 0x7f) | 0x80, b >> 7] : [b])));
    expect(decodeOk(concatBytes(group, metric), "protobuf").points).toHaveLength(1);
  });

  test("repeated scalars are accepted packed and unpacked", () => {
    const histogramPoint: RawField[] = [
      { field: 4, fixed64: 3 },
      { field: 5, double: 6 },
      { field: 6, fixed64: 1 }, // unpacked bucket_counts
      { field: 6, fixed64: 2 },
      { field: 7, double: 10 }, // unpacked explicit_bounds
    ];
    const expoPoint: RawField[] = [
      { field: 4, fixed64: 3 },
      { field: 8, message: [{ field: 1, varint: 6 }, { field: 2, varint: 1 }, { field: 2, varint: 2 }] }, // offset sint32 6 → 3
    ];
    const body = concatBytes(
      wrapMetric([{ field: 1, string: "h" }, { field: 9, message: [{ field: 1, message: histogramPoint }, { field: 2, varint: 2 }] }]),
      wrapMetric([{ field: 1, string: "e" }, { field: 10, message: [{ field: 1, message: expoPoint }, { field: 2, varint: 2 }] }]),
    );
    const [h, e] = decodeOk(body, "protobuf").points;
    expect(h.value).toMatchObject({ type: "explicit", data: { bounds: [10], counts: [1, 2], count: 3, sum: 6 } });
    expect(e.value).toMatchObject({ type: "expo", data: { count: 3, positive: { offset: 3, counts: [1, 2] } } });
  });

  test("the last data field of a metric wins", () => {
    const body = wrapMetric([
      { field: 1, string: "m" },
      { field: 5, message: [{ field: 1, message: [{ field: 4, double: 1 }] }] },
      { field: 7, message: [{ field: 1, message: [{ field: 4, double: 2 }] }, { field: 2, varint: 2 }] },
    ]);
    expect(decodeOk(body, "protobuf").points.map((p) => p.value)).toEqual([{ type: "updown", temporality: "cumulative", value: 2 }]);
  });

  test("an empty body is an empty request", () => {
    expect(decodeOk(new Uint8Array(0), "protobuf")).toEqual({ points: [], rejected: { count: 0, reasons: {}, messages: [] } });
  });
});

describe("malformed protobuf is an OTLP_BAD_PROTOBUF value", () => {
  const valid = encodeRequest(readTestdataJson("request-all-types.json"));
  const cases: Array<[string, Uint8Array]> = [
    ["a truncated request", valid.subarray(0, valid.length - 3)],
    ["a length that overruns the body", Uint8Array.from([0x0a, 0x05, 0x12, 0x00])],
    ["a nested length that overruns its parent", Uint8Array.from([0x0a, 0x02, 0x12, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00])],
    ["a truncated varint", Uint8Array.from([0x08, 0x80])],
    ["an 11-byte varint", Uint8Array.from([0x08, ...new Array(10).fill(0xff), 0x01])],
    ["wire type 7", Uint8Array.from([0x0f])],
    ["field number 0", Uint8Array.from([0x02, 0x00])],
    ["resource_metrics as a varint", Uint8Array.from([0x08, 0x01])],
    ["a double as a varint", wrapMetric([{ field: 1, string: "g" }, { field: 5, message: [{ field: 1, message: [{ field: 4, varint: 1 }] }] }])],
    ["packed fixed64 with a length not a multiple of 8", wrapMetric([{ field: 1, string: "h" }, { field: 9, message: [{ field: 2, varint: 2 }, { field: 1, message: [{ field: 6, bytes: new Uint8Array(7) }] }] }])],
    ["an unmatched end-group tag", Uint8Array.from([0x0c])],
    ["text that is not protobuf", new TextEncoder().encode('{"resourceMetrics":[]}')],
  ];
  test.each(cases)("%s", (_name, body) => {
    const result = decodeOtlpMetrics(body, "protobuf");
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe("OTLP_BAD_PROTOBUF");
      expect(result.error.message).toMatch(/^malformed protobuf: .+ at byte \d+$/);
    }
  });
});

// --- broken UTF-8 ----------------------------------------------------------------------------

describe("broken UTF-8 in a protobuf string", () => {
  const MARK = "BROKEN";
  const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });
  function requestWith(spot: "value" | "key" | "name" | "resourceIncluded" | "resourceIgnored" | "scope") {
    const point = (route: string) => ({
      attributes: [kv(spot === "key" && route === "/2" ? MARK : "route", spot === "value" && route === "/2" ? MARK : route)],
      asDouble: 1,
    });
    return encodeRequest({
      resourceMetrics: [
        {
          resource: { attributes: [spot === "resourceIncluded" ? kv("service.name", MARK) : kv("ignored", spot === "resourceIgnored" ? MARK : "x")] },
          scopeMetrics: [
            {
              scope: { name: spot === "scope" ? MARK : "s" },
              metrics: [
                { name: spot === "name" ? MARK : "m", gauge: { dataPoints: [point("/1"), point("/2"), point("/3")] } },
                { name: "other", gauge: { dataPoints: [point("/4")] } },
              ],
            },
          ],
        },
      ],
    });
  }

  const brokenSequences: Array<[string, number[]]> = [
    ["a lone continuation byte", [0x41, 0x80, 0x41, 0x41, 0x41, 0x41]],
    ["a 2-byte sequence cut short", [0x41, 0x41, 0x41, 0x41, 0x41, 0xc3]],
    ["a bad continuation", [0xc3, 0x28, 0x41, 0x41, 0x41, 0x41]],
    ["an overlong NUL", [0xc0, 0x80, 0x41, 0x41, 0x41, 0x41]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80, 0x41, 0x41, 0x41]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80, 0x41, 0x41]],
    ["byte 0xFF", [0xff, 0x41, 0x41, 0x41, 0x41, 0x41]],
  ];

  test.each(brokenSequences)("%s in an attribute value rejects exactly that data point", (_name, bytes) => {
    const decoded = decodeOk(patchBytes(requestWith("value"), MARK, bytes), "protobuf");
    expect(decoded.points.map((p) => p.labels.route)).toEqual(["/1", "/3", "/4"]);
    expect(decoded.rejected.count).toBe(1);
    expect(decoded.rejected.reasons).toEqual({ invalid_utf8: 1 });
    expect(decoded.rejected.messages).toEqual(['metric "m": a string field is not valid UTF-8']);
  });

  test.each([
    ["an attribute key", "key", ["/1", "/3", "/4"], 1],
    ["a metric name (all its points)", "name", ["/4"], 3],
    ["an included resource attribute (all the resource's points)", "resourceIncluded", [], 4],
    ["a resource attribute that is not included (ignored)", "resourceIgnored", ["/1", "/2", "/3", "/4"], 0],
    ["the scope name (never read)", "scope", ["/1", "/2", "/3", "/4"], 0],
  ] as const)("in %s", (_name, spot, routes, rejected) => {
    const decoded = decodeOk(patchBytes(requestWith(spot), MARK, [0xc3, 0x28, 0x41, 0x41, 0x41, 0x41]), "protobuf");
    expect(decoded.points.map((p) => p.labels.route)).toEqual(routes);
    expect(decoded.rejected.count).toBe(rejected);
    if (rejected > 0) expect(decoded.rejected.reasons).toEqual({ invalid_utf8: rejected });
  });

  test("valid multi-byte UTF-8 and a leading BOM are kept exactly", () => {
    const value = "\uFEFFnaïve ✓ 𝄞";
    const body = encodeRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: "m", gauge: { dataPoints: [{ attributes: [kv("k", value)], asDouble: 1 }] } }] }] }] });
    expect(decodeOk(body, "protobuf").points[0].labels).toEqual({ k: value });
  });

  test("protobufjs' generated decoder would have failed the whole request instead", () => {
    const body = patchBytes(requestWith("value"), MARK, [0xff, 0x41, 0x41, 0x41, 0x41, 0x41]);
    expect(() => ExportMetricsServiceRequest.decode(body)).toThrow(/not valid for encoding utf-8/);
  });
});

// --- JSON specifics --------------------------------------------------------------------------

const jsonGauge = (point: Record<string, unknown>, metric: Record<string, unknown> = {}) =>
  encodeJsonRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: "m", gauge: { dataPoints: [point] }, ...metric }] }] }] });

describe("OTLP/JSON", () => {
  test("accepts 64-bit integers as numbers, enum names, null as unset and unknown fields", () => {
    const body = encodeJsonRequest({
      unknownTop: 1,
      resourceMetrics: [
        {
          resource: null,
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "s",
                  gauge: null,
                  extra: { nested: true },
                  sum: { aggregationTemporality: "AGGREGATION_TEMPORALITY_DELTA", isMonotonic: true, dataPoints: [{ asInt: 5, startTimeUnixNano: 1700000000000000000, exemplars: null, what: 1 }] },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(decodeOk(body, "json").points).toEqual([
      { name: "s", labels: {}, startTimeMs: 1700000000000, value: { type: "counter", temporality: "delta", value: 5 } },
    ]);
  });

  test("accepts a leading BOM and proto3 JSON spellings of doubles", () => {
    const body = concatBytes(Uint8Array.from([0xef, 0xbb, 0xbf]), jsonGauge({ asDouble: "NaN", attributes: [{ key: "d", value: { doubleValue: "-Infinity" } }] }));
    const [point] = decodeOk(body, "json").points;
    expect(point.value).toEqual({ type: "gauge", value: Number.NaN });
    expect(point.labels).toEqual({ d: "-Infinity" });
  });

  test("a lone surrogate in a string rejects the point as invalid_utf8", () => {
    const body = new TextEncoder().encode(
      '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":1,"attributes":[{"key":"k","value":{"stringValue":"a\\ud800b"}}]},{"asDouble":2}]}}]}]}]}',
    );
    const decoded = decodeOk(body, "json");
    expect(decoded.points).toHaveLength(1);
    expect(decoded.rejected.reasons).toEqual({ invalid_utf8: 1 });
  });

  test.each([
    ["text that is not JSON", "OTLP_BAD_JSON", new TextEncoder().encode("{nope")],
    ["an empty body", "OTLP_BAD_JSON", new Uint8Array(0)],
    ["a top-level array", "OTLP_BAD_JSON", encodeJsonRequest([])],
    ["resourceMetrics as an object", "OTLP_BAD_JSON", encodeJsonRequest({ resourceMetrics: {} })],
    ["asInt that is not an integer", "OTLP_BAD_JSON", jsonGauge({ asInt: "1.5" })],
    ["a count that is not a number", "OTLP_BAD_JSON", encodeJsonRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: "h", histogram: { aggregationTemporality: 1, dataPoints: [{ count: "abc" }] } }] }] }] })],
    ["two data fields in one metric", "OTLP_BAD_JSON", jsonGauge({ asDouble: 1 }, { sum: { dataPoints: [] } })],
    ["a body that is not UTF-8", "OTLP_BAD_UTF8", Uint8Array.from([0x7b, 0xff, 0x7d])],
  ])("%s is %s", (_name, code, body) => {
    expect(errorCode(body, "json")).toBe(code);
  });
});

// --- resources and labels ------------------------------------------------------------------

describe("labels", () => {
  test("a point attribute named like an Object.prototype member is an ordinary label", () => {
    const body = jsonGauge({ asDouble: 1, attributes: [{ key: "__proto__", value: { stringValue: "p" } }, { key: "constructor", value: { stringValue: "c" } }] });
    for (const format of ["json", "protobuf"] as const) {
      const request = format === "json" ? body : encodeRequest(JSON.parse(new TextDecoder().decode(body)));
      const [point] = decodeOk(request, format).points;
      expect(Object.getPrototypeOf(point.labels)).toBe(Object.prototype);
      expect(Object.entries(point.labels)).toEqual([["__proto__", "p"], ["constructor", "c"]]);
    }
  });

  test("startTimeMs is exact to the millisecond for 19-digit nanoseconds", () => {
    const nanos = "1799999999999999999";
    const json = jsonGauge({ asDouble: 1, startTimeUnixNano: nanos });
    const proto = encodeRequest(JSON.parse(new TextDecoder().decode(json)));
    expect(decodeOk(json, "json").points[0].startTimeMs).toBe(1799999999999);
    expect(decodeOk(proto, "protobuf").points[0].startTimeMs).toBe(1799999999999);
  });
});
