/**
 * Drops retried batches: remembers (tenant, batch id) — the `X-Edge-Agent-Batch-Id` header —
 * for at least `windowSec` (default 15 min), across a hub kill -9, in bounded memory and disk.
 *
 * The hub calls seen(tenant, id) before queueing a request (true: answer 2xx, drop it, counted
 * in ingest_dedupe_hits_total), and remember(tenant, id) once the batch is durable in its queue,
 * before the 2xx. remember() resolves after write(2) of the id (survives kill -9; fdatasync
 * follows within syncEveryMs, for power loss). The id is visible to seen() as soon as
 * remember() is called, so a retry racing the first write is caught too.
 *
 * Generations: ids go to the current generation, which is sealed after windowSec/2 (or once it
 * holds maxIds/3 ids) and a new one started. A sealed generation is dropped — its memory freed,
 * its file deleted — once its last id is windowSec old, so an id is remembered for windowSec to
 * 1.5 × windowSec and at most three generations are alive. If ids still exceed `maxIds`, the
 * oldest generation goes early (ingest_dedupe_evicted_early_total): memory is bounded first.
 * Each generation is a set of 64-bit hashes of "tenant\nid" in a typed-array table (8 bytes per
 * slot, ≤ 3/4 full; see hub/tenants/hash64.ts for the ≈ n/2^64 false-positive chance) and one
 * append-only file (generation-file.ts, byte layout and crash behaviour there).
 *
 * Open: reads every generation file still inside the window (older ones are deleted), skipping
 * torn or corrupt records, and starts a new generation: a file is never appended to across
 * processes. The last file's end is its mtime (its last write).
 */
import { mkdir, readFile, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Clock, Logger } from "../../agent/core/deps";
import type { SelfFamily } from "../../agent/admin/prom-text";
import { err, ok, type Result } from "../../agent/core/result";
import { Hash64 } from "../tenants/hash64";
import { Hash64Table, slotsFor } from "../tenants/hash64-table";
import { ioError, parseDedupeConfig, type DedupeError, type DedupeWindowConfig, type ResolvedDedupeWindowConfig } from "./dedupe-config";
import { GenerationAppender, generationFileName, parseGenerationFileName, readRecords, RECORD_BYTES } from "./generation-file";

export interface DedupeWindowDeps {
  clock: Clock;
  log: Logger;
}

export interface DedupeStats {
  ids: number;
  /** Bytes of the in-memory hash tables. */
  memoryBytes: number;
  generations: number;
  /** How far back the window reaches now: now − start of the oldest generation. */
  coveredMs: number;
  hitsTotal: number;
  checksTotal: number;
  rememberedTotal: number;
  evictedEarlyTotal: number;
  corruptRecordsTotal: number;
  writeErrorsTotal: number;
}

export interface DedupeWindow {
  /** Whether (tenant, id) was remembered within the window; counts a hit when it was. */
  seen(tenant: string, id: string): boolean;
  /** Remembers (tenant, id); resolves once written (see the module comment). */
  remember(tenant: string, id: string): Promise<Result<void, DedupeError>>;
  stats(): DedupeStats;
  families(): SelfFamily[];
  /** Writes and fdatasyncs what is pending, closes the files. */
  close(): Promise<void>;
}

interface Generation {
  startMs: number;
  /** When it was sealed; undefined for the current generation. */
  endMs: number | undefined;
  table: Hash64Table;
  path: string;
  /** Present while the file may still be written (current, or sealing). */
  appender: GenerationAppender | undefined;
  /** Resolves when a sealed generation's file is closed. */
  closed: Promise<void>;
}

const INITIAL_SLOTS = 1024;

export async function openDedupeWindow(input: DedupeWindowConfig, deps: DedupeWindowDeps): Promise<Result<DedupeWindow, DedupeError>> {
  const parsed = parseDedupeConfig(input);
  if (!parsed.ok) return parsed;
  const config = parsed.value;
  try {
    await mkdir(config.dir, { recursive: true });
  } catch (e) {
    return err(ioError("mkdir", config.dir, e));
  }
  const loaded = await loadGenerations(config, deps);
  if (!loaded.ok) return loaded;
  return ok(new Window(config, deps, loaded.value.generations, loaded.value.corrupt));
}

