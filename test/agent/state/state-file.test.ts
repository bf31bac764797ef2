import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Aggregator } from "../../../agent/aggregate/aggregator";
import { defaultAgentConfig } from "../../../agent/config/config";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { AgentRuntime } from "../../../agent/run/agent-runtime";
import { readState, statePath, writeState, type AgentState } from "../../../agent/state/state-file";
import { createSeriesBudget } from "../../../policy/budget/series-budget";
import { DEFAULT_LABEL_POLICY } from "../../../policy/labels/config";
import { createLabelPolicy } from "../../../policy/labels/label-policy";
import { goldenChecker } from "../../support/golden";

const GOLDEN_DIR = new URL("./testdata/golden/", import.meta.url);
const NOW_MS = 1_700_000_123_456;

const expectGolden = goldenChecker(GOLDEN_DIR);

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true });
});

function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-agent-state-"));
  dirs.push(dir);
  return dir;
}

/** A small fixed state with every kind of series and every non-finite number. */
function smallState(): AgentState {
  return {
    version: 1,
    savedAtMs: NOW_MS,
    cadence: { mode: "incident", incidentUntilMs: NOW_MS + 1_800_000 },
    series: [
      { name: "kills_total", labels: [["region", "eu"]], kind: "counter", lastUpdateMs: NOW_MS - 10, base: 10, last: 4, streamStartMs: 1_700_000_000_000 },
      { name: "temp", labels: [], kind: "gauge", lastUpdateMs: NOW_MS - 20, base: -Infinity, last: 0, streamStartMs: null },
      { name: "ceiling", labels: [], kind: "gauge", lastUpdateMs: NOW_MS - 20, base: Infinity, last: 0, streamStartMs: null },
      {
        name: "lat",
        labels: [["az", "b"], ["region", "eu"]],
        kind: "expo",
        lastUpdateMs: NOW_MS - 30,
        base: 0,
        last: 0,
        streamStartMs: null,
        hist: {
          scale: 20,
          zeroThreshold: 0,
          zeroCount: 0,
          count: 0,
          sum: Number.NaN,
          min: Infinity,
          max: -Infinity,
          positive: { offset: 0, counts: [] },
          negative: { offset: 0, counts: [] },
        },
      },
      {
        name: "size",
        labels: [],
        kind: "explicit",
        lastUpdateMs: NOW_MS - 40,
        base: 0,
        last: 0,
        streamStartMs: 1_700_000_000_000,
        explicitLast: { bounds: [1, 10], counts: [1, 2, 0], count: 3, sum: 12.5 },
      },
    ],
  };
}

