import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { Fleet, parseSelector } from "../../../hub/fleet/fleet";

const EU = "host=gs-1,region=eu-west-1,az=eu-west-1a";
const US = "host=gs-2,region=us-east-1";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fleet(dir = mkdtempSync(join(tmpdir(), "fleet-"))) {
  dirs.push(dir);
  const clock = fakeClock();
  return { f: new Fleet(dir, { clock, log: silentLogger }), clock, dir };
}

describe("fleet view and cadence switch", () => {
  it("parses selectors and names a bad part", () => {
    expect(parseSelector("region=eu-west-1,az=b")).toEqual({ ok: true, value: { region: "eu-west-1", az: "b" } });
    expect(parseSelector("*")).toEqual({ ok: true, value: {} });
    const bad = parseSelector("region");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error).toContain(`"region" must be label=value`);
  });

  it("records agents from their headers and tells matching ones to switch, with the TTL left", () => {
    const { f, clock } = fleet();
    expect(f.observe("t", { labels: EU, version: "0.1.0", config: "abc", cadence: "steady", series: "287" })).toBeUndefined();
    f.setCadence({ region: "eu-west-1" }, "incident", 600);
    expect(f.observe("t", { labels: EU, cadence: "steady" })).toBe("incident; ttl=600");
    expect(f.observe("t", { labels: US, cadence: "steady" })).toBeUndefined();
    clock.advance(590_000);
    expect(f.observe("t", { labels: EU, cadence: "incident" })).toBe("incident; ttl=10");
    clock.advance(11_000);
    // Expired: no header; the agent reverts on its own TTL.
    expect(f.observe("t", { labels: EU, cadence: "steady" })).toBeUndefined();
    const view = f.view();
    expect(view.agents.map((a) => [a.host, a.version, a.configHash, a.series])).toEqual([
      ["gs-1", "0.1.0", "abc", 287],
      ["gs-2", "", "", 0],
    ]);
    expect(f.view({ region: "us-east-1" }).agents.map((a) => a.host)).toEqual(["gs-2"]);
  });

  it("an agent whose labels header changes is matched by its new labels, and many distinct headers stay correct", () => {
    const { f } = fleet();
    f.setCadence({ region: "us-east-1" }, "incident", 600);
    expect(f.observe("t", { labels: "host=gs-9,region=eu-west-1" })).toBeUndefined();
    expect(f.observe("t", { labels: "host=gs-9,region=us-east-1" })).toBe("incident; ttl=600");
    expect(f.view({ host: "gs-9" }).agents.map((a) => a.labels.region)).toEqual(["us-east-1"]);
    expect(f.observe("t", { labels: "host=gs-9,region=eu-west-1" })).toBeUndefined();
    // More distinct headers than the parsed-header memory holds (it starts over when full).
    for (let i = 0; i < 200_100; i++) f.observe("t", { labels: `host=h-${i % 50},region=${i % 2 ? "us-east-1" : "eu-west-1"},build=${i}` });
    expect(f.observe("t", { labels: "host=gs-9,region=us-east-1,az=b" })).toBe("incident; ttl=600");
    expect(f.view({ host: "gs-9" }).agents.map((a) => [a.labels.region, a.labels.az])).toEqual([["us-east-1", "b"]]);
  });

  it("steady ends a rule early: agents still in incident are told to go back", () => {
    const { f } = fleet();
    f.setCadence({ region: "eu-west-1" }, "incident", 1800);
    expect(f.observe("t", { labels: EU, cadence: "steady" })).toMatch(/^incident/);
    f.setCadence({ region: "eu-west-1" }, "steady", 0);
    expect(f.observe("t", { labels: EU, cadence: "incident" })).toBe("steady");
    expect(f.observe("t", { labels: EU, cadence: "steady" })).toBeUndefined();
  });

  it("keeps rules across a restart and ignores a damaged file", () => {
    const { f, dir } = fleet();
    f.setCadence({ region: "eu-west-1" }, "incident", 1800);
    const again = new Fleet(dir, { clock: fakeClock(), log: silentLogger });
    expect(again.activeRules()).toHaveLength(1);
    expect(again.observe("t", { labels: EU })).toMatch(/^incident; ttl=/);
    writeFileSync(join(dir, "fleet-cadence.json"), "{not json");
    expect(new Fleet(dir, { clock: fakeClock(), log: silentLogger }).activeRules()).toEqual([]);
  });
});
