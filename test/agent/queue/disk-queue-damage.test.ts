/**
 * Torn writes and damaged bytes: whatever happens to a frame, only that record is lost, it is
 * counted and logged, and every other record is still returned in order.
 */
import { appendFileSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { CHECKPOINT_FILE } from "../../../agent/queue/checkpoint";
import { encodeSealFrame } from "../../../agent/queue/frame";
import { appendOk, idsOf, makeTempDir, openQueue, range, readAll, type Opened } from "./queue-helpers";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CONFIG = { segmentBytes: 4096, maxBytes: 1 << 24 };
const ids = (ns: number[]) => ns.map((n) => `host-a/${n}`);

function tempDir(): string {
  const tmp = makeTempDir();
  cleanups.push(tmp.remove);
  return tmp.dir;
}

async function open(dir: string): Promise<Opened> {
  const opened = await openQueue({ dir, ...CONFIG });
  cleanups.push(() => opened.queue.close());
  return opened;
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort()
    .map((f) => join(dir, f));
}

/** Writes `count` records and returns their offsets, closing the queue. */
async function writeRecords(dir: string, count: number): Promise<number[]> {
  const { queue } = await openQueue({ dir, ...CONFIG });
  const offsets: number[] = [];
  for (const n of range(0, count)) offsets.push(await appendOk(queue, n));
  await queue.close();
  return offsets;
}

function startOf(file: string): number {
  return Number(file.slice(-24, -4));
}

describe("torn and damaged records", () => {
  test("truncating the last record at every byte loses only that record, counted and logged once", async () => {
    const dir = tempDir();
    const offsets = await writeRecords(dir, 3);
    const [file] = segmentFiles(dir);
    const original = readFileSync(file);
    const lastStart = offsets[2];
    for (let cut = lastStart; cut < original.length; cut++) {
      writeFileSync(file, original.subarray(0, cut));
      const { queue, logs } = await openQueue({ dir, ...CONFIG });
      expect(idsOf(await readAll(queue)), `cut at ${cut}`).toEqual(ids([0, 1]));
      const torn = cut > lastStart ? 1 : 0;
      expect(queue.stats().dropped.corrupt, `cut at ${cut}`).toBe(torn);
      expect(logs.filter((l) => l.level === "warn")).toEqual(
        torn ? [{ level: "warn", msg: "Truncated a torn record at the end of a queue segment.", fields: { file, position: lastStart, bytes: cut - lastStart } }] : [],
      );
      expect(statSync(file).size).toBe(lastStart);

      // Appends continue after the last intact record; nothing is counted twice.
      await appendOk(queue, 3);
      await queue.close();
      const reopened = await openQueue({ dir, ...CONFIG });
      expect(idsOf(await readAll(reopened.queue))).toEqual(ids([0, 1, 3]));
      expect(reopened.queue.stats().dropped.corrupt).toBe(0);
      await reopened.queue.close();
    }
  });

  test("zeros after the last record (power loss) are cut off and counted once", async () => {
    const dir = tempDir();
    await writeRecords(dir, 5);
    const [file] = segmentFiles(dir);
    const size = statSync(file).size;
    appendFileSync(file, new Uint8Array(3000));
    const { queue } = await open(dir);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 5)));
    expect(queue.stats().dropped.corrupt).toBe(1);
    expect(statSync(file).size).toBe(size);
  });

  test("flipping any byte of a record in the middle of the last segment loses only that record", async () => {
    const dir = tempDir();
    const offsets = await writeRecords(dir, 5);
    const [file] = segmentFiles(dir);
    const original = readFileSync(file);
    for (let at = offsets[2]; at < offsets[3]; at++) {
      const damaged = Buffer.from(original);
      damaged[at] ^= 0x5a;
      writeFileSync(file, damaged);
      const { queue, logs } = await openQueue({ dir, ...CONFIG });
      expect(idsOf(await readAll(queue)), `byte ${at}`).toEqual(ids([0, 1, 3, 4]));
      expect(queue.stats().dropped.corrupt, `byte ${at}`).toBe(1);
      expect(logs.filter((l) => l.msg === "Skipped a damaged queue record.")).toHaveLength(1);
      expect(statSync(file).size).toBe(original.length); // damage before intact frames is kept, not truncated
      await queue.close();
    }
  });

  test("damage in an older segment is found while reading and skipped, counted once", async () => {
    const dir = tempDir();
    const offsets = await writeRecords(dir, 200);
    const files = segmentFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    const victim = 30; // inside the first segment
    expect(offsets[victim + 1]).toBeLessThan(startOf(files[1]));
    const damaged = readFileSync(files[0]);
    damaged[offsets[victim] + 30] ^= 0xff;
    writeFileSync(files[0], damaged);

    const { queue, logs } = await open(dir);
    expect(queue.stats().dropped.corrupt).toBe(0); // open reads only seals of older segments
    const expected = ids(range(0, 200).filter((n) => n !== victim));
    expect(idsOf(await readAll(queue))).toEqual(expected);
    expect(idsOf(await readAll(queue))).toEqual(expected);
    expect(queue.stats().dropped.corrupt).toBe(1);
    expect(logs.filter((l) => l.msg === "Skipped a damaged queue record.")).toEqual([
      { level: "warn", msg: "Skipped a damaged queue record.", fields: { file: files[0], position: offsets[victim], bytes: offsets[victim + 1] - offsets[victim] } },
    ]);

    // Acknowledging past the damage works and the damaged record never comes back.
    const page = await queue.peek({ maxRecords: 50 });
    expect(page.ok && (await queue.ack(page.value.nextOffset)).ok).toBe(true);
    expect(queue.stats().recordsPending).toBeGreaterThanOrEqual(149);
  });

  test("an older segment with a damaged seal is scanned at open and keeps all its records", async () => {
    const dir = tempDir();
    await writeRecords(dir, 200);
    const [first] = segmentFiles(dir);
    const damaged = readFileSync(first);
    damaged[damaged.length - 10] ^= 0xff; // inside the seal's payload
    writeFileSync(first, damaged);
    const { queue } = await open(dir);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 200)));
    expect(queue.stats().recordsPending).toBe(200);
    expect(queue.stats().dropped.corrupt).toBe(1); // the damaged range (the seal) is reported once
  });

  test("a crash while writing a seal leaves an appendable segment; a crash after it, a sealed one", async () => {
    const dir = tempDir();
    await writeRecords(dir, 20);
    const [file] = segmentFiles(dir);
    const sealOf = (records: number) => encodeSealFrame({ records, minPriority: 0, maxPriority: 0, firstTimestampMs: 0, lastTimestampMs: 0 }, 0);

    appendFileSync(file, sealOf(20).subarray(0, 30)); // torn seal
    const torn = await openQueue({ dir, ...CONFIG });
    await appendOk(torn.queue, 20);
    await torn.queue.close();
    expect(segmentFiles(dir)).toHaveLength(1);

    appendFileSync(file, sealOf(21)); // complete seal, next segment never created
    const sealed = await openQueue({ dir, ...CONFIG });
    await appendOk(sealed.queue, 21);
    await sealed.queue.close();
    expect(segmentFiles(dir)).toHaveLength(2);

    const { queue } = await open(dir);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 22)));
    expect(queue.stats().recordsPending).toBe(22);
  });

  test("a segment file removed behind the queue's back is skipped and its records counted", async () => {
    const dir = tempDir();
    await writeRecords(dir, 200);
    const files = segmentFiles(dir);
    const { queue } = await open(dir);
    const before = queue.stats().recordsPending;
    unlinkSync(files[1]);
    const records = await readAll(queue);
    expect(records.length).toBeLessThan(200);
    expect(queue.stats().dropped.corrupt).toBe(200 - records.length);
    expect(queue.stats().recordsPending).toBe(before - (200 - records.length));
    expect(records.map((r) => r.offset)).toEqual([...records.map((r) => r.offset)].sort((a, b) => a - b));
  });
});

