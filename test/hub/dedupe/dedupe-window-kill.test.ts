/**
 * kill -9: a child process (Node on an esbuild bundle, and Bun running the TypeScript directly)
 * remembers ids as fast as it can and is SIGKILLed at a random moment, several times into the
 * same directory. After each kill the window is reopened here: every id whose remember() had
 * resolved in any run must be seen. Nothing is closed or fdatasync'ed by the child: write(2)
 * into the page cache is what must be enough.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, test } from "vitest";
import { silentLogger, systemClock } from "../../../agent/core/deps";
import { openDedupeWindow } from "../../../hub/dedupe/dedupe-window";

const REPO = resolve(__dirname, "../../..");
const BUN = join(REPO, "node_modules/bun/bin/bun.exe");
const CHILD_TS = join(__dirname, "fixtures/remember-until-killed.ts");
const KILLS = 4;

const tmp = mkdtempSync(join(tmpdir(), "dedupe-kill-"));
const childJs = join(tmp, "remember-until-killed.mjs");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

beforeAll(async () => {
  await build({ entryPoints: [CHILD_TS], bundle: true, platform: "node", format: "esm", outfile: childJs, logLevel: "silent" });
});

interface Run {
  remembered: Array<[string, string]>;
  stderr: string;
}

/** Runs the child until it has printed `ready` and then `killAfterMs` passed; SIGKILLs it. */
function runUntilKilled(command: string[], dir: string, run: string, killAfterMs: number): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command[0], [...command.slice(1), dir, run], { stdio: ["ignore", "pipe", "pipe"] });
    const result: Run = { remembered: [], stderr: "" };
    let partial = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? ""; // a line cut by the kill proves nothing
      for (const line of lines) {
        if (line === "ready") setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        const [kind, tenant, id] = line.split(" ");
        if (kind === "r") result.remembered.push([tenant, id]);
      }
    });
    child.stderr.on("data", (chunk) => (result.stderr += chunk));
    child.on("error", fail);
    child.on("exit", (code, signal) => (signal === "SIGKILL" ? done(result) : fail(new Error(`child exited with ${code}: ${result.stderr}`))));
  });
}

test.each([
  ["node", ["node", childJs]],
  ["bun", [BUN, CHILD_TS]],
])(`ids whose remember() resolved survive ${KILLS} kill -9s of a %s child`, async (runtime, command) => {
  const dir = join(tmp, runtime);
  const resolved: Array<[string, string]> = [];
  for (let k = 0; k < KILLS; k++) {
    const run = await runUntilKilled(command, dir, `${runtime}${k}`, 50 + Math.random() * 250);
    expect(run.stderr).toBe("");
    expect(run.remembered.length).toBeGreaterThan(0);
    for (const id of run.remembered) resolved.push(id); // tens of thousands: not as call arguments

    const opened = await openDedupeWindow({ dir }, { clock: systemClock, log: silentLogger });
    if (!opened.ok) throw new Error(JSON.stringify(opened.error));
    const window = opened.value;
    const missing = resolved.filter(([tenant, id]) => !window.seen(tenant, id));
    expect(missing).toEqual([]);
    expect(window.seen("tenant-0", `${runtime}${k}-never`)).toBe(false);
    console.log(`${runtime} kill ${k + 1}: ${run.remembered.length} ids resolved before the kill; ${window.stats().ids} in the window, ${window.stats().corruptRecordsTotal} torn records skipped`);
    await window.close();
  }
});
