import { describe, expect, test } from "vitest";
import {
  ERROR_LINE_MAX_CHARS,
  MAX_STATSD_LINE_CHARS,
  parseDecimal,
  parseDogTags,
  parseStatsdPacket,
  sanitizeMetricName,
  statsdLineToPoint,
  type StatsdType,
} from "../../../../agent/sources/statsd/statsd-parse";
import parseCases from "./testdata/parse-cases.json";
import tagCases from "./testdata/tag-cases.json";
import nameCases from "./testdata/name-cases.json";
import { recordCalls, type RecordedCall } from "./statsd-recorder";

interface ParseCase {
  name: string;
  packet: string;
  calls: RecordedCall[];
}

describe("parseStatsdPacket", () => {
  test.each(parseCases as ParseCase[])("$name", ({ packet, calls }) => {
    expect(recordCalls(packet)).toEqual(calls);
  });

  test("passes key = name + NUL + raw tags, the same string for the same series", () => {
    const keys: string[] = [];
    parseStatsdPacket("a.b:1|c|#k:v\na.b:2|c|@0.5|#k:v\na.b:3|c\na.b:4|g|#k:v", {
      line: (key) => keys.push(key),
      error: () => expect.unreachable(),
    });
    expect(keys).toEqual(["a.b\u0000k:v", "a.b\u0000k:v", "a.b\u0000", "a.b\u0000k:v"]);
  });

  test("rejects a line longer than MAX_STATSD_LINE_CHARS and keeps its neighbours", () => {
    const huge = "x".repeat(MAX_STATSD_LINE_CHARS) + ":1|c";
    const limit = "y".repeat(MAX_STATSD_LINE_CHARS - 4) + ":1|c";
    expect(recordCalls(`a:1|c\n${huge}\n${limit}\nb:2|c`)).toEqual([
      { name: "a", tags: "", type: "c", value: 1, rate: 1, delta: false },
      { error: "line_too_long", line: huge.slice(0, ERROR_LINE_MAX_CHARS) },
      { name: limit.slice(0, -4), tags: "", type: "c", value: 1, rate: 1, delta: false },
      { name: "b", tags: "", type: "c", value: 2, rate: 1, delta: false },
    ]);
  });

  test("cuts the line handed to error() to ERROR_LINE_MAX_CHARS", () => {
    const long = "z".repeat(1000);
    expect(recordCalls(long)).toEqual([{ error: "bad_line", line: long.slice(0, ERROR_LINE_MAX_CHARS) }]);
  });

  test("stays linear on thousands of lines without a colon or a pipe", () => {
    const packet = "a\n".repeat(30_000) + "ok:1|c";
    const started = performance.now();
    const calls = recordCalls(packet);
    expect(performance.now() - started).toBeLessThan(1000); // quadratic would take seconds
    expect(calls).toHaveLength(30_001);
    expect(calls[30_000]).toEqual({ name: "ok", tags: "", type: "c", value: 1, rate: 1, delta: false });
  });
});

describe("parseDecimal", () => {
  // Reference: the forms StatsD senders produce, read by Number(), finite only.
  const reference = (s: string): number =>
    /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) && Number.isFinite(Number(s)) ? Number(s) : NaN;

  test("agrees with Number() on 20,000 random numeric-looking strings", () => {
    let seed = 42;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const alphabet = "0123456789012345678901234567890123456789..--++eE x";
    for (let i = 0; i < 20_000; i++) {
      let s = "";
      const length = 1 + Math.floor(random() * 24);
      for (let j = 0; j < length; j++) s += alphabet[Math.floor(random() * alphabet.length)];
      const padded = `|${s}|`;
      expect(parseDecimal(padded, 1, padded.length - 1), JSON.stringify(s)).toBe(reference(s));
    }
  });

  test.each([
    ["0", 0],
    ["-0", -0],
    ["007", 7],
    ["3.14159", 3.14159],
    ["999999999999999", 999999999999999],
    ["0.000000000000001", 1e-15],
    ["1e-7", 1e-7],
  ])("reads %s exactly", (text, expected) => {
    expect(parseDecimal(text, 0, text.length)).toBe(expected);
  });
});

describe("parseDogTags", () => {
  test.each(tagCases as { name: string; raw: string; labels?: Record<string, string>; error?: string }[])(
    "$name",
    ({ raw, labels, error }) => {
      const result = parseDogTags(raw);
      if (error !== undefined) {
        expect(result).toEqual({ ok: false, error: { reason: "bad_tags", message: error } });
      } else {
        expect(result).toEqual({ ok: true, value: labels });
      }
    },
  );
});

describe("sanitizeMetricName", () => {
  test.each(nameCases as { raw: string; name: string | null }[])("$raw → $name", ({ raw, name }) => {
    expect(sanitizeMetricName(raw)).toBe(name ?? undefined);
  });
});

describe("statsdLineToPoint", () => {
  const cases: [string, StatsdType, number, number, boolean, string | undefined, unknown][] = [
    ["counter scaled by 1/rate", "c", 3, 0.5, false, undefined, { type: "counter", temporality: "delta", value: 6 }],
    ["counter at rate 1", "c", -2, 1, false, undefined, { type: "counter", temporality: "delta", value: -2 }],
    ["gauge", "g", 7.5, 1, false, undefined, { type: "gauge", value: 7.5 }],
    ["gauge delta", "g", -3, 1, true, undefined, { type: "gauge_delta", value: -3 }],
    ["gauge ignores the rate", "g", 4, 0.1, false, undefined, { type: "gauge", value: 4 }],
    ["timer weight round(1/rate)", "ms", 12, 0.1, false, undefined, { type: "observe", value: 12, weight: 10 }],
    ["histogram weight rounds 1/0.3", "h", 1, 0.3, false, undefined, { type: "observe", value: 1, weight: 3 }],
    ["distribution weight at least 1", "d", 5, 1, false, undefined, { type: "observe", value: 5, weight: 1 }],
    ["set member", "s", 0, 1, false, "user-1", { type: "set", member: "user-1" }],
  ];
  test.each(cases)("%s", (_title, type, value, rate, isDelta, member, expected) => {
    expect(statsdLineToPoint("m", {}, type, value, rate, isDelta, member)).toEqual(expected);
  });

  test("throws a BUG error for a set without a member", () => {
    expect(() => statsdLineToPoint("m", {}, "s", 0, 1, false, undefined)).toThrow(/^BUG:/);
  });
});
