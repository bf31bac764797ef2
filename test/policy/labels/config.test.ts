import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parse as parseYaml } from "yaml";
import { DEFAULT_LABEL_POLICY, parseLabelPolicyConfig } from "../../../policy/labels/config";

const configsDir = new URL("./testdata/configs/", import.meta.url);

function yamlFiles(kind: "valid" | "invalid"): string[] {
  return readdirSync(new URL(`${kind}/`, configsDir))
    .filter((file) => file.endsWith(".yaml"))
    .sort();
}

/** The `policy.labels` mapping of an agent config file (undefined when absent). */
function loadLabelsSection(kind: "valid" | "invalid", file: string): unknown {
  const doc = parseYaml(readFileSync(new URL(`${kind}/${file}`, configsDir), "utf8"));
  return doc?.policy?.labels;
}

/** Invalid files open with `# error: <exact message>`. */
function expectedError(file: string): string {
  const firstLine = readFileSync(new URL(`invalid/${file}`, configsDir), "utf8").split("\n")[0];
  const match = /^# error: (.*)$/.exec(firstLine);
  if (!match) throw new Error(`BUG: ${file} does not start with "# error: "`);
  return match[1];
}

describe("parseLabelPolicyConfig", () => {
  test.each(yamlFiles("valid"))("accepts %s", (file) => {
    const expected = JSON.parse(
      readFileSync(new URL(`valid/${file.replace(/\.yaml$/, ".expected.json")}`, configsDir), "utf8"),
    );
    expect(parseLabelPolicyConfig(loadLabelsSection("valid", file))).toEqual({ ok: true, value: expected });
  });

  test.each(yamlFiles("invalid"))("rejects %s with the exact message", (file) => {
    expect(parseLabelPolicyConfig(loadLabelsSection("invalid", file))).toEqual({
      ok: false,
      error: expectedError(file),
    });
  });

  test("has at least one valid and ten invalid config files", () => {
    expect(yamlFiles("valid").length).toBeGreaterThanOrEqual(1);
    expect(yamlFiles("invalid").length).toBeGreaterThanOrEqual(10);
  });

  test("returns a copy: mutating a parsed config leaves the defaults alone", () => {
    const parsed = parseLabelPolicyConfig(undefined);
    if (!parsed.ok) throw new Error(parsed.error);
    parsed.value.allow.push("map");
    parsed.value.forbid.length = 0;
    expect(DEFAULT_LABEL_POLICY.allow).not.toContain("map");
    expect(DEFAULT_LABEL_POLICY.forbid).toContain("player_id");
    expect(Object.isFrozen(DEFAULT_LABEL_POLICY.allow)).toBe(true);
  });

  test("the defaults parse to themselves", () => {
    expect(parseLabelPolicyConfig({ ...DEFAULT_LABEL_POLICY })).toEqual({ ok: true, value: DEFAULT_LABEL_POLICY });
  });
});
