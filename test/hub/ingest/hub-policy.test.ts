import { describe, expect, test } from "vitest";
import { createHubSeriesPolicy, type HubPolicyConfig } from "../../../hub/ingest/hub-policy";
import { newPolicy } from "./ingest-test-helpers";

/** Verdict of one series given as name + label object ("ok" when admitted). */
function verdictOf(config: HubPolicyConfig, metricName: string, labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  const rejected = newPolicy(config).check(metricName, names, names.map((n) => labels[n]));
  return rejected === undefined ? "ok" : `${rejected.reason}: ${rejected.message}`;
}

describe("createHubSeriesPolicy admits what standard senders send", () => {
  test.each([
    ["a node_exporter series", "node_cpu_seconds_total", { job: "node", instance: "gs-0001:9100", cpu: "0", mode: "idle" }],
    ["a classic histogram bucket (le)", "http_request_duration_seconds_bucket", { job: "api", le: "+Inf", handler: "/api/v1/query" }],
    ["a summary quantile", "go_gc_duration_seconds", { job: "api", quantile: "0.99" }],
    ["__-prefixed labels (Cortex HA __replica__)", "up", { __replica__: "prom-1", cluster: "eu" }],
    ["our agent's labels", "game_players_connected", { region: "eu-west-1", az: "eu-west-1a", cluster: "prod-eu-1", shard_id: "3", instance_type: "c7g.2xlarge", build_id: "20261103120000", host: "gs-0001" }],
    ["empty values (absent)", "up", { job: "", zone: "" }],
  ])("%s", (_what, name, labels) => {
    expect(verdictOf({}, name, labels)).toBe("ok");
  });
});

describe("createHubSeriesPolicy rejects what must not be stored", () => {
  test.each([
    ["player_id, always", {}, { player_id: "p1" }, 'forbidden_label: label "player_id" is forbidden (player identity never leaves the host)'],
    ["case-insensitively", {}, { Raw_IP: "x" }, 'forbidden_label: label "Raw_IP" is forbidden (IP addresses never leave the host)'],
    ["by the _<name> suffix rule", {}, { target_request_id: "x" }, 'forbidden_label: label "target_request_id" is forbidden (ends with "_request_id"; request IDs trace single player requests)'],
    ["the agent's default list (message)", {}, { message: "hi" }, 'forbidden_label: label "message" is forbidden (free text may carry personal data)'],
    ["a configured list, always-forbidden names still added", { forbid: ["tenant_secret"] }, { request_id: "r" }, 'forbidden_label: label "request_id" is forbidden (request IDs trace single player requests)'],
    ["a configured name", { forbid: ["tenant_secret"] }, { tenant_secret: "s" }, 'forbidden_label: label "tenant_secret" is forbidden (listed in policy.labels.forbid)'],
    ["an IP address value", {}, { peer: "10.0.0.7:7777" }, 'pii_value: label "peer" value looks like an IP address'],
    ["an e-mail value", {}, { owner: "ana@example.com" }, 'pii_value: label "owner" value looks like an e-mail address'],
    ["a long digit run", {}, { account: "76561198000000001" }, 'pii_value: label "account" value contains a long digit run that looks like an ID or phone number'],
    ["free text", {}, { reason: "Disconnected." }, 'free_text: label "reason" value looks like a sentence (ends with a full stop)'],
    ["a too-long value", { maxValueLength: 8 }, { build: "123456789" }, 'value_too_long: label "build" value has 9 characters, more than the maximum of 8'],
    ["too many labels", { maxLabels: 2 }, { a: "1", b: "2", c: "3" }, "too_many_labels: series has 3 non-empty labels besides __name__, more than the maximum of 2"],
    ["a label outside a configured allow list", { allow: ["region"] }, { region: "eu", zone: "a" }, 'label_not_allowed: label "zone" is not in the allow list (policy.allow)'],
  ])("%s", (_what, config, labels, expected) => {
    expect(verdictOf(config, "game_x", labels)).toBe(expected);
  });

  test("checks run in a fixed order: metric name, label count, then labels by name", () => {
    expect(verdictOf({ maxLabels: 1 }, "9x", { player_id: "1", a: "b" })).toMatch(/^invalid_metric_name/);
    expect(verdictOf({ maxLabels: 1 }, "x", { player_id: "1", a: "b" })).toMatch(/^too_many_labels/);
    expect(verdictOf({}, "x", { b_email: "x", a: "10.0.0.1" })).toMatch(/^pii_value: label "a"/);
  });

  test("an allow list implicitly allows le and quantile", () => {
    expect(verdictOf({ allow: ["region"] }, "x_bucket", { region: "eu", le: "0.5" })).toBe("ok");
    expect(verdictOf({ allow: ["region"] }, "x", { region: "eu", quantile: "0.5" })).toBe("ok");
  });

  test("PII checks can be switched off, or skipped for named labels (scrapes by IP: instance)", () => {
    expect(verdictOf({ rejectPiiValues: false }, "up", { instance: "10.0.0.7:9100" })).toBe("ok");
    expect(verdictOf({ piiExemptLabels: ["instance"] }, "up", { instance: "10.0.0.7:9100" })).toBe("ok");
    expect(verdictOf({ piiExemptLabels: ["instance"] }, "up", { peer: "10.0.0.7" })).toMatch(/^pii_value/);
    // Free text is still checked on exempt labels.
    expect(verdictOf({ piiExemptLabels: ["instance"] }, "up", { instance: "a b" })).toMatch(/^free_text/);
  });

  test("exemplar labels get only the forbidden-name check", () => {
    const policy = newPolicy();
    expect(policy.checkExemplarLabelName("trace_id")).toBeUndefined();
    expect(policy.checkExemplarLabelName("player_id")?.reason).toBe("forbidden_label");
  });
});

describe("createHubSeriesPolicy config errors name the field and the value", () => {
  test.each([
    [{ forbid: ["player-id"] }, 'policy.forbid[0] must be a valid label name (got "player-id")'],
    [{ allow: ["region", "user_id"] }, 'policy.allow[1] must not be a forbidden label (got "user_id")'],
    [{ allow: ["src_raw_ip"] }, 'policy.allow[0] must not be a forbidden label (got "src_raw_ip")'],
    [{ maxLabels: 0 }, "policy.maxLabels must be an integer >= 1 (got 0)"],
    [{ maxValueLength: 1.5 }, "policy.maxValueLength must be an integer >= 1 (got 1.5)"],
    [{ maxCachedSeries: 1 }, "policy.maxCachedSeries must be an integer >= 2 (got 1)"],
    [{ rejectPiiValues: "yes" as unknown as boolean }, 'policy.rejectPiiValues must be true or false (got "yes")'],
    [{ piiExemptLabels: "instance" as unknown as string[] }, 'policy.piiExemptLabels must be a list of label names (got "instance")'],
  ])("%j", (config, message) => {
    expect(createHubSeriesPolicy(config)).toEqual({ ok: false, error: message });
  });

  test("the hub config's policy section is accepted as is", () => {
    expect(createHubSeriesPolicy({ rejectPiiValues: true }).ok).toBe(true);
    expect(createHubSeriesPolicy({ forbid: ["secret"], rejectPiiValues: false }).ok).toBe(true);
  });
});
