import { describe, expect, test } from "vitest";
import { LabelSetMap } from "../../../../agent/sinks/remote-write/label-set-map";

describe("LabelSetMap", () => {
  test("finds a series again through fresh arrays holding equal strings", () => {
    const m = new LabelSetMap<number>();
    m.set("m", [["a", "1"], ["b", "2"]], 7);
    expect(m.get("m", [["a", "1"], ["b", "2"]])).toBe(7);
    expect(m.get("m", [["a", `${1}`], ["b", "2"]])).toBe(7); // equal content, another string object
    expect(m.size).toBe(1);
  });

  test("keeps apart series that differ in name, a label name, a value, order or length", () => {
    const m = new LabelSetMap<string>();
    const cases: [string, [string, string][]][] = [
      ["m", [["a", "1"]]],
      ["n", [["a", "1"]]],
      ["m", [["b", "1"]]],
      ["m", [["a", "2"]]],
      ["m", [["a", "1"], ["b", "2"]]],
      ["m", [["b", "2"], ["a", "1"]]],
      ["m", []],
    ];
    cases.forEach(([name, labels], i) => m.set(name, labels, `v${i}`));
    cases.forEach(([name, labels], i) => expect(m.get(name, labels)).toBe(`v${i}`));
    expect(m.size).toBe(cases.length);
    expect(m.get("m", [["c", "1"]])).toBeUndefined();
    expect(m.get("m", [["a", "1"], ["b", "3"]])).toBeUndefined();
    expect(m.get("x", [])).toBeUndefined();
  });

  test("overwrites a value without growing", () => {
    const m = new LabelSetMap<number>();
    m.set("m", [["a", "1"]], 1);
    m.set("m", [["a", "1"]], 2);
    expect(m.get("m", [["a", "1"]])).toBe(2);
    expect(m.size).toBe(1);
  });
});
