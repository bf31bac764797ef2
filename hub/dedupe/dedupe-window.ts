/**
 * The dedupe window: which (tenant, batch id) pairs the hub has already made durable, so a batch
 * retried after a lost response (an agent's `X-Edge-Agent-Batch-Id`) is answered 2xx and not
 * written twice — across a hub kill -9 too.
 *
 *   request ─▶ seen(tenant, id)? ─yes─▶ 2xx, nothing written (counted)
 *                 └ no ─▶ queue append (fsync) ─▶ remember(tenant, id) ─▶ 2xx
 *
 * Memory: ids are kept as 64-bit hashes (hash64.ts) in two open-addressing tables, the current
 * generation and the previous one: 8 bytes per slot, ~11–21 bytes per id, so the default 2 M ids
 * cost ≤ 48 MiB. A generation spans `windowSec` (or maxIds/2 ids, whichever comes first); on
 * rotation the previous table is dropped, so an id is remembered for at least one window.
 *
 * Disk: each generation is an append-only file of hashes (generation-file.ts). remember()
 * resolves once the hash was written with write(2), which survives kill -9 (page cache); an
 * fdatasync follows within `syncEveryMs` for power loss. Because remember() runs only after the
 * queue append resolved, a crash between the two can at worst forget an id whose batch is
 * stored: a retry of it is written again (at-least-once), never lost. On start every generation
 * file younger than two windows is loaded into the previous table and a new generation begins;
 * older files are deleted.
 */
