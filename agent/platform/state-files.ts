/**
 * Small state files (the agent's state.json, the hub's tenant-cost.json): one protocol for both.
 *
 * Replace: write `<path>.tmp`, fsync it, rename it over `<path>`, fsync the directory. A crash at
 * any point leaves the previous complete file or the new complete file; a leftover `.tmp` is
 * overwritten next time. (The directory fsync is best effort: some filesystems refuse it, and
 * the rename is atomic anyway.) Synchronous for callers that must know the outcome before going
 * on (the agent trims its journal only after state.json is on disk); asynchronous, through
 * QueueFs (so tests can fail the disk), for callers that must not block their event loop.
 *
 * Set aside: a file that does not parse or check is renamed aside, not deleted and not trusted:
 * the process starts without it, and an operator can still look at what was there.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { QueueFs } from "../queue/queue-fs";

/** Replaces `path` with `body` (see the module comment); throws what the filesystem threw. */
export function replaceFileSync(path: string, body: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDirSync(dirname(path));
}

/** replaceFileSync without blocking, through `fs`; rejects with what the filesystem threw. */
export async function replaceFile(fs: QueueFs, path: string, body: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  await fs.remove(tmp).catch(() => undefined); // a leftover of a crash mid-write
  const file = await fs.open(tmp, "create");
  try {
    await file.write([body], 0);
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(dirname(path));
}

/** Renames `path` to `<path>.corrupt-<nowMs>`; returns the new name, or undefined if that failed. */
export function setAside(path: string, nowMs: number): string | undefined {
  const movedTo = `${path}.corrupt-${nowMs}`;
  try {
    renameSync(path, movedTo);
    return movedTo;
  } catch {
    return undefined;
  }
}

function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Directory fsync is not supported everywhere; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
