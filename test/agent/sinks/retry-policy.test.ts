import { describe, expect, it } from "vitest";
import { backoffMs, DEFAULT_RETRY_POLICY, parseRetryAfter } from "../../../agent/sinks/retry-policy";
import { classifyRemoteWriteStatus } from "../../../agent/sinks/sink-error";

const NOW = Date.parse("2026-11-22T06:00:00Z");

describe("backoffMs", () => {
  it.each([
    [0, 0.999, 249],
    [1, 0.5, 250],
    [3, 0.5, 1000],
    [20, 0.999, 29_970],
    [200, 0.5, 15_000],
  ])("attempt %i with random %d waits %i ms (capped, full jitter)", (attempt, r, expected) => {
    expect(backoffMs(DEFAULT_RETRY_POLICY, attempt, () => r)).toBe(expected);
  });

  it("honours a longer Retry-After, capped at maxRetryAfterMs", () => {
    expect(backoffMs(DEFAULT_RETRY_POLICY, 0, () => 0.5, 10_000)).toBe(10_000);
    expect(backoffMs(DEFAULT_RETRY_POLICY, 10, () => 0.9, 1_000)).toBe(27_000);
    expect(backoffMs(DEFAULT_RETRY_POLICY, 0, () => 0, 86_400_000)).toBe(300_000);
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["120", 120_000],
    [" 5 ", 5_000],
    ["0", 0],
    ["Sun, 22 Nov 2026 06:00:30 GMT", 30_000],
    ["Sun, 22 Nov 2026 05:59:00 GMT", 0],
    ["soon", undefined],
    ["-3", undefined],
    ["1.5", undefined],
    ["", undefined],
  ])("%j → %s ms", (header, expected) => {
    expect(parseRetryAfter(header, NOW)).toBe(expected);
  });

  it("is undefined without a header", () => {
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});

describe("classifyRemoteWriteStatus", () => {
  it.each([
    [200, undefined],
    [204, undefined],
    [400, "SINK_REJECTED"],
    [404, "SINK_REJECTED"],
    [413, "SINK_REJECTED"],
    [429, "SINK_RETRYABLE"],
    [500, "SINK_RETRYABLE"],
    [503, "SINK_RETRYABLE"],
  ])("HTTP %i → %s", (status, code) => {
    expect(classifyRemoteWriteStatus(status, "", undefined)?.code).toBe(code);
  });

  it("keeps at most 1 KiB of the response body in the cause", () => {
    const e = classifyRemoteWriteStatus(400, "x".repeat(5000), undefined)!;
    expect(e.cause.length).toBeLessThanOrEqual(1024 + "HTTP 400: ".length);
  });
});