import { mkdir, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { SelfFamily } from "../../agent/admin/prom-text";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";
import { Hash64 } from "../tenants/hash64";
import { Hash64Table, slotsFor } from "../tenants/hash64-table";
import { ioError, parseDedupeConfig, type DedupeError, type DedupeWindowConfig, type ResolvedDedupeWindowConfig } from "./dedupe-config";
import { GenerationAppender, generationFileName, parseGenerationFileName, readRecords } from "./generation-file";

export interface DedupeWindow {
  seen(tenant: string, batchId: string): boolean;
  /** Remembers a stored batch; resolves once it would survive kill -9. Never rejects. */
  remember(tenant: string, batchId: string): Promise<Result<void, DedupeError>>;
  stats(): DedupeStats;
  families(): SelfFamily[];
  close(): Promise<void>;
}

export interface DedupeStats {
  ids: number;
  memoryBytes: number;
  hits: number;
  remembered: number;
  loadedAtStart: number;
  corruptAtStart: number;
  writeErrors: number;
}

export async function openDedupeWindow(input: DedupeWindowConfig, deps: { clock: Clock; log: Logger }): Promise<Result<DedupeWindow, DedupeError>> {
  const parsed = parseDedupeConfig(input);
  if (!parsed.ok) return parsed;
  const config = parsed.value;
  try {
    await mkdir(config.dir, { recursive: true });
  } catch (e) {
    return err(ioError("mkdir", config.dir, e));
  }
  const window = new Window(config, deps);
  const loaded = await window.load();
  if (!loaded.ok) return loaded;
  return ok(window);
}

class Window implements DedupeWindow {
  private readonly hasher = new Hash64();
  private current: Hash64Table;
  private previous: Hash64Table;
  private currentStartMs: number;
  private appender: GenerationAppender;
  private readonly maxPerGeneration: number;
  private readonly files = new Map<string, number>();
  private hits = 0;
  private remembered = 0;
  private loadedAtStart = 0;
  private corruptAtStart = 0;
  private writeErrors = 0;

  constructor(
    private readonly config: ResolvedDedupeWindowConfig,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.maxPerGeneration = Math.max(1, Math.floor(config.maxIds / 2));
    this.current = this.newTable();
    this.previous = this.newTable();
    this.currentStartMs = deps.clock.nowMs();
    this.appender = this.newAppender(this.currentStartMs);
  }

  private newTable(): Hash64Table {
    return new Hash64Table(1024, slotsFor(this.maxPerGeneration), false);
  }

  private newAppender(startMs: number): GenerationAppender {
    const name = generationFileName(startMs);
    this.files.set(name, startMs);
    return new GenerationAppender(join(this.config.dir, name), this.config.syncEveryMs, this.deps.log);
  }

  async load(): Promise<Result<void, DedupeError>> {
    const now = this.deps.clock.nowMs();
    let names: string[];
    try {
      names = await readdir(this.config.dir);
    } catch (e) {
      return err(ioError("readdir", this.config.dir, e));
    }
    const current = generationFileName(this.currentStartMs);
    for (const name of names.sort()) {
      const start = parseGenerationFileName(name);
      if (start === undefined || name === current) continue;
      const path = join(this.config.dir, name);
      if (start < now - 2 * this.config.windowSec * 1000) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (e) {
        return err(ioError("read", path, e));
      }
      const r = readRecords(bytes, (hi, lo) => {
        if (this.previous.size < this.maxPerGeneration && this.previous.find(hi, lo) < 0) this.previous.insert(hi, lo, 0);
      });
      this.loadedAtStart += r.records;
      this.corruptAtStart += r.corrupt;
      this.files.set(name, start);
    }
    if (this.corruptAtStart > 0) {
      this.deps.log.warn("Skipped damaged records in the dedupe window (a torn write from a crash).", { dir: this.config.dir, records: this.corruptAtStart });
    }
    if (this.loadedAtStart > 0) this.deps.log.info("Loaded the dedupe window.", { ids: this.previous.size, dir: this.config.dir });
    return ok(undefined);
  }

  private hash(tenant: string, batchId: string): void {
    this.hasher.hash(`${tenant}\n${batchId}`);
  }

  seen(tenant: string, batchId: string): boolean {
    this.rotateIfDue();
    this.hash(tenant, batchId);
    const { hi, lo } = this.hasher;
    const found = this.current.find(hi, lo) >= 0 || this.previous.find(hi, lo) >= 0;
    if (found) this.hits++;
    return found;
  }

  remember(tenant: string, batchId: string): Promise<Result<void, DedupeError>> {
    this.rotateIfDue();
    this.hash(tenant, batchId);
    const { hi, lo } = this.hasher;
    if (this.current.find(hi, lo) >= 0) return Promise.resolve(ok(undefined));
    this.current.insert(hi, lo, 0);
    this.remembered++;
    return this.appender.append(hi, lo).then((r) => {
      if (!r.ok) {
        this.writeErrors++;
        if (this.writeErrors === 1 || this.writeErrors % 1000 === 0) {
          this.deps.log.warn("Could not write the dedupe window; a retry of this batch after a restart would be written again.", {
            error: r.error.message,
            failures: this.writeErrors,
          });
        }
      }
      return r;
    });
  }

  private rotateIfDue(): void {
    const now = this.deps.clock.nowMs();
    if (now - this.currentStartMs < this.config.windowSec * 1000 && this.current.size < this.maxPerGeneration) return;
    this.previous = this.current;
    this.current = this.newTable();
    const old = this.appender;
    void old.close();
    this.currentStartMs = Math.max(now, this.currentStartMs + 1);
    this.appender = this.newAppender(this.currentStartMs);
    // Files older than the previous generation's start hold only ids no table keeps any more.
    const keepFrom = [...this.files.values()].filter((s) => s < this.currentStartMs).reduce((a, b) => Math.max(a, b), -Infinity);
    for (const [name, start] of this.files) {
      if (start < keepFrom) {
        this.files.delete(name);
        void unlink(join(this.config.dir, name)).catch(() => undefined);
      }
    }
  }

  stats(): DedupeStats {
    return {
      ids: this.current.size + this.previous.size,
      memoryBytes: this.current.bytes + this.previous.bytes,
      hits: this.hits,
      remembered: this.remembered,
      loadedAtStart: this.loadedAtStart,
      corruptAtStart: this.corruptAtStart,
      writeErrors: this.writeErrors,
    };
  }

  families(): SelfFamily[] {
    const s = this.stats();
    const one = (value: number) => [{ labels: [] as [string, string][], value }];
    return [
      { name: "ingest_dedupe_window_ids", help: "Batch ids the hub remembers (current and previous generation).", type: "gauge", samples: one(s.ids) },
      { name: "ingest_dedupe_window_bytes", help: "Memory of the dedupe window's hash tables.", type: "gauge", samples: one(s.memoryBytes) },
      { name: "ingest_dedupe_window_write_errors_total", help: "Batch ids that could not be written to the window's file.", type: "counter", samples: one(s.writeErrors) },
    ];
  }

  async close(): Promise<void> {
    await this.appender.close();
  }
}
