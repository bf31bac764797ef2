import { describe, expect, test } from "vitest";
import { encodeOtlpError, encodeOtlpResponse, type OtlpPartialSuccess } from "../../../../agent/sources/otlp/otlp-response";
import { google, opentelemetry } from "../../../../agent/sources/otlp/proto/otlp.js";
import { expectGolden, hexLines } from "./otlp-test-helpers";

const ExportMetricsServiceResponse = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;

const responses: Array<[string, OtlpPartialSuccess | undefined]> = [
  ["success", undefined],
  ["success-zero-partial", { rejectedDataPoints: 0, errorMessage: "" }],
  ["partial", { rejectedDataPoints: 3, errorMessage: 'metric "legacy_summary": summary metrics are not supported' }],
  ["warning", { rejectedDataPoints: 0, errorMessage: "series budget nearly full" }],
];

describe("encodeOtlpResponse", () => {
  test.each(responses)("%s matches the golden bodies", (name, partial) => {
    const protobuf = encodeOtlpResponse("protobuf", partial);
    const json = encodeOtlpResponse("json", partial);
    expect(protobuf.contentType).toBe("application/x-protobuf");
    expect(json.contentType).toBe("application/json");
    expectGolden(`response-${name}.pb.hex`, hexLines(protobuf.body));
    expectGolden(`response-${name}.json`, `${new TextDecoder().decode(json.body)}\n`);
  });

  test("full success leaves partial_success unset in both encodings", () => {
    expect(encodeOtlpResponse("protobuf").body).toHaveLength(0);
    expect(new TextDecoder().decode(encodeOtlpResponse("json").body)).toBe("{}");
  });

  test("a partial success round-trips through the generated decoder; JSON carries int64 as a string", () => {
    const partial = { rejectedDataPoints: 2 ** 40 + 1, errorMessage: "x" };
    const decoded = ExportMetricsServiceResponse.decode(encodeOtlpResponse("protobuf", partial).body);
    expect(Number(decoded.partialSuccess?.rejectedDataPoints)).toBe(2 ** 40 + 1);
    expect(decoded.partialSuccess?.errorMessage).toBe("x");
    expect(JSON.parse(new TextDecoder().decode(encodeOtlpResponse("json", partial).body))).toEqual({
      partialSuccess: { rejectedDataPoints: "1099511627777", errorMessage: "x" },
    });
  });
});

describe("encodeOtlpError", () => {
  test.each([
    [400, 3],
    [401, 16],
    [403, 7],
    [404, 12],
    [413, 2],
    [415, 2],
    [429, 8],
    [500, 2],
    [503, 14],
  ])("HTTP %i carries google.rpc.Code %i", (status, code) => {
    const protobuf = encodeOtlpError("protobuf", status, "why");
    expect(google.rpc.Status.decode(protobuf.body)).toMatchObject({ code, message: "why" });
    expect(JSON.parse(new TextDecoder().decode(encodeOtlpError("json", status, "why").body))).toEqual({ code, message: "why" });
  });

  test("a 400 matches the golden bodies", () => {
    const message = "malformed protobuf: length 5 overruns its message at byte 3";
    const protobuf = encodeOtlpError("protobuf", 400, message);
    const json = encodeOtlpError("json", 400, message);
    expect(protobuf.contentType).toBe("application/x-protobuf");
    expect(json.contentType).toBe("application/json");
    expectGolden("error-400.pb.hex", hexLines(protobuf.body));
    expectGolden("error-400.json", `${new TextDecoder().decode(json.body)}\n`);
  });
});
