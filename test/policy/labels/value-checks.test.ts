import { describe, expect, test } from "vitest";
import { createLabelPolicy } from "../../../policy/labels/label-policy";
import { DEFAULT_LABEL_POLICY } from "../../../policy/labels/config";
import { countCodePoints, findFreeText, findPersonalData } from "../../../policy/labels/value-checks";

describe("value checks", () => {
  test.each([
    ["", 0],
    ["eu-west-1", 9],
    ["東京", 2],
    ["😀😀", 2],
    ["e\u0301", 2], // combining accent: two code points
    ["\ud83d", 1], // a lone surrogate still counts once
  ])("counts the code points of %j as %i", (value, expected) => {
    expect(countCodePoints(value)).toBe(expected);
  });

  // Worst cases for each scanner, far longer than any real maxValueLength. A backtracking
  // regex would take seconds or minutes on these; the scanners must stay linear.
  const adversarial: [string, string][] = [
    ["dotted digits", "1.1.1.".repeat(40_000)],
    ["colons", ":".repeat(200_000)],
    ["hex and colons", "a:".repeat(100_000)],
    ["at signs", "a@".repeat(100_000)],
    ["at signs with dotted domains", "a@b.".repeat(50_000)],
    ["plus signs", "+1".repeat(100_000)],
    ["short digit runs", "12345678901-".repeat(20_000)],
    ["letters then a full stop", `${"a".repeat(200_000)}.x`],
  ];

  test.each(adversarial)("scans %s in linear time", (_name, value) => {
    const started = performance.now();
    findPersonalData(value);
    findFreeText(value);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test("rejects a megabyte value by length without scanning it for personal data", () => {
    const policy = createLabelPolicy(DEFAULT_LABEL_POLICY);
    const started = performance.now();
    const verdict = policy.check("m", { region: "1.".repeat(500_000) });
    expect(verdict).toMatchObject({ ok: false, reason: "value_too_long" });
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
