import { readFileSync } from "node:fs";
import { describe, expect, it, test } from "vitest";
import { formatDuration, renderStatusTable } from "../../../agent/cli/status-table";
import type { AgentStatus } from "../../../agent/run/agent-runtime";
import { goldenChecker } from "../../support/golden";

const GOLDEN_DIR = new URL("./testdata/golden/", import.meta.url);

const expectGolden = goldenChecker(GOLDEN_DIR);

/** A busy agent in incident mode whose state cannot be saved. */
const BUSY: AgentStatus = {
  version: "0.1.0-test",
  uptimeSec: 93_784,
  cadence: { mode: "incident", intervalSec: 5, incidentRemainingSec: 1_234 },
  series: { active: 287, budget: 300, idleExpirySec: 300 },
  rejections: { type_conflict: 2, budget: 1_500, forbidden_label: 31 },
  malformed: { "statsd.bad_tags": 12, "otlp.bad_protobuf": 1, "statsd.line_too_long": 3 },
  points: { accepted: { otlp: 120_000, statsd: 9_876_543 }, rejected: { otlp: 31, statsd: 1_502 } },
  lastFlush: { atMs: 1_700_000_000_000, ageSec: 3.2, series: 287, durationMs: 1.25 },
  flushes: 18_756,
  queue: { depth: 0, note: "no remote-write sink configured" },
  listeners: { otlp: "127.0.0.1:4318", statsd: "127.0.0.1:8125", admin: "127.0.0.1:9464" },
  ready: { ok: false, reason: "flush is overdue by 12 s" },
  state: { lastSaveError: "EACCES: permission denied, open '/var/lib/edge-agent/state.json.tmp'" },
};

/** A freshly started agent: nothing flushed, nothing rejected. */
const FRESH: AgentStatus = {
  version: "0.1.0-test",
  uptimeSec: 4,
  cadence: { mode: "steady", intervalSec: 10, incidentRemainingSec: 0 },
  series: { active: 0, budget: 0, idleExpirySec: 300 },
  rejections: {},
  malformed: {},
  points: { accepted: { otlp: 0, statsd: 0 }, rejected: { otlp: 0, statsd: 0 } },
  lastFlush: null,
  flushes: 0,
  queue: { depth: 0, note: "" },
  listeners: { otlp: "[::1]:4318", statsd: "0.0.0.0:8125", admin: "127.0.0.1:9464" },
  ready: { ok: true, reason: "ok" },
  state: { lastSaveError: null },
};

describe("renderStatusTable", () => {
  it("renders the golden table for a busy incident-mode agent", () => {
    expectGolden("status-busy.txt", renderStatusTable(BUSY));
  });

  it("renders the golden table for a fresh steady agent", () => {
    expectGolden("status-fresh.txt", renderStatusTable(FRESH));
  });

  it("sorts rejections and malformed input by name", () => {
    const text = renderStatusTable(BUSY);
    expect(text.indexOf("budget")).toBeLessThan(text.indexOf("forbidden_label"));
    expect(text.indexOf("forbidden_label")).toBeLessThan(text.indexOf("type_conflict"));
    expect(text.indexOf("otlp.bad_protobuf")).toBeLessThan(text.indexOf("statsd.bad_tags"));
  });

  it("renders what GET /api/v1/status returns after a JSON round trip", () => {
    expect(renderStatusTable(JSON.parse(JSON.stringify(BUSY)))).toBe(renderStatusTable(BUSY));
  });
});

const durationCases: { sec: number; text: string }[] = JSON.parse(
  readFileSync(new URL("./testdata/format-duration-cases.json", import.meta.url), "utf8"),
);

describe("formatDuration (testdata/format-duration-cases.json)", () => {
  test.each(durationCases.map((c) => [c.sec, c.text] as const))("formats %d s as %s", (sec, text) => {
    expect(formatDuration(sec)).toBe(text);
  });
});
