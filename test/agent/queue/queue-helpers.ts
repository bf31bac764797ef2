/** Shared helpers for the disk queue tests: temp dirs, opening with a recording log, reading all. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fakeClock, type LogFields, type Logger } from "../../../agent/core/deps";
import { openDiskQueue, type DiskQueue, type DiskQueueConfig, type DiskQueueDeps, type QueueRecord } from "../../../agent/queue/disk-queue";

export interface LoggedLine {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields?: LogFields;
}

export function recordingLogger(lines: LoggedLine[]): Logger {
  return {
    debug: (msg, fields) => lines.push({ level: "debug", msg, fields }),
    info: (msg, fields) => lines.push({ level: "info", msg, fields }),
    warn: (msg, fields) => lines.push({ level: "warn", msg, fields }),
    error: (msg, fields) => lines.push({ level: "error", msg, fields }),
  };
}

export function makeTempDir(prefix = "disk-queue-"): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Opened {
  queue: DiskQueue;
  logs: LoggedLine[];
  clock: ReturnType<typeof fakeClock>;
}

export async function openQueue(
  config: DiskQueueConfig,
  deps: Partial<DiskQueueDeps> & { clock?: ReturnType<typeof fakeClock> } = {},
): Promise<Opened> {
  const logs: LoggedLine[] = [];
  const clock = deps.clock ?? fakeClock();
  const opened = await openDiskQueue(config, { clock, log: recordingLogger(logs), ...deps });
  if (!opened.ok) throw new Error(`openDiskQueue failed: ${JSON.stringify(opened.error)}`);
  return { queue: opened.value, logs, clock };
}

/** Every unacknowledged record, in order, read in small peeks that walk forward without acking. */
export async function readAll(queue: DiskQueue, pageRecords = 37): Promise<QueueRecord[]> {
  const all: QueueRecord[] = [];
  let fromOffset: number | undefined;
  for (;;) {
    const page = await queue.peek({ maxRecords: pageRecords, fromOffset });
    if (!page.ok) throw new Error(`peek failed: ${JSON.stringify(page.error)}`);
    all.push(...page.value.records);
    if (page.value.records.length === 0) return all;
    fromOffset = page.value.nextOffset;
  }
}

export function payloadOf(n: number, bytes = 40): Uint8Array {
  const out = new Uint8Array(bytes);
  const text = new TextEncoder().encode(`record-${n}:`);
  for (let i = 0; i < bytes; i++) out[i] = i < text.length ? text[i] : (n * 31 + i) & 0xff;
  return out;
}

export async function appendOk(queue: DiskQueue, n: number, options: { priority?: number; bytes?: number } = {}): Promise<number> {
  const result = await queue.append(payloadOf(n, options.bytes), { id: `host-a/${n}`, priority: options.priority });
  if (!result.ok) throw new Error(`append ${n} failed: ${JSON.stringify(result.error)}`);
  return result.value.offset;
}

export function idsOf(records: QueueRecord[]): string[] {
  return records.map((r) => r.id);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
