/**
 * A ~500 MiB backlog opens fast and in bounded memory: open() reads only the seal of each
 * finished segment and scans only the last one; draining reads through a bounded window.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SEAL_FRAME_BYTES, recordFrameBytes } from "../../../agent/queue/frame";
import { segmentFileName } from "../../../agent/queue/segment-info";
import { makeTempDir, openQueue, payloadOf } from "./queue-helpers";

const REPO = resolve(__dirname, "../../..");
const BUN = join(REPO, "node_modules/bun/bin/bun.exe");
const MiB = 1024 * 1024;
const BACKLOG_BYTES = 500 * MiB;
const RUNTIME = process.versions.bun ? `Bun ${process.versions.bun}` : `Node ${process.version}`;

const tmp = makeTempDir("disk-queue-backlog-");
const dir = join(tmp.dir, "queue");
let segmentCount = 0;
let recordsPerSegment = 0;
afterAll(() => tmp.remove());

/**
 * Writes one real 8 MiB segment through the queue, then copies its bytes under successive
 * offsets (frames do not contain their offset), so the backlog costs ~1 s to build.
 */
beforeAll(async () => {
  const seedDir = join(tmp.dir, "seed");
  const { queue } = await openQueue({ dir: seedDir, fsync: "never" });
  for (let n = 0; n < 9; n++) {
    const appended = await queue.append(payloadOf(n, MiB), { id: `seed/${n}` });
    if (!appended.ok) throw new Error("seed append failed");
  }
  await queue.close();
  const sealed = readFileSync(join(seedDir, readdirSync(seedDir).filter((f) => f.endsWith(".seg")).sort()[0]));
  recordsPerSegment = Math.floor((8 * MiB) / recordFrameBytes("seed/0".length, MiB));
  const unsealed = sealed.subarray(0, sealed.length - SEAL_FRAME_BYTES);
  execFileSync("mkdir", ["-p", dir]);
  segmentCount = Math.ceil(BACKLOG_BYTES / sealed.length);
  for (let i = 0; i < segmentCount; i++) {
    const isLast = i === segmentCount - 1;
    writeFileSync(join(dir, segmentFileName(i * sealed.length)), isLast ? unsealed : sealed);
  }
}, 60_000);

test("opens a 500 MiB backlog in well under a second without reading it into memory", async () => {
  const before = process.memoryUsage();
  const startedMs = performance.now();
  const { queue } = await openQueue({ dir });
  const openMs = performance.now() - startedMs;
  const after = process.memoryUsage();
  try {
    const stats = queue.stats();
    expect(stats.segments).toBe(segmentCount);
    expect(stats.recordsPending).toBe(segmentCount * recordsPerSegment);
    expect(stats.bytesPending).toBeGreaterThanOrEqual(BACKLOG_BYTES - 8 * MiB);
    expect(openMs).toBeLessThan(1000);
    expect(after.rss - before.rss).toBeLessThan(64 * MiB);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * MiB);
    console.log(`${RUNTIME}: opened ${(stats.bytesPending / MiB).toFixed(0)} MiB in ${segmentCount} segments in ${openMs.toFixed(1)} ms; rss +${((after.rss - before.rss) / MiB).toFixed(1)} MiB`);

    // Draining reads through a bounded window: acknowledged batches do not accumulate.
    let drained = 0;
    let peakRss = 0;
    while (drained < 64 * MiB) {
      const page = await queue.peek({ maxRecords: 4, maxBytes: 4 * MiB });
      if (!page.ok) throw new Error("peek failed");
      drained += page.value.records.reduce((sum, r) => sum + r.payload.length, 0);
      expect((await queue.ack(page.value.nextOffset)).ok).toBe(true);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    expect(peakRss - before.rss).toBeLessThan(128 * MiB);
    expect(queue.stats().segments).toBeLessThan(segmentCount);
  } finally {
    await queue.close();
  }
});

test("opens the same backlog just as cheaply in a Bun child process (the compiled agent's runtime)", () => {
  const out = execFileSync(BUN, [join(__dirname, "fixtures/open-backlog.ts"), dir], { encoding: "utf8" });
  const measured = JSON.parse(out.trim()) as { openMs: number; rssGrowthBytes: number; bytesPending: number; firstId: string };
  console.log(`Bun child: opened in ${measured.openMs.toFixed(1)} ms; rss +${(measured.rssGrowthBytes / MiB).toFixed(1)} MiB`);
  expect(measured.bytesPending).toBeGreaterThan(400 * MiB);
  expect(measured.firstId).toMatch(/^seed\//);
  expect(measured.openMs).toBeLessThan(1000);
  expect(measured.rssGrowthBytes).toBeLessThan(64 * MiB);
});
