import { readFileSync } from "node:fs";
import { describe, expect, it, test } from "vitest";
import { Cadence, DEFAULT_CADENCE, parseDurationSec } from "../../../agent/cadence/cadence";
import { fakeClock } from "../../../agent/core/deps";

const START_MS = 1_700_000_000_000;

function createCadence(config = DEFAULT_CADENCE) {
  const clock = fakeClock(START_MS);
  const cadence = new Cadence(config, clock);
  let changes = 0;
  cadence.onChange(() => changes++);
  return { clock, cadence, changes: () => changes };
}

describe("Cadence", () => {
  it("starts steady with the steady interval and nothing remaining", () => {
    const { cadence } = createCadence();
    expect(cadence.mode()).toBe("steady");
    expect(cadence.intervalMs()).toBe(10_000);
    expect(cadence.remainingMs()).toBe(0);
    expect(cadence.snapshot()).toEqual({ mode: "steady", incidentUntilMs: null });
  });

  it("switches to the incident interval with the default TTL of 1800 s", () => {
    const { cadence } = createCadence();
    expect(cadence.defaultTtlSec).toBe(1800);
    expect(cadence.set("incident")).toEqual({ mode: "incident", incidentUntilMs: START_MS + 1_800_000 });
    expect(cadence.mode()).toBe("incident");
    expect(cadence.intervalMs()).toBe(5_000);
    expect(cadence.remainingMs()).toBe(1_800_000);
  });

  it("takes a custom TTL and counts it down as the clock moves", () => {
    const { cadence, clock } = createCadence();
    cadence.set("incident", 90);
    clock.advance(30_000);
    expect(cadence.remainingMs()).toBe(60_000);
    expect(cadence.mode()).toBe("incident");
  });

  it("uses the configured intervals and default TTL", () => {
    const { cadence } = createCadence({ steadyIntervalSec: 60, incidentIntervalSec: 1, incidentDefaultTtlSec: 120 });
    expect(cadence.intervalMs()).toBe(60_000);
    cadence.set("incident");
    expect(cadence.intervalMs()).toBe(1_000);
    expect(cadence.remainingMs()).toBe(120_000);
  });

  it("stays in incident mode until one millisecond before the TTL and reverts exactly at it", () => {
    const { cadence, clock } = createCadence();
    cadence.set("incident", 60);
    clock.advance(59_999);
    expect(cadence.mode()).toBe("incident");
    expect(cadence.remainingMs()).toBe(1);
    clock.advance(1);
    expect(cadence.mode()).toBe("steady");
    expect(cadence.intervalMs()).toBe(10_000);
    expect(cadence.remainingMs()).toBe(0);
    expect(cadence.snapshot()).toEqual({ mode: "steady", incidentUntilMs: null });
  });

  it("reverts after the default TTL when none was given", () => {
    const { cadence, clock } = createCadence();
    cadence.set("incident");
    clock.advance(1_800_000 - 1);
    expect(cadence.mode()).toBe("incident");
    clock.advance(1);
    expect(cadence.mode()).toBe("steady");
  });

  it("fires onChange on every set and once on the automatic revert", () => {
    const { cadence, clock, changes } = createCadence();
    cadence.set("incident", 10);
    expect(changes()).toBe(1);
    cadence.set("incident", 20); // extending is a change too
    expect(changes()).toBe(2);
    clock.advance(20_000);
    expect(cadence.mode()).toBe("steady");
    expect(changes()).toBe(3);
    cadence.mode();
    cadence.snapshot();
    expect(changes()).toBe(3);
    cadence.set("steady");
    expect(changes()).toBe(4);
  });

  it("switches back to steady on request before the TTL", () => {
    const { cadence } = createCadence();
    cadence.set("incident");
    expect(cadence.set("steady")).toEqual({ mode: "steady", incidentUntilMs: null });
    expect(cadence.intervalMs()).toBe(10_000);
  });

  it("restores a persisted incident that has not expired", () => {
    const { cadence, changes } = createCadence();
    cadence.restore({ mode: "incident", incidentUntilMs: START_MS + 5_000 });
    expect(cadence.mode()).toBe("incident");
    expect(cadence.remainingMs()).toBe(5_000);
    expect(changes()).toBe(0);
  });

  it("restores an expired incident as steady", () => {
    const { cadence } = createCadence();
    cadence.restore({ mode: "incident", incidentUntilMs: START_MS - 1 });
    expect(cadence.snapshot()).toEqual({ mode: "steady", incidentUntilMs: null });
    expect(cadence.intervalMs()).toBe(10_000);
  });

  it("restores an incident that ends exactly now as steady", () => {
    const { cadence } = createCadence();
    cadence.restore({ mode: "incident", incidentUntilMs: START_MS });
    expect(cadence.mode()).toBe("steady");
  });

  it("does not share state with the object it restored from or the snapshot it returned", () => {
    const { cadence } = createCadence();
    const persisted = { mode: "incident" as const, incidentUntilMs: START_MS + 5_000 };
    cadence.restore(persisted);
    persisted.incidentUntilMs = START_MS - 1;
    const snap = cadence.snapshot();
    snap.incidentUntilMs = 0;
    expect(cadence.snapshot()).toEqual({ mode: "incident", incidentUntilMs: START_MS + 5_000 });
  });
});

interface DurationCase {
  text: string;
  seconds: number | null;
}

const durations: DurationCase[] = JSON.parse(readFileSync(new URL("./testdata/durations.json", import.meta.url), "utf8"));

describe("parseDurationSec (testdata/durations.json)", () => {
  test.each(durations.map((d) => [JSON.stringify(d.text), d] as const))("parses %s", (_label, d) => {
    expect(parseDurationSec(d.text)).toBe(d.seconds ?? undefined);
  });
});