/** Reads the generation files still inside the window, oldest first; deletes the older ones. */
async function loadGenerations(config: ResolvedDedupeWindowConfig, deps: DedupeWindowDeps): Promise<Result<{ generations: Generation[]; corrupt: number }, DedupeError>> {
  let names: string[];
  try {
    names = await readdir(config.dir);
  } catch (e) {
    return err(ioError("readdir", config.dir, e));
  }
  const files = names
    .map((name) => ({ name, startMs: parseGenerationFileName(name) }))
    .filter((f): f is { name: string; startMs: number } => f.startMs !== undefined)
    .sort((a, b) => a.startMs - b.startMs);
  const now = deps.clock.nowMs();
  const windowMs = config.windowSec * 1000;
  const generations: Generation[] = [];
  let corrupt = 0;
  for (let i = 0; i < files.length; i++) {
    const path = join(config.dir, files[i].name);
    try {
      const endMs = i + 1 < files.length ? files[i + 1].startMs : (await stat(path)).mtimeMs;
      if (endMs + windowMs <= now) {
        await unlink(path);
        continue;
      }
      const bytes = await readFile(path);
      const expected = Math.ceil(bytes.length / RECORD_BYTES);
      const table = new Hash64Table(slotsFor(expected), slotsFor(Math.max(expected, Math.ceil(config.maxIds / 3))), false);
      const read = readRecords(bytes, (hi, lo) => {
        if (table.find(hi, lo) < 0) table.insert(hi, lo, 0);
      });
      corrupt += read.corrupt;
      generations.push({ startMs: files[i].startMs, endMs, table, path, appender: undefined, closed: Promise.resolve() });
    } catch (e) {
      const error = ioError("read", path, e);
      deps.log.warn("Skipped an unreadable dedupe generation file.", { path, errno: error.code === "DEDUPE_IO" ? error.errno : "" });
    }
  }
  if (corrupt > 0) deps.log.warn("Skipped torn or corrupt records in the dedupe window.", { dir: config.dir, records: corrupt });
  return ok({ generations, corrupt });
}

class Window implements DedupeWindow {
  private readonly hasher = new Hash64();
  private readonly windowMs: number;
  private readonly generationMs: number;
  private readonly perGenerationIds: number;
  /** Oldest first; the last one is current. */
  private readonly generations: Generation[];
  private readonly background = new Set<Promise<unknown>>();
  /** The earliest time a rotation or drop can be due. */
  private nextChangeMs = 0;
  private isClosed = false;
  private hitsTotal = 0;
  private checksTotal = 0;
  private rememberedTotal = 0;
  private evictedEarlyTotal = 0;
  private writeErrorsTotal = 0;

  constructor(
    private readonly config: ResolvedDedupeWindowConfig,
    private readonly deps: DedupeWindowDeps,
    sealed: Generation[],
    private readonly corruptRecordsTotal: number,
  ) {
    this.windowMs = config.windowSec * 1000;
    this.generationMs = this.windowMs / 2;
    this.perGenerationIds = Math.ceil(config.maxIds / 3);
    this.generations = sealed;
    const lastStart = sealed.length > 0 ? sealed[sealed.length - 1].startMs : -1;
    this.generations.push(this.newGeneration(Math.max(deps.clock.nowMs(), lastStart + 1)));
    this.enforceMaxIds();
    this.scheduleNextChange();
  }

  seen(tenant: string, id: string): boolean {
    this.advance(this.deps.clock.nowMs());
    this.checksTotal++;
    this.hasher.hash(`${tenant}\n${id}`);
    const { hi, lo } = this.hasher;
    for (let g = this.generations.length - 1; g >= 0; g--) {
      if (this.generations[g].table.find(hi, lo) >= 0) {
        this.hitsTotal++;
        return true;
      }
    }
    return false;
  }

  async remember(tenant: string, id: string): Promise<Result<void, DedupeError>> {
    if (this.isClosed) return err({ code: "DEDUPE_IO", op: "remember", path: this.config.dir, errno: "CLOSED", message: "dedupe window is closed" });
    const now = this.deps.clock.nowMs();
    this.advance(now);
    this.hasher.hash(`${tenant}\n${id}`);
    const { hi, lo } = this.hasher;
    if (this.current().table.find(hi, lo) >= 0) return ok(undefined);
    if (this.current().table.size >= this.perGenerationIds) this.rotate(now);
    const current = this.current();
    current.table.insert(hi, lo, 0);
    this.rememberedTotal++;
    this.enforceMaxIds();
    const written = await current.appender!.append(hi, lo);
    if (!written.ok) this.writeErrorsTotal++;
    return written;
  }

