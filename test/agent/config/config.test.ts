import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { describe, expect, it, test } from "vitest";
import { defaultAgentConfig, parseAgentConfig, validateAgentConfig } from "../../../agent/config/config";
import { DEFAULT_LABEL_POLICY } from "../../../policy/labels/config";

const testdata = new URL("./testdata/", import.meta.url);

function yamlFiles(kind: "valid" | "invalid"): string[] {
  return readdirSync(new URL(`${kind}/`, testdata))
    .filter((f) => f.endsWith(".yaml"))
    .sort();
}

function readCase(kind: "valid" | "invalid", file: string): string {
  return readFileSync(new URL(`${kind}/${file}`, testdata), "utf8");
}

/** Invalid files open with `# error: <exact message>`. */
function expectedError(text: string, file: string): string {
  const match = /^# error: (.*)$/.exec(text.split("\n")[0]);
  if (!match) throw new Error(`BUG: ${file} does not start with "# error: "`);
  return match[1];
}

/**
 * valid/<name>.expected.json is the whole merged config; "$HOSTNAME" stands for this machine's
 * host name (the default identity label). UPDATE_GOLDEN=1 rewrites the expected files.
 */
function checkExpected(file: string, actual: unknown): void {
  const expectedUrl = new URL(`valid/${file.replace(/\.yaml$/, ".expected.json")}`, testdata);
  const host = hostname();
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(expectedUrl)) {
    const text = JSON.stringify(actual, null, 2).replaceAll(JSON.stringify(host), '"$HOSTNAME"');
    writeFileSync(expectedUrl, `${text}\n`);
    if (process.env.UPDATE_GOLDEN !== "1") throw new Error(`wrote missing ${expectedUrl.pathname}; review it`);
    return;
  }
  const expected = JSON.parse(readFileSync(expectedUrl, "utf8").replaceAll('"$HOSTNAME"', JSON.stringify(host)));
  expect(actual).toEqual(expected);
}

describe("parseAgentConfig (testdata/valid)", () => {
  test.each(yamlFiles("valid"))("accepts %s", async (file) => {
    const r = await parseAgentConfig(readCase("valid", file));
    if (!r.ok) throw new Error(`${file}: ${r.error}`);
    checkExpected(file, r.value);
  });

  it("gives exactly the defaults for an empty file", async () => {
    expect(await parseAgentConfig("")).toEqual({ ok: true, value: defaultAgentConfig() });
  });

  it("uses the default label policy when policy.labels is absent", async () => {
    const r = await parseAgentConfig("policy:\n  budget:\n    maxSeries: 5\n");
    expect(r.ok && r.value.policy.labels).toEqual(DEFAULT_LABEL_POLICY);
  });
});

describe("parseAgentConfig (testdata/invalid)", () => {
  test.each(yamlFiles("invalid"))("rejects %s with the exact message", async (file) => {
    const text = readCase("invalid", file);
    expect(await parseAgentConfig(text)).toEqual({ ok: false, error: expectedError(text, file) });
  });

  it("names the config file in YAML syntax errors", async () => {
    const r = await parseAgentConfig("a: [\n", "/etc/edge-agent/agent.yaml");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/^\/etc\/edge-agent\/agent\.yaml: not valid YAML: /);
  });

  it("has at least five valid and thirty invalid config files", () => {
    expect(yamlFiles("valid").length).toBeGreaterThanOrEqual(5);
    expect(yamlFiles("invalid").length).toBeGreaterThanOrEqual(30);
  });
});

describe("validateAgentConfig", () => {
  it("does not share the default objects between two parsed configs", () => {
    const a = validateAgentConfig({});
    const b = validateAgentConfig({});
    if (!a.ok || !b.ok) throw new Error("defaults must validate");
    a.value.otlp.listen = "changed:1";
    a.value.remoteWrite.push({ url: "http://x" });
    expect(b.value.otlp.listen).toBe("127.0.0.1:4318");
    expect(b.value.remoteWrite).toEqual([]);
  });

  // Regression (found in review, fixed): schema.ts num() accepts ±Infinity (it only rejects NaN), so `incidentTtlSec: .inf`
  // validates. Cadence.set("incident") then computes incidentUntilMs = Infinity and the
  // incident never reverts, breaking "incident mode always carries a time-to-live".
  // Expected: an error like "cadence.incidentTtlSec must be a finite number"; actual: ok.
  it("rejects an infinite incident TTL", async () => {
    const r = await parseAgentConfig("cadence:\n  mode: incident\n  incidentTtlSec: .inf\n");
    expect(r.ok).toBe(false);
  });

  // Regression (found in review, fixed): same num() gap: `policy.budget.idleExpirySec: .inf` validates, so series never expire
  // and the budget's slots are never freed. Expected: rejected; actual: ok.
  it("rejects an infinite idle expiry", async () => {
    const r = await parseAgentConfig("policy:\n  budget:\n    idleExpirySec: .inf\n");
    expect(r.ok).toBe(false);
  });

  // Regression (found in review, fixed): schema.ts got() prints non-finite numbers with JSON.stringify, which turns them into
  // "null": `steadyIntervalSec: .inf` is reported as "... must be <= 3600 (got null)".
  it("quotes an infinite value as Infinity in the error, not null", async () => {
    const r = await parseAgentConfig("cadence:\n  steadyIntervalSec: .inf\n");
    expect(r).toEqual({ ok: false, error: "cadence.steadyIntervalSec must be a finite number (got Infinity)" });
  });

  // Regression (found in review, fixed): remoteWrite entries are obj({url}) whose keys are all optional, so `remoteWrite: [{}]`
  // validates and yields { url: undefined } typed as string. Expected: an error naming
  // remoteWrite[0].url; actual: ok with url undefined.
  it("rejects a remoteWrite entry without a url", async () => {
    const r = await parseAgentConfig("remoteWrite:\n  - name: primary\n");
    expect(r.ok).toBe(false);
  });

  // Regression (found in review, fixed): identity.labels names are only checked against the label-name regex, not
  // against the label policy. A forbidden name (player_id) or a reserved one (le) is accepted
  // and would be stamped on every exported series by the admin /metrics renderer.
  // Expected: rejected like policy.labels.identityLabels entries are; actual: ok.
  it("rejects a forbidden identity label name", async () => {
    const r = await parseAgentConfig("identity:\n  labels:\n    player_id: p-1\n");
    expect(r.ok).toBe(false);
  });

  it("rejects a reserved identity label name", async () => {
    const r = await parseAgentConfig("identity:\n  labels:\n    le: \"1\"\n");
    expect(r.ok).toBe(false);
  });
});
