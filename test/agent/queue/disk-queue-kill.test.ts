/**
 * kill -9 at random moments: a Bun child appends and acknowledges as fast as it can and is
 * SIGKILLed 30 times; after each kill the queue must hold every record whose append had
 * resolved and that was not acknowledged, in order, with no duplicates, and nothing that was.
 */
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { afterAll, expect, test } from "vitest";
import { idsOf, makeTempDir, openQueue, readAll } from "./queue-helpers";

const REPO = resolve(__dirname, "../../..");
const BUN = join(REPO, "node_modules/bun/bin/bun.exe");
const CHILD = join(__dirname, "fixtures/append-until-killed.ts");
const KILLS = Number(process.env.QUEUE_KILL_RUNS ?? 30); // more for a soak run

const tmp = makeTempDir("disk-queue-kill-");
afterAll(() => tmp.remove());

interface ChildRun {
  appended: Array<{ id: string; offset: number }>;
  acks: number[];
  stderr: string;
}

/** Runs the child, kills it with SIGKILL after `killAfterMs` (counted from "ready" when `afterReady`). */
function runChildUntilKilled(run: number, killAfterMs: number, afterReady: boolean): Promise<ChildRun> {
  return new Promise((done, fail) => {
    const child = spawn(BUN, [CHILD, tmp.dir, String(run)], { stdio: ["ignore", "pipe", "pipe"] });
    const result: ChildRun = { appended: [], acks: [], stderr: "" };
    let pending = "";
    const kill = () => setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    if (!afterReady) kill();
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? ""; // a line cut by the kill is not evidence of anything
      for (const line of lines) {
        const [kind, a, b] = line.split(" ");
        if (kind === "ready" && afterReady) kill();
        if (kind === "a") result.appended.push({ id: a, offset: Number(b) });
        if (kind === "k") result.acks.push(Number(a));
      }
    });
    child.stderr.on("data", (chunk) => (result.stderr += chunk));
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") fail(new Error(`child exited with ${code}: ${result.stderr}`));
      else done(result);
    });
  });
}

test(`keeps every resolved, unacknowledged record across ${KILLS} kill -9s, in order, without duplicates`, async () => {
  const resolved = new Map<string, number>(); // id → offset, every append that resolved in any run
  let printedAck = 0;
  let corruptSeen = 0;
  let recordsChecked = 0;
  for (let run = 0; run < KILLS; run++) {
    const duringOpen = run % 5 === 4; // some kills land while the child is still opening the queue
    const child = await runChildUntilKilled(run, duringOpen ? Math.random() * 60 : 5 + Math.random() * 120, !duringOpen);
    expect(child.stderr).toBe("");
    for (const { id, offset } of child.appended) resolved.set(id, offset);
    printedAck = Math.max(printedAck, ...child.acks);

    const { queue } = await openQueue({ dir: tmp.dir, segmentBytes: 32 * 1024, maxBytes: 1 << 30 });
    const stats = queue.stats();
    const records = await readAll(queue, 1000);
    await queue.close();
    corruptSeen += stats.dropped.corrupt;
    recordsChecked += records.length;

    // The durable ack is at least what the child saw resolve; nothing before it comes back.
    expect(stats.ackOffset).toBeGreaterThanOrEqual(printedAck);
    expect(records.every((r) => r.offset >= stats.ackOffset)).toBe(true);
    // Order and uniqueness: offsets increase, ids are unique, each run's sequence increases.
    const offsets = records.map((r) => r.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(idsOf(records)).size).toBe(records.length);
    const lastSeqByRun = new Map<string, number>();
    for (const r of records) {
      const [runId, seq] = r.id.split("/");
      expect(Number(seq)).toBeGreaterThan(lastSeqByRun.get(runId) ?? -1);
      lastSeqByRun.set(runId, Number(seq));
    }
    // Every append that resolved and is not behind the durable ack is present, where it was.
    const present = new Map(records.map((r) => [r.id, r.offset]));
    const missing = [...resolved].filter(([id, offset]) => offset >= stats.ackOffset && present.get(id) !== offset);
    expect(missing).toEqual([]);
  }
  expect(resolved.size).toBeGreaterThan(1000);
  console.log(`kill -9 x${KILLS}: ${resolved.size} appends resolved, ${recordsChecked} records re-read, torn tails counted ${corruptSeen}`);
}, 60_000 + KILLS * 1000);
