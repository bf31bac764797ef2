/**
 * The few file operations the disk queue needs, behind an interface so tests can inject
 * ENOSPC / EIO / EROFS at exact points (STYLE §4). `nodeQueueFs` is the real one, built on
 * `node:fs` so it runs the same under Node and Bun.
 *
 * Reads are synchronous pread(2)s. What a sink reads back was almost always written moments ago
 * and sits in the page cache (tens of µs for 256 KiB), while an async read waits for a thread of
 * the runtime's small pool (2 threads in Bun on 2 cores) behind every shard's fdatasync: in the
 * hub's relay bench the forwarders then fell behind intake (260k of 800k samples/s delivered
 * with 128 requests in flight; 735k with sync reads).
 *
 * Writes are synchronous writev(2)s for the same reason: they only copy into the page cache
 * (~30 µs for a hub group commit), while an async write queued in that pool behind the other
 * shards' fdatasyncs, and the group waited for a pool thread twice (write, then sync). Hub relay
 * bench into a counting store (32 in flight): 1.26–1.27M → 1.38–1.41M samples/s sustained.
 * fdatasync stays asynchronous: it waits for the disk (0.3–1.5 ms here), and on the event loop
 * it would hold every other request for that long (tried: 0.77M samples/s). The hub runs it on
 * threads of its own whose completion it polls for (createNodeQueueFs({ datasync }),
 * sync-threads.ts).
 *
 * Errors are thrown as the runtime's errno errors (`{ code: "ENOSPC" }` …); the queue turns them
 * into QueueError values at its boundary.
 */
import { readSync, writevSync } from "node:fs";
import { mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";

export interface QueueFile {
  /** Reads up to `length` bytes at `position` into `buf` from offset 0; returns bytes read. */
  read(buf: Uint8Array, length: number, position: number): Promise<number>;
  /** Writes all of `chunks` at `position` (looping over short writes); returns bytes written. */
  write(chunks: Uint8Array[], position: number): Promise<number>;
  /** fdatasync: the written bytes survive power loss once this resolves. */
  sync(): Promise<void>;
  truncate(bytes: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface QueueFs {
  mkdirp(dir: string): Promise<void>;
  list(dir: string): Promise<string[]>;
  /** "read": existing file, read only. "create": new file, fails if it exists. "update": existing file, read/write. */
  open(path: string, mode: "read" | "create" | "update"): Promise<QueueFile>;
  remove(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsync a directory so a created, renamed or removed entry survives power loss. */
  syncDir(dir: string): Promise<void>;
}

const FLAGS = { read: "r", create: "wx+", update: "r+" } as const;

export interface NodeQueueFsOptions {
  /**
   * fdatasync for the files' sync(); default the runtime's async FileHandle.datasync(). The hub
   * passes its sync threads' (sync-threads.ts).
   */
  datasync?: (fd: number) => Promise<void>;
}

/** The real QueueFs on node:fs. */
export function createNodeQueueFs(options: NodeQueueFsOptions = {}): QueueFs {
  const { datasync } = options;
  return {
    mkdirp: async (dir) => {
      await mkdir(dir, { recursive: true });
    },
    list: (dir) => readdir(dir),
    open: async (path, mode) => wrapHandle(await open(path, FLAGS[mode]), datasync),
    remove: (path) => unlink(path),
    rename: (from, to) => rename(from, to),
    syncDir: async (dir) => {
      let handle: FileHandle | undefined;
      try {
        handle = await open(dir, "r");
        await handle.sync();
      } catch {
        // Some filesystems refuse fsync on a directory; the entry change itself is still atomic.
      } finally {
        await handle?.close();
      }
    },
  };
}

export const nodeQueueFs: QueueFs = createNodeQueueFs();

function wrapHandle(handle: FileHandle, datasync?: (fd: number) => Promise<void>): QueueFile {
  return {
    read: async (buf, length, position) => readSync(handle.fd, buf, 0, length, position),
    write: (chunks, position) => writeAll(handle, chunks, position),
    sync: datasync ? () => datasync(handle.fd) : () => handle.datasync(),
    truncate: (bytes) => handle.truncate(bytes),
    size: async () => (await handle.stat()).size,
    close: () => handle.close(),
  };
}

/** Stays under every platform's IOV_MAX (1024 on Linux). */
const MAX_CHUNKS_PER_WRITE = 512;

/** writev can write less than asked (a disk filling up): keep going until done or it throws. */
async function writeAll(handle: FileHandle, chunks: Uint8Array[], position: number): Promise<number> {
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  let written = 0;
  let rest = chunks;
  while (written < total) {
    const bytesWritten = writevSync(handle.fd, rest.slice(0, MAX_CHUNKS_PER_WRITE), position + written);
    if (bytesWritten === 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
    written += bytesWritten;
    rest = dropBytes(rest, bytesWritten);
  }
  return written;
}

function dropBytes(chunks: Uint8Array[], bytes: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = bytes;
  for (const c of chunks) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    out.push(skip > 0 ? c.subarray(skip) : c);
    skip = 0;
  }
  return out;
}
