/**
 * A retried OTLP request is counted once, also across a kill -9: the dedupe window is rebuilt
 * from the journal (request accepted, no state saved yet) and from state.json (journal trimmed).
 * A crash is faked by abandoning a runtime without stop() and opening a second one on the same
 * data dir (on fresh ports); the abandoned one is stopped only when the test ends.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultAgentConfig } from "../../../agent/config/config";
import { fakeClock, silentLogger } from "../../../agent/core/deps";
import { AgentRuntime } from "../../../agent/run/agent-runtime";
import { freePort } from "../../support/agent-process";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type Clock = ReturnType<typeof fakeClock>;

function dataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "edge-agent-dedupe-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A started runtime on `dir` with its own OTLP port; the caller decides whether it is stopped. */
async function startRuntime(dir: string, clock: Clock) {
  const config = defaultAgentConfig();
  const port = await freePort();
  config.otlp.listen = `127.0.0.1:${port}`;
  config.statsd.listen = "127.0.0.1:0";
  config.admin.listen = "127.0.0.1:0";
  config.dataDir = dir;
  config.identity.labels = { host: "dedupe-test" };
  config.policy.budget.idleExpirySec = 3600; // the clock jumps past the 10-minute window
  const runtime = new AgentRuntime(config, { clock, log: silentLogger });
  expect(await runtime.start()).toEqual({ ok: true, value: undefined });
  cleanups.push(() => runtime.stop());
  const post = async (body: string) => {
    const r = await fetch(`http://127.0.0.1:${port}/v1/metrics`, { method: "POST", headers: { "content-type": "application/json" }, body });
    await r.arrayBuffer();
    return r.status;
  };
  const kills = () => runtime.flush().series.find((s) => s.name === "kills_total")?.value;
  return { runtime, post, kills };
}

/** An OTLP/JSON export of one delta increment; its nanosecond timestamps make the body unique. */
function deltaKills(value: number, n: bigint): string {
  const endNs = 1_700_000_000_000_000_000n + n * 1_000_000_000n;
  const point = { startTimeUnixNano: String(endNs - 1_000_000_000n), timeUnixNano: String(endNs), asDouble: value };
  const sum = { aggregationTemporality: 1, isMonotonic: true, dataPoints: [point] };
  return JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: "kills", sum }] }] }] });
}

describe("OTLP retries across a kill -9", () => {
  it("answers a retry 200 without counting it again in the same process", async () => {
    const clock = fakeClock();
    const { runtime, post, kills } = await startRuntime(dataDir(), clock);
    const body = deltaKills(5, 1n);
    expect(await post(body)).toBe(200);
    expect(await post(body)).toBe(200);
    expect(kills()).toBe(5);
    expect(runtime.selfMetrics().find((f) => f.name === "agent_otlp_requests_deduplicated_total")?.samples[0].value).toBe(1);
  });

  it("recognises the retry from the journal when the agent died before saving its state", async () => {
    const clock = fakeClock();
    const dir = dataDir();
    const first = await startRuntime(dir, clock);
    const body = deltaKills(7, 2n);
    expect(await first.post(body)).toBe(200); // journaled; no flush: state.json does not hold it
    // kill -9: the first runtime is abandoned
    const second = await startRuntime(dir, clock);
    expect(await second.post(body)).toBe(200);
    expect(second.kills()).toBe(7); // replayed once, the retry not counted
  });

  it("recognises the retry from state.json after the journal was trimmed", async () => {
    const clock = fakeClock();
    const dir = dataDir();
    const first = await startRuntime(dir, clock);
    const body = deltaKills(3, 3n);
    expect(await first.post(body)).toBe(200);
    expect(await first.post(deltaKills(1, 4n))).toBe(200);
    expect(first.kills()).toBe(4); // flush: state saved (window included), journal trimmed
    await new Promise((r) => setTimeout(r, 50)); // the trim runs after the save
    clock.advance(9 * 60_000);
    const second = await startRuntime(dir, clock);
    expect(await second.post(body)).toBe(200);
    expect(second.kills()).toBe(4);
    // Past the 10-minute window identical bytes are taken as new data.
    clock.advance(2 * 60_000);
    expect(await second.post(body)).toBe(200);
    expect(second.kills()).toBe(7);
  });
});