describe("writeState / readState", () => {
  it("writes the golden on-disk layout for a small fixed state", () => {
    const dir = tempDataDir();
    expect(writeState(dir, smallState())).toEqual({ ok: true, value: undefined });
    expectGolden("state.json", readFileSync(statePath(dir), "utf8"));
  });

  it("reads the golden file back to the same state, non-finite numbers included", () => {
    const dir = tempDataDir();
    writeFileSync(statePath(dir), readFileSync(new URL("state.json", GOLDEN_DIR)));
    expect(readState(dir, NOW_MS)).toEqual({ ok: true, value: smallState() });
  });

  it("round-trips a state with +Inf, -Inf and NaN exactly", () => {
    const dir = tempDataDir();
    writeState(dir, smallState());
    const r = readState(dir, NOW_MS);
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    expect(r.value).toEqual(smallState());
    expect(r.value.series[1].base).toBe(-Infinity);
    expect(r.value.series[2].base).toBe(Infinity);
    expect(Number.isNaN(r.value.series[3].hist!.sum)).toBe(true);
  });

  it("round-trips a live aggregator's state so restore gives the same snapshot", () => {
    const make = () => new Aggregator({ policy: createLabelPolicy(DEFAULT_LABEL_POLICY), budget: createSeriesBudget({ maxSeries: 10, idleExpiryMs: 1_000 }) });
    const before = make();
    before.record({ name: "lat", labels: {}, value: { type: "observe", value: 0.25, weight: 3 } }, 1);
    before.record({ name: "lat", labels: {}, value: { type: "observe", value: -4, weight: 1 } }, 1);
    before.record({ name: "empty_hist", labels: {}, value: { type: "observe", value: Number.NaN, weight: 1 } }, 1); // rejected: no series
    before.record({ name: "temp", labels: {}, value: { type: "gauge", value: -Infinity } }, 1);
    before.record({ name: "req_total", labels: {}, startTimeMs: 5, value: { type: "counter", temporality: "cumulative", value: 9 } }, 1);
    const dir = tempDataDir();
    writeState(dir, { version: 1, savedAtMs: NOW_MS, cadence: { mode: "steady", incidentUntilMs: null }, series: before.toPersisted() });
    const r = readState(dir, NOW_MS);
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    const after = make();
    expect(after.restore(r.value.series)).toEqual({ restored: 3, dropped: 0 });
    expect(after.snapshot()).toEqual(before.snapshot());
  });

  it("overwrites the previous state and leaves no temporary file behind", () => {
    const dir = tempDataDir();
    writeState(dir, smallState());
    const second = { ...smallState(), savedAtMs: NOW_MS + 1, series: [] };
    writeState(dir, second);
    expect(readState(dir, NOW_MS)).toEqual({ ok: true, value: second });
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("creates a missing data directory", () => {
    const dir = path.join(tempDataDir(), "nested", "data");
    expect(writeState(dir, smallState()).ok).toBe(true);
    expect(existsSync(statePath(dir))).toBe(true);
  });

  it("returns STATE_IO when the data directory cannot be created", () => {
    const parent = tempDataDir();
    writeFileSync(path.join(parent, "file"), "");
    const r = writeState(path.join(parent, "file", "data"), smallState());
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.code).toBe("STATE_IO");
  });

  it("returns STATE_MISSING when there is no state file", () => {
    expect(readState(tempDataDir(), NOW_MS)).toEqual({ ok: false, error: { code: "STATE_MISSING" } });
  });

  it("ignores a leftover state.json.tmp from a crash mid-write", () => {
    const dir = tempDataDir();
    writeState(dir, smallState());
    writeFileSync(statePath(dir) + ".tmp", '{"version":1,"savedAtMs":0,"cadence":{"mo'); // torn write
    expect(readState(dir, NOW_MS)).toEqual({ ok: true, value: smallState() });
    // The next write replaces it.
    writeState(dir, smallState());
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("treats a leftover state.json.tmp without state.json as missing", () => {
    const dir = tempDataDir();
    writeFileSync(statePath(dir) + ".tmp", JSON.stringify(smallState()));
    expect(readState(dir, NOW_MS)).toEqual({ ok: false, error: { code: "STATE_MISSING" } });
  });

  it.each([
    ["truncated JSON", '{"version":1,"savedAtMs":17000'],
    ["an empty file", ""],
    ["JSON null", "null"],
    ["an unknown version", '{"version":2,"savedAtMs":0,"cadence":{"mode":"steady","incidentUntilMs":null},"series":[]}'],
    ["series that is not a list", '{"version":1,"savedAtMs":0,"cadence":{"mode":"steady","incidentUntilMs":null},"series":{}}'],
    ["binary garbage", "\u0000\u0001\u0002"],
  ])("moves a corrupt file (%s) aside to state.json.corrupt-<ms> and reports STATE_CORRUPT", (_what, content) => {
    const dir = tempDataDir();
    writeFileSync(statePath(dir), content);
    const r = readState(dir, NOW_MS);
    const movedTo = `${statePath(dir)}.corrupt-${NOW_MS}`;
    expect(r).toEqual({ ok: false, error: { code: "STATE_CORRUPT", message: expect.any(String), movedTo } });
    expect(readFileSync(movedTo, "utf8")).toBe(content);
    expect(existsSync(statePath(dir))).toBe(false);
    // The agent starts empty next time rather than tripping over the same file again.
    expect(readState(dir, NOW_MS + 1)).toEqual({ ok: false, error: { code: "STATE_MISSING" } });
  });

  it("names the unknown version in the message", () => {
    const dir = tempDataDir();
    writeFileSync(statePath(dir), '{"version":7,"series":[]}');
    const r = readState(dir, NOW_MS);
    expect(!r.ok && r.error.code === "STATE_CORRUPT" && r.error.message).toBe("unknown state version 7");
  });

  // Regression (found in review, fixed): readState only checks `version` and that `series` is an array. A state file that is
  // valid JSON but whose entries are not PersistedSeries (hand-edited, or written by another
  // build) is returned as ok, and AgentRuntime.restoreState → Aggregator.restore then throws
  // (TypeError "pairs is not iterable" / "BUG: ExpoHistogram.fromData got invalid data"), so the agent
  // fails to start instead of moving the file aside as the module doc promises.
  // Input: {"version":1,"savedAtMs":0,"cadence":{"mode":"steady","incidentUntilMs":null},"series":[{"name":"x"}]}
  // Expected: STATE_CORRUPT (file moved aside). Actual: ok.
  it("reports a structurally invalid series entry as STATE_CORRUPT", () => {
    const dir = tempDataDir();
    writeFileSync(statePath(dir), '{"version":1,"savedAtMs":0,"cadence":{"mode":"steady","incidentUntilMs":null},"series":[{"name":"x"}]}');
    const r = readState(dir, NOW_MS);
    expect(!r.ok && r.error.code).toBe("STATE_CORRUPT");
  });

  // Regression (found in review, fixed): consequence of the above for the agent: AgentRuntime.start() → restoreState() →
  // Aggregator.restore() throws TypeError ("pairs is not iterable") and start() rejects, so
  // the agent cannot start until someone deletes the file. Expected: start() ok, empty state,
  // file moved aside. Actual: start() rejects.
  it("lets the agent start empty when a state entry is malformed", async () => {
    const dir = tempDataDir();
    writeFileSync(statePath(dir), '{"version":1,"savedAtMs":0,"cadence":{"mode":"steady","incidentUntilMs":null},"series":[{"name":"x"}]}');
    const config = defaultAgentConfig();
    config.otlp.listen = "127.0.0.1:0";
    config.statsd.listen = "127.0.0.1:0";
    config.dataDir = dir;
    const runtime = new AgentRuntime(config, { clock: fakeClock(), log: silentLogger });
    try {
      expect(await runtime.start()).toEqual({ ok: true, value: undefined });
    } finally {
      await runtime.stop();
    }
  });
});
