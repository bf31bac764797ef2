/**
 * Bounded size: past maxBytes the queue deletes whole finished segments, least important and
 * oldest first, and never deletes data more important than the record it is making room for.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { DiskQueue } from "../../../agent/queue/disk-queue";
import { appendOk, makeTempDir, openQueue, payloadOf, readAll, type Opened } from "./queue-helpers";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// 1000-byte payloads make ~1033-byte frames: three records fill a 4096-byte segment, and five
// segments (15 records) fill maxBytes; the 16th record makes the queue shed a segment.
const CONFIG = { segmentBytes: 4096, maxBytes: 16_384 };
const PAYLOAD_BYTES = 1000;
const CRITICAL = 0;
const VERBOSE = 1;
const LOGS = 2;

async function open(dir?: string): Promise<Opened & { dir: string }> {
  if (!dir) {
    const tmp = makeTempDir();
    cleanups.push(tmp.remove);
    dir = tmp.dir;
  }
  const opened = await openQueue({ dir, ...CONFIG });
  cleanups.push(() => opened.queue.close());
  return { ...opened, dir };
}

let next = 0;
/** Appends `count` records of one class; returns their numbers. */
async function fill(queue: DiskQueue, priority: number, count: number): Promise<number[]> {
  const ns: number[] = [];
  for (let i = 0; i < count; i++) {
    const n = next++;
    await appendOk(queue, n, { priority, bytes: PAYLOAD_BYTES });
    expect(queue.stats().bytesOnDisk).toBeLessThanOrEqual(CONFIG.maxBytes);
    ns.push(n);
  }
  return ns;
}

async function remaining(queue: DiskQueue): Promise<number[]> {
  return (await readAll(queue)).map((r) => Number(r.id.split("/")[1]));
}

describe("shedding by priority", () => {
  test("drops the oldest segment holding only low-priority data before any critical data", async () => {
    const { queue } = await open();
    await fill(queue, LOGS, 6); // two segments of logs
    const critical = await fill(queue, CRITICAL, 9);
    expect(queue.stats().dropped).toMatchObject({ full_low_priority: 0, full: 0 });
    critical.push(...(await fill(queue, CRITICAL, 4))); // over maxBytes twice: both log segments go
    expect(queue.stats().dropped).toMatchObject({ full_low_priority: 6, full: 0 });
    expect(await remaining(queue)).toEqual(critical);

    const more = await fill(queue, CRITICAL, 4); // nothing low-priority left: the oldest goes
    expect(queue.stats().dropped).toMatchObject({ full_low_priority: 6, full: 3 });
    expect(await remaining(queue)).toEqual([...critical.slice(3), ...more]);
  });

  test("sheds logs before older verbose metrics, and verbose metrics before critical data", async () => {
    const { queue } = await open();
    const critical = await fill(queue, CRITICAL, 3);
    const verbose = await fill(queue, VERBOSE, 3);
    await fill(queue, LOGS, 3);
    const newest = await fill(queue, CRITICAL, 7); // the 16th record: the logs go
    expect(queue.stats().dropped).toMatchObject({ full_low_priority: 3, full: 0 });
    expect(await remaining(queue)).toEqual([...critical, ...verbose, ...newest]);
    newest.push(...(await fill(queue, CRITICAL, 3))); // then the verbose metrics, though older data is critical
    expect(queue.stats().dropped).toMatchObject({ full_low_priority: 6, full: 0 });
    expect(await remaining(queue)).toEqual([...critical, ...newest]);
  });

  test("refuses a low-priority record rather than delete more important data", async () => {
    const { queue } = await open();
    const critical = await fill(queue, CRITICAL, 15);
    expect(queue.stats().dropped.full).toBe(0);
    const refused = await queue.append(payloadOf(999, PAYLOAD_BYTES), { id: "host-a/999", priority: LOGS });
    expect(refused).toMatchObject({ ok: false, error: { code: "QUEUE_FULL" } });
    expect(queue.stats().dropped).toMatchObject({ full_rejected: 1, full: 0 });
    expect(await remaining(queue)).toEqual(critical);
  });

  test("counts only unacknowledged records of a shed segment as dropped", async () => {
    const { queue } = await open();
    await fill(queue, CRITICAL, 15);
    const page = await queue.peek({ maxRecords: 1 });
    expect(page.ok && (await queue.ack(page.value.nextOffset)).ok).toBe(true);
    expect(queue.stats().recordsPending).toBe(14);
    await fill(queue, CRITICAL, 1);
    expect(queue.stats().dropped.full).toBe(2);
    expect(queue.stats().recordsPending).toBe(13);
    expect(await remaining(queue)).toHaveLength(13);
  });

  test("remembers each segment's priorities across a reopen", async () => {
    const first = await open();
    const oldest = await fill(first.queue, CRITICAL, 3);
    await fill(first.queue, LOGS, 3);
    const critical = await fill(first.queue, CRITICAL, 9);
    await first.queue.close();

    const second = await open(first.dir);
    const newest = await fill(second.queue, CRITICAL, 3);
    expect(second.queue.stats().dropped).toMatchObject({ full_low_priority: 3, full: 0 });
    expect(await remaining(second.queue)).toEqual([...oldest, ...critical, ...newest]);
  });
});
