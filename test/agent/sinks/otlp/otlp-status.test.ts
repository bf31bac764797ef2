import { describe, expect, it } from "vitest";
import { isRetryableOtlpStatus } from "../../../../agent/sinks/otlp/otlp-encoder";
import { readTestdataJson } from "./otlp-sink-test-helpers";

const { cases } = readTestdataJson("retryable-statuses.json") as { cases: [number, boolean][] };

describe("isRetryableOtlpStatus", () => {
  it.each(cases)("status %i is retryable: %s", (status, retryable) => {
    expect(isRetryableOtlpStatus(status)).toBe(retryable);
  });

  it("retries exactly 429, 502, 503 and 504 among all HTTP statuses", () => {
    const retryable = [];
    for (let status = 100; status < 600; status++) if (isRetryableOtlpStatus(status)) retryable.push(status);
    expect(retryable).toEqual([429, 502, 503, 504]);
  });
});