  stats(): DedupeStats {
    const now = this.deps.clock.nowMs();
    this.advance(now);
    let ids = 0;
    let memoryBytes = 0;
    for (const g of this.generations) {
      ids += g.table.size;
      memoryBytes += g.table.bytes;
    }
    return {
      ids,
      memoryBytes,
      generations: this.generations.length,
      coveredMs: Math.max(0, now - this.generations[0].startMs),
      hitsTotal: this.hitsTotal,
      checksTotal: this.checksTotal,
      rememberedTotal: this.rememberedTotal,
      evictedEarlyTotal: this.evictedEarlyTotal,
      corruptRecordsTotal: this.corruptRecordsTotal,
      writeErrorsTotal: this.writeErrorsTotal,
    };
  }

  families(): SelfFamily[] {
    const s = this.stats();
    const one = (name: string, help: string, type: "counter" | "gauge", value: number): SelfFamily => ({ name, help, type, samples: [{ labels: [], value }] });
    return [
      // Hits are counted per tenant by the hub (ingest_dedupe_hits_total{tenant}); one family, one owner.
      one("ingest_dedupe_checks_total", "Batch ids looked up in the dedupe window.", "counter", s.checksTotal),
      one("ingest_dedupe_window_ids", "Batch ids remembered in the dedupe window.", "gauge", s.ids),
      one("ingest_dedupe_window_bytes", "Memory of the dedupe window's hash tables.", "gauge", s.memoryBytes),
      one("ingest_dedupe_window_seconds", "How far back the dedupe window reaches.", "gauge", s.coveredMs / 1000),
      one("ingest_dedupe_evicted_early_total", "Batch ids forgotten before windowSec because maxIds was reached.", "counter", s.evictedEarlyTotal),
      one("ingest_dedupe_corrupt_records_total", "Torn or corrupt records skipped when the window was read at start.", "counter", s.corruptRecordsTotal),
      one("ingest_dedupe_write_errors_total", "Batch ids that could not be written to disk.", "counter", s.writeErrorsTotal),
    ];
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    const current = this.current();
    await current.appender?.close();
    current.appender = undefined;
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  private current(): Generation {
    return this.generations[this.generations.length - 1];
  }

  private newGeneration(startMs: number): Generation {
    const path = join(this.config.dir, generationFileName(startMs));
    return {
      startMs,
      endMs: undefined,
      table: new Hash64Table(INITIAL_SLOTS, slotsFor(this.perGenerationIds), false),
      path,
      appender: new GenerationAppender(path, this.config.syncEveryMs, this.deps.log),
      closed: Promise.resolve(),
    };
  }

  /** Seals the current generation when due, and drops the generations that left the window. */
  private advance(now: number): void {
    if (now < this.nextChangeMs) return;
    if (now >= this.current().startMs + this.generationMs) this.rotate(now);
    while (this.generations.length > 1 && this.generations[0].endMs! + this.windowMs <= now) this.drop();
    this.scheduleNextChange();
  }

  private rotate(now: number): void {
    if (this.isClosed) return;
    const sealed = this.current();
    sealed.endMs = now;
    const appender = sealed.appender!;
    sealed.appender = undefined;
    sealed.closed = this.track(appender.close());
    this.generations.push(this.newGeneration(Math.max(now, sealed.startMs + 1)));
    this.scheduleNextChange();
  }

  /** Drops the oldest generation: frees its table now, deletes its file once it is closed. */
  private drop(): Generation {
    const oldest = this.generations.shift()!;
    this.track(
      oldest.closed.then(() =>
        unlink(oldest.path).catch((e: { code?: string }) => {
          if (e?.code !== "ENOENT") this.deps.log.warn("Could not delete an old dedupe generation file.", { path: oldest.path, errno: e?.code });
        }),
      ),
    );
    return oldest;
  }

  private enforceMaxIds(): void {
    let total = 0;
    for (const g of this.generations) total += g.table.size;
    while (total > this.config.maxIds && this.generations.length > 1) {
      const dropped = this.drop();
      total -= dropped.table.size;
      this.evictedEarlyTotal += dropped.table.size;
    }
  }

  private scheduleNextChange(): void {
    const rotateAt = this.current().startMs + this.generationMs;
    const dropAt = this.generations.length > 1 ? this.generations[0].endMs! + this.windowMs : Infinity;
    this.nextChangeMs = Math.min(rotateAt, dropAt);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const tracked = p.finally(() => this.background.delete(tracked));
    this.background.add(tracked);
    return tracked;
  }
}
