/**
 * Append throughput of the disk queue, for the numbers quoted in the issue: records/s and MB/s
 * for 1 KiB and 64 KiB payloads, fsync "batch", with 1 and 64 appends in flight. Runs under Bun
 * directly and under Node once bundled (see the test README line in agent/queue/README.md).
 *
 * Usage: node_modules/bun/bin/bun.exe bench/disk-queue.bench.ts <dir> [seconds-per-case]
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { silentLogger, systemClock } from "../agent/core/deps";
import { openDiskQueue, type FsyncPolicy } from "../agent/queue/disk-queue";

const [dir, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg ?? 2);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun === "undefined" ? `node ${process.version}` : `bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`;

async function measure(payloadBytes: number, inFlight: number, fsync: FsyncPolicy): Promise<void> {
  const caseDir = join(dir, `${payloadBytes}-${inFlight}-${fsync}`);
  const opened = await openDiskQueue({ dir: caseDir, maxBytes: 4096 * 1024 * 1024, fsync }, { clock: systemClock, log: silentLogger });
  if (!opened.ok) throw new Error(JSON.stringify(opened.error));
  const queue = opened.value;
  const payload = new Uint8Array(payloadBytes).fill(7);
  const deadline = performance.now() + seconds * 1000;
  let records = 0;
  const startedMs = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      const result = await queue.append(payload, { id: `host-bench/${records}` });
      if (!result.ok) throw new Error(JSON.stringify(result.error));
      records++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsedSec = (performance.now() - startedMs) / 1000;
  await queue.close();
  rmSync(caseDir, { recursive: true, force: true });
  const perSec = records / elapsedSec;
  console.log(
    `${runtime.padEnd(14)} payload ${String(payloadBytes / 1024).padStart(2)} KiB  in-flight ${String(inFlight).padStart(3)}  fsync ${fsync.padEnd(6)} ` +
      `${Math.round(perSec).toString().padStart(8)} records/s  ${((perSec * payloadBytes) / 1e6).toFixed(1).padStart(7)} MB/s`,
  );
}

for (const payloadBytes of [1024, 64 * 1024]) {
  for (const inFlight of [1, 64]) await measure(payloadBytes, inFlight, "batch");
}
await measure(1024, 64, "never");
