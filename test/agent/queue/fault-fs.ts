/**
 * A QueueFs over the real one that counts calls and fails chosen operations with a chosen errno,
 * for the disk-error tests (ENOSPC, EIO, EROFS) and the fsync-batching tests.
 */
import { nodeQueueFs, type QueueFile, type QueueFs } from "../../../agent/queue/queue-fs";

export type FaultOp = "write" | "sync" | "truncate" | "create" | "remove" | "read";

export interface FaultFs extends QueueFs {
  calls: Record<FaultOp, number>;
  /** The next `times` calls of `op` throw an errno error (a failing write first writes half a frame). */
  failNext(op: FaultOp, code: string, times?: number): void;
  heal(): void;
}

export function createFaultFs(base: QueueFs = nodeQueueFs): FaultFs {
  const calls: Record<FaultOp, number> = { write: 0, sync: 0, truncate: 0, create: 0, remove: 0, read: 0 };
  const failing: Partial<Record<FaultOp, { code: string; times: number }>> = {};
  /** The errno to fail this call with, if any. */
  const injected = (op: FaultOp): string | undefined => {
    calls[op] += 1;
    const fault = failing[op];
    if (!fault) return undefined;
    if (--fault.times <= 0) delete failing[op];
    return fault.code;
  };
  const errnoError = (code: string, op: FaultOp) => Object.assign(new Error(`${code}: injected ${op} failure`), { code });
  const fail = (op: FaultOp) => {
    const code = injected(op);
    if (code) throw errnoError(code, op);
  };
  const wrap = (file: QueueFile): QueueFile => ({
    read: async (buf, length, position) => {
      fail("read");
      return file.read(buf, length, position);
    },
    write: async (chunks, position) => {
      const code = injected("write");
      if (code) {
        // A real full disk accepts part of a write first: leave a torn frame behind.
        const first = chunks[0];
        if (first && first.length > 1) await file.write([first.subarray(0, first.length >> 1)], position);
        throw errnoError(code, "write");
      }
      return file.write(chunks, position);
    },
    sync: async () => {
      fail("sync");
      return file.sync();
    },
    truncate: async (bytes) => {
      fail("truncate");
      return file.truncate(bytes);
    },
    size: () => file.size(),
    close: () => file.close(),
  });
  return {
    calls,
    failNext: (op, code, times = Number.POSITIVE_INFINITY) => {
      failing[op] = { code, times };
    },
    heal: () => {
      for (const op of Object.keys(failing) as FaultOp[]) delete failing[op];
    },
    mkdirp: (dir) => base.mkdirp(dir),
    list: (dir) => base.list(dir),
    open: async (path, mode) => {
      if (mode === "create") fail("create");
      return wrap(await base.open(path, mode));
    },
    remove: async (path) => {
      fail("remove");
      return base.remove(path);
    },
    rename: (from, to) => base.rename(from, to),
    syncDir: (dir) => base.syncDir(dir),
  };
}