describe("ack checkpoint damage", () => {
  async function ackTwice(dir: string): Promise<{ firstAck: number; secondAck: number }> {
    const { queue } = await openQueue({ dir, ...CONFIG });
    for (const n of range(0, 30)) await appendOk(queue, n);
    const page = await queue.peek({ maxRecords: 20 });
    if (!page.ok) throw new Error("peek failed");
    const firstAck = page.value.records[9].nextOffset;
    const secondAck = page.value.records[19].nextOffset;
    expect((await queue.ack(firstAck)).ok).toBe(true);
    expect((await queue.ack(secondAck)).ok).toBe(true);
    await queue.close();
    return { firstAck, secondAck };
  }

  test("a torn checkpoint write falls back to the previous ack: those records are replayed once", async () => {
    const dir = tempDir();
    const { firstAck } = await ackTwice(dir);
    const path = join(dir, CHECKPOINT_FILE);
    const bytes = readFileSync(path);
    bytes[16] ^= 0xff; // slot 0 holds the second (newest) write
    writeFileSync(path, bytes);
    const { queue } = await open(dir);
    expect(queue.stats().ackOffset).toBe(firstAck);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(10, 30)));
  });

  test("an unreadable checkpoint replays from the oldest record and says so", async () => {
    const dir = tempDir();
    await ackTwice(dir);
    writeFileSync(join(dir, CHECKPOINT_FILE), new Uint8Array(1024).fill(0x33));
    const { queue, logs } = await open(dir);
    expect(idsOf(await readAll(queue))).toEqual(ids(range(0, 30)));
    expect(logs.some((l) => l.msg === "Queue checkpoint unreadable; replaying from the oldest record.")).toBe(true);
  });

  test("segments left behind by a crash between the checkpoint write and their deletion are deleted at open", async () => {
    const dir = tempDir();
    await writeRecords(dir, 200);
    const saved = segmentFiles(dir).map((file) => ({ file, bytes: readFileSync(file) }));
    const { queue } = await openQueue({ dir, ...CONFIG });
    const page = await queue.peek({ maxRecords: 120 });
    if (!page.ok) throw new Error("peek failed");
    expect((await queue.ack(page.value.nextOffset)).ok).toBe(true);
    await queue.close();
    const deleted = saved.filter(({ file }) => !segmentFiles(dir).includes(file));
    expect(deleted.length).toBeGreaterThan(0);
    for (const { file, bytes } of deleted) writeFileSync(file, bytes);

    const reopened = await open(dir);
    expect(segmentFiles(dir).length).toBe(saved.length - deleted.length);
    expect(idsOf(await readAll(reopened.queue))).toEqual(ids(range(120, 200)));
    expect(reopened.queue.stats().recordsPending).toBe(80);
  });
});
