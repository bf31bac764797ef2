import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import type { Labels } from "../../../agent/core/points";
import { parseLabelPolicyConfig } from "../../../policy/labels/config";
import {
  createLabelPolicy,
  type PolicyVerdict,
  type RejectReason,
} from "../../../policy/labels/label-policy";

/** One row of testdata/cases.json. `config` is a raw `policy.labels` mapping, merged over defaults. */
interface PolicyCase {
  name: string;
  metric: string;
  labels: Labels;
  config?: unknown;
  expect: { ok: true } | { reason: RejectReason; label?: string; message: string };
}

const ALL_REASONS: RejectReason[] = [
  "forbidden_label",
  "label_not_allowed",
  "pii_value",
  "free_text",
  "too_many_labels",
  "value_too_long",
  "invalid_label_name",
  "invalid_metric_name",
];

const testdata = new URL("./testdata/", import.meta.url);
const cases: PolicyCase[] = JSON.parse(readFileSync(new URL("cases.json", testdata), "utf8"));
const goldenUrl = new URL("golden/decisions.txt", testdata);

function checkCase(c: PolicyCase, labels: Labels = c.labels): PolicyVerdict {
  const config = parseLabelPolicyConfig(c.config);
  if (!config.ok) throw new Error(`BUG: case "${c.name}" has an invalid config: ${config.error}`);
  return createLabelPolicy(config.value).check(c.metric, labels);
}

function expectedVerdict(c: PolicyCase): PolicyVerdict {
  return "ok" in c.expect ? { ok: true } : { ok: false, ...c.expect };
}

/** The same labels inserted in another order. */
function reorder(labels: Labels, order: (names: string[]) => string[]): Labels {
  const reordered: Labels = {};
  for (const name of order(Object.keys(labels))) reordered[name] = labels[name];
  return reordered;
}

describe("label policy", () => {
  test.each(cases)("$name", (c) => {
    expect(checkCase(c)).toEqual(expectedVerdict(c));
  });

  test.each(cases)("gives the same verdict in any label insertion order: $name", (c) => {
    const verdict = checkCase(c);
    const orders = [
      (names: string[]) => [...names].reverse(),
      (names: string[]) => [...names.slice(1), ...names.slice(0, 1)],
      (names: string[]) => [...names].sort().reverse(),
    ];
    for (const order of orders) expect(checkCase(c, reorder(c.labels, order))).toEqual(verdict);
  });

  test("the cases cover every reject reason", () => {
    const covered = new Set(cases.map((c) => ("ok" in c.expect ? "ok" : c.expect.reason)));
    for (const reason of [...ALL_REASONS, "ok"]) expect(covered).toContain(reason);
    expect(cases.length).toBeGreaterThanOrEqual(60);
  });

  test("case names are unique", () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  test("a message never quotes the rejected value", () => {
    for (const c of cases) {
      const verdict = checkCase(c);
      if (verdict.ok) continue;
      for (const value of Object.values(c.labels)) {
        if (value.length >= 3) expect(verdict.message).not.toContain(value);
      }
    }
  });

  test("a policy does not change when its config is mutated afterwards", () => {
    const config = parseLabelPolicyConfig(undefined);
    if (!config.ok) throw new Error(config.error);
    const policy = createLabelPolicy(config.value);
    config.value.allow.push("map");
    config.value.forbid.length = 0;
    expect(policy.check("m", { map: "x" }).ok).toBe(false);
    expect(policy.check("m", { player_id: "x" })).toMatchObject({ reason: "forbidden_label" });
  });

  test("decisions match testdata/golden/decisions.txt (UPDATE_GOLDEN=1 rewrites it)", () => {
    const actual = cases.map(formatDecision).join("\n") + "\n";
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(goldenUrl, actual);
    expect(actual).toBe(readFileSync(goldenUrl, "utf8"));
  });
});

/** `metric{a="x",b="y"} [config {...}] → verdict`, labels in sorted order. */
function formatDecision(c: PolicyCase): string {
  const labels = Object.keys(c.labels)
    .sort()
    .map((name) => `${name}=${quoteForGolden(c.labels[name])}`)
    .join(",");
  const config = c.config === undefined ? "" : ` [config ${JSON.stringify(c.config)}]`;
  const verdict = checkCase(c);
  const outcome = verdict.ok
    ? "ok"
    : `${verdict.reason}${verdict.label === undefined ? "" : ` ${JSON.stringify(verdict.label)}`}: ${verdict.message}`;
  return `${c.metric}{${labels}}${config} → ${outcome}`;
}

/** JSON quoting plus escapes for invisible and space characters JSON leaves raw. */
function quoteForGolden(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u00a0\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]/gu,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
