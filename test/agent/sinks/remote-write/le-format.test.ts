import { describe, expect, test } from "vitest";
import { formatLe } from "../../../../agent/sinks/remote-write/le-format";

// Expected strings are Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus' OTLP translator
// writes `le` (the series identity depends on the exact spelling).
describe("formatLe", () => {
  test.each([
    [0.5, "0.5"],
    [1, "1"],
    [0.1, "0.1"],
    [2.5, "2.5"],
    [10, "10"],
    [-2, "-2"],
    [0, "0"],
    [0.000001, "0.000001"],
    [1e-7, "0.0000001"],
    [1.5e-9, "0.0000000015"],
    [2 ** -17, "0.00000762939453125"],
    [1048576, "1048576"],
    [123456789.125, "123456789.125"],
    [1e20, "100000000000000000000"],
    [1e21, "1000000000000000000000"],
    [1.25e22, "12500000000000000000000"],
    [-3.5e-8, "-0.000000035"],
    [2 ** (1 / 8), "1.0905077326652577"],
    [Number.POSITIVE_INFINITY, "+Inf"],
    [Number.NEGATIVE_INFINITY, "-Inf"],
  ])("%s → %s", (bound, text) => {
    expect(formatLe(bound)).toBe(text);
  });

  test("the extremes of the double range spell out every digit", () => {
    expect(formatLe(Number.MAX_VALUE)).toBe(`17976931348623157${"0".repeat(292)}`);
    expect(formatLe(Number.MIN_VALUE)).toBe(`0.${"0".repeat(323)}5`);
  });

  test("every spelling parses back to the same double", () => {
    for (let e = -320; e <= 308; e += 7) {
      for (const m of [1, 1.5, 3.14159, 9.999]) {
        const v = m * 10 ** e;
        if (!Number.isFinite(v) || v === 0) continue;
        expect(Number(formatLe(v))).toBe(v);
        expect(formatLe(v)).not.toMatch(/e/);
      }
    }
  });
});
