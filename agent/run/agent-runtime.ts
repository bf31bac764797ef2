/**
 * The per-host agent, wired as one pipeline:
 *
 *   sources (OTLP/HTTP, StatsD/UDP) → ingest (naming, label policy, series budget) → aggregator
 *     → every flush (10 s steady / 5 s incident): expire idle series, snapshot, persist state
 *     → /metrics shows the last snapshot; sinks (remote write) take it from there.
 *
 * Start-up restores the persisted state first, so counters continue where they were.
 * Shutdown walks backwards: stop sources, flush once more, persist, close the admin server.
 *
 * OTLP requests pass the dedupe window (pipeline/otlp-dedupe.ts) before the journal: a retry of
 * a request already accepted is answered 2xx and not counted twice, also across a kill -9 (the
 * window is saved with the state and rebuilt from the journal).
 */
import { createHash } from "node:crypto";
import { createLabelPolicy } from "../../policy/labels/label-policy";
import { createSeriesBudget } from "../../policy/budget/series-budget";
import { Aggregator, type ExpiredSeries, type SeriesSnapshot } from "../aggregate/aggregator";
import { Cadence, type CadenceMode } from "../cadence/cadence";
import type { AgentConfig } from "../config/config";
import type { Clock, Logger } from "../core/deps";
import { err, ok, type Result } from "../core/result";
import { countMalformed, createIngestStats, ingestPoints, StatsdIngest, type IngestStats } from "../pipeline/ingest";
import { createOtlpSource, type OtlpSource } from "../sources/otlp/otlp-source";
import { parseStatsdPacket } from "../sources/statsd/statsd-parse";
import { createStatsdSource } from "../sources/statsd/statsd-source";
import { readState, writeState } from "../state/state-file";
import { buildSelfMetrics } from "./self-metrics";
import { VERSION } from "../version";
import { Delivery } from "../pipeline/delivery";
import { OtlpJournal, type JournalFormat } from "../pipeline/otlp-journal";
import { digestOtlpRequest, OtlpDedupe, type DedupeEntry } from "../pipeline/otlp-dedupe";
import { remoteWriteWarnings } from "../config/config";
import { decodeOtlpMetrics } from "../sources/otlp/otlp-decode";
import type { Point } from "../core/points";

export interface FlushRecord {
  atMs: number;
  series: SeriesSnapshot[];
  expired: ExpiredSeries[];
  durationMs: number;
}

export interface AgentStatus {
  version: string;
  uptimeSec: number;
  cadence: { mode: CadenceMode; intervalSec: number; incidentRemainingSec: number };
  series: { active: number; budget: number; idleExpirySec: number };
  rejections: Record<string, number>;
  malformed: Record<string, number>;
  points: { accepted: Record<string, number>; rejected: Record<string, number> };
  lastFlush: { atMs: number; ageSec: number; series: number; durationMs: number } | null;
  flushes: number;
  queue: { depth: number; note: string };
  listeners: { otlp: string; statsd: string; admin: string };
  ready: { ok: boolean; reason: string };
  state: { lastSaveError: string | null };
}

export interface AgentRuntimeDeps {
  clock: Clock;
  log: Logger;
}

export class AgentRuntime {
  readonly aggregator: Aggregator;
  readonly cadence: Cadence;
  readonly stats: IngestStats = createIngestStats();
  private readonly statsdIngest: StatsdIngest;
  private readonly otlp: OtlpSource;
  private readonly statsd: ReturnType<typeof createStatsdSource>;
  private readonly startedMono: number;
  private lastFlush: FlushRecord | null = null;
  private flushes = 0;
  private expiredTotal = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private lastFlushMono: number;
  private running = false;
  private lastSaveError: string | null = null;
  private delivery: Delivery | undefined;
  private journal: OtlpJournal | undefined;
  private readonly dedupe: OtlpDedupe;
  private readonly resourceLabels: ReadonlySet<string>;
  /** Flushes are queued in order: each waits for the previous one's appends. */
  private deliveryChain: Promise<void> = Promise.resolve();

  constructor(
    readonly config: AgentConfig,
    private readonly deps: AgentRuntimeDeps,
  ) {
    const budget = createSeriesBudget({
      maxSeries: config.policy.budget.maxSeries,
      idleExpiryMs: config.policy.budget.idleExpirySec * 1000,
    });
    this.aggregator = new Aggregator({
      policy: createLabelPolicy(config.policy.labels),
      budget,
      expoMaxSize: config.histograms.maxBuckets,
      expoMaxScale: config.histograms.maxScale,
    });
    this.cadence = new Cadence(
      {
        steadyIntervalSec: config.cadence.steadyIntervalSec,
        incidentIntervalSec: config.cadence.incidentIntervalSec,
        incidentDefaultTtlSec: config.cadence.incidentTtlSec,
      },
      deps.clock,
    );
    this.statsdIngest = new StatsdIngest(this.aggregator, this.stats);
    const resourceLabels = new Set(config.policy.labels.allow);
    this.resourceLabels = resourceLabels;
    this.otlp = createOtlpSource({ ...config.otlp, resourceLabels }, {
      log: deps.log,
      ingest: (points, body, format) => this.ingestOtlp(points, body, format),
      countMalformed: (reason, n) => countMalformed(this.stats, "otlp", reason, n),
    });
    this.statsd = createStatsdSource(
      { listen: config.statsd.listen, maxDatagramBytes: config.statsd.maxDatagramBytes },
      { log: deps.log },
      (text) => {
        this.statsdIngest.nowMs = deps.clock.nowMs();
        parseStatsdPacket(text, this.statsdIngest);
      },
    );
    this.dedupe = new OtlpDedupe(deps.clock);
    this.startedMono = deps.clock.monoMs();
    this.lastFlushMono = this.startedMono;
  }

  async start(): Promise<Result<void, string>> {
    const journalSeq = this.restoreState();
    const journal = await OtlpJournal.open(this.config.dataDir, { clock: this.deps.clock, log: this.deps.log });
    if (!journal.ok) return err(journal.error);
    this.journal = journal.value;
    const journaled: DedupeEntry[] = [];
    const replayed = await this.journal.replay(
      journalSeq,
      (body, format) => this.ingestOtlpBody(body, format),
      (body, format, appendedAtMs) => journaled.push([digestOtlpRequest(body, format), appendedAtMs]),
    );
    this.dedupe.restore(journaled);
    if (replayed > 0) this.deps.log.info("Replayed OTLP requests accepted after the last saved state.", { requests: replayed });
    for (const warning of remoteWriteWarnings(this.config)) this.deps.log.warn(warning);
    if (this.config.remoteWrite.length > 0) {
      const opened = await Delivery.open(this.config.remoteWrite, this.config.dataDir, this.identityLabels(), {
        clock: this.deps.clock,
        log: this.deps.log,
        userAgent: `edge-agent/${VERSION}`,
        flushIntervalMs: this.config.cadence.steadyIntervalSec * 1000,
        agentHeaders: this.agentHeaders(),
        onHubCadence: (value) => this.applyHubCadence(value),
      });
      if (!opened.ok) return err(opened.error);
      this.delivery = opened.value;
      this.delivery.start();
    }
    if (this.config.cadence.mode === "incident" && this.cadence.mode() !== "incident") this.cadence.set("incident");
    const otlp = await this.otlp.start();
    if (!otlp.ok) return err(otlp.error.message);
    const statsd = await this.statsd.start();
    if (!statsd.ok) {
      await this.otlp.stop();
      return err(statsd.error.message);
    }
    this.running = true;
    this.cadence.onChange(() => this.reschedule());
    this.lastFlushMono = this.deps.clock.monoMs();
    this.scheduleNextFlush();
    this.deps.log.info("Agent started.", {
      version: VERSION,
      otlp: this.config.otlp.listen,
      statsd: this.config.statsd.listen,
      cadence: this.cadence.mode(),
      budget: this.config.policy.budget.maxSeries,
      dataDir: this.config.dataDir,
    });
    return ok(undefined);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.flushTimer);
    await Promise.all([this.otlp.stop(), this.statsd.stop()]);
    this.flush();
    await this.deliveryChain;
    await this.delivery?.stop();
    await this.journal?.close();
    this.deps.log.info("Agent stopped.", { flushes: this.flushes });
  }

  /**
   * OTLP: a retry of an accepted request is answered without ingesting it; a new one is durable
   * in the journal first, then aggregated and remembered (in one step, so a state save never
   * holds a request its dedupe window lacks); only then may the sender get a 2xx.
   */
  private async ingestOtlp(points: Point[], body: Uint8Array, format: JournalFormat) {
    if (points.length === 0 || this.journal === undefined) return ok(ingestPoints(this.aggregator, this.stats, points, this.deps.clock.nowMs()));
    const admission = await this.dedupe.admit(digestOtlpRequest(body, format));
    if (admission.duplicate) return ok({ accepted: 0, rejected: 0, messages: [], duplicate: true });
    const appended = await this.journal.append(body, format);
    if (!appended.ok) {
      admission.settle(false);
      return err(appended.error);
    }
    const result = ingestPoints(this.aggregator, this.stats, points, this.deps.clock.nowMs());
    this.journal.markIngested(appended.value.seq);
    admission.settle(true);
    return ok(result);
  }

  /** Replay of one journaled request (decoded the same way the source does). */
  private ingestOtlpBody(body: Uint8Array, format: JournalFormat): void {
    const decoded = decodeOtlpMetrics(body, format, { includeResourceAttributes: this.resourceLabels });
    if (decoded.ok) ingestPoints(this.aggregator, this.stats, decoded.value.points, this.deps.clock.nowMs());
  }

  /**
   * What a hub learns about this agent with every remote write (its fleet view and the
   * selector of `agent hub cadence`): identity labels, version, config hash, cadence, series.
   */
  private agentHeaders(): () => Record<string, string> {
    const labels = this.identityLabels()
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join(",");
    const configHash = createHash("sha256").update(JSON.stringify(this.config)).digest("hex").slice(0, 12);
    return () => ({
      "x-edge-agent-labels": labels,
      "x-edge-agent-version": VERSION,
      "x-edge-agent-config": configHash,
      "x-edge-agent-cadence": this.cadence.mode(),
      "x-edge-agent-series": String(this.aggregator.activeSeries),
    });
  }

  /**
   * The hub's fleet switch (`X-Edge-Hub-Cadence: incident; ttl=N` or `steady`). Applied when it
   * changes the mode or extends the incident by more than 30 s, so a hub answering every flush
   * does not rewrite state.json every flush.
   */
  private applyHubCadence(value: string): void {
    const m = /^\s*(incident|steady)\s*(?:;\s*ttl=(\d+))?\s*$/i.exec(value);
    if (!m) return;
    const mode = m[1].toLowerCase() as CadenceMode;
    if (mode === "steady") {
      if (this.cadence.mode() === "incident") {
        this.deps.log.info("Hub switched the fleet cadence back.", { mode });
        this.setCadence("steady");
      }
      return;
    }
    const ttlSec = Math.min(Number(m[2] ?? 1800), 7 * 24 * 3600);
    if (!(ttlSec > 0)) return;
    const remainingSec = this.cadence.mode() === "incident" ? this.cadence.remainingMs() / 1000 : 0;
    if (this.cadence.mode() === "incident" && Math.abs(remainingSec - ttlSec) <= 30) return;
    this.deps.log.info("Hub switched the fleet cadence.", { mode, ttlSec });
    this.setCadence("incident", ttlSec);
  }

  setCadence(mode: CadenceMode, ttlSec?: number) {
    const state = this.cadence.set(mode, ttlSec);
    this.deps.log.info("Cadence changed.", {
      mode,
      intervalSec: this.cadence.intervalMs() / 1000,
      untilMs: state.incidentUntilMs ?? "none",
    });
    this.saveState();
    return state;
  }

  /** Takes a flush now: expire idle series, snapshot, persist. Cumulative state is untouched. */
  flush(): FlushRecord {
    const t0 = this.deps.clock.monoMs();
    const atMs = this.deps.clock.nowMs();
    const expired = this.aggregator.expireIdle(atMs);
    this.expiredTotal += expired.length;
    const series = this.aggregator.snapshot();
    this.lastFlushMono = this.deps.clock.monoMs();
    this.saveState(atMs);
    const delivery = this.delivery;
    if (delivery) this.deliveryChain = this.deliveryChain.then(() => delivery.enqueue(series, expired, atMs));
    this.lastFlush = { atMs, series, expired, durationMs: this.deps.clock.monoMs() - t0 };
    this.flushes++;
    return this.lastFlush;
  }

  lastFlushRecord(): FlushRecord | null {
    return this.lastFlush;
  }

  ready(): { ok: boolean; reason: string } {
    if (!this.running) return { ok: false, reason: "agent is not running" };
    if (!this.otlp.isListening()) return { ok: false, reason: `OTLP source is not listening on ${this.config.otlp.listen}` };
    if (!this.statsd.isListening()) return { ok: false, reason: `StatsD source is not listening on ${this.config.statsd.listen}` };
    const overdueMs = this.deps.clock.monoMs() - this.lastFlushMono - 2 * this.cadence.intervalMs() - 5000;
    if (overdueMs > 0) return { ok: false, reason: `flush is overdue by ${Math.round(overdueMs / 1000)} s` };
    for (const d of this.delivery?.stats() ?? []) {
      if (d.health.state !== "ok") return { ok: false, reason: `remote-write sink ${d.sink} degraded: ${d.health.reason}` };
    }
    const journalHealth = this.journal?.health();
    if (journalHealth && journalHealth.state !== "ok") return { ok: false, reason: `OTLP journal degraded: ${journalHealth.reason}` };
    if (this.lastSaveError) return { ok: true, reason: `ok (state not persisted: ${this.lastSaveError})` };
    return { ok: true, reason: "ok" };
  }

  status(): AgentStatus {
    const now = this.deps.clock.nowMs();
    const malformed: Record<string, number> = {};
    for (const [k, v] of this.stats.malformed) malformed[k.replace("\u0000", ".")] = v;
    return {
      version: VERSION,
      uptimeSec: Math.round((this.deps.clock.monoMs() - this.startedMono) / 1000),
      cadence: {
        mode: this.cadence.mode(),
        intervalSec: this.cadence.intervalMs() / 1000,
        incidentRemainingSec: Math.round(this.cadence.remainingMs() / 1000),
      },
      series: {
        active: this.aggregator.activeSeries,
        budget: this.config.policy.budget.maxSeries,
        idleExpirySec: this.config.policy.budget.idleExpirySec,
      },
      rejections: Object.fromEntries(this.aggregator.rejections()),
      malformed,
      points: { accepted: { ...this.stats.pointsAccepted }, rejected: { ...this.stats.pointsRejected } },
      lastFlush: this.lastFlush
        ? {
            atMs: this.lastFlush.atMs,
            ageSec: Math.round((now - this.lastFlush.atMs) / 100) / 10,
            series: this.lastFlush.series.length,
            durationMs: Math.round(this.lastFlush.durationMs * 100) / 100,
          }
        : null,
      flushes: this.flushes,
      queue: this.queueStatus(),
      listeners: { otlp: this.config.otlp.listen, statsd: this.config.statsd.listen, admin: this.config.admin.listen },
      ready: this.ready(),
      state: { lastSaveError: this.lastSaveError },
    };
  }

  /** The agent's identity labels (added to every exported series), sorted by name. */
  identityLabels(): [string, string][] {
    return Object.entries(this.config.identity.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  deliveryStats() {
    return this.delivery?.stats() ?? [];
  }

  private queueStatus(): { depth: number; note: string } {
    if (!this.delivery) return { depth: 0, note: "no remote-write sink configured" };
    const stats = this.deliveryStats();
    const depth = stats.reduce((n, s) => n + s.recordsPending, 0);
    return { depth, note: stats.map((s) => `${s.sink}: ${s.recordsPending} batches, ${s.health.state}`).join("; ") };
  }

  selfMetrics() {
    return buildSelfMetrics({
      activeSeries: this.aggregator.activeSeries,
      budget: this.config.policy.budget.maxSeries,
      rejections: this.aggregator.rejections(),
      malformed: this.stats.malformed,
      pointsAccepted: this.stats.pointsAccepted,
      pointsRejected: this.stats.pointsRejected,
      flushes: this.flushes,
      lastFlushMs: this.lastFlush?.atMs ?? 0,
      intervalSec: this.cadence.intervalMs() / 1000,
      incident: this.cadence.mode() === "incident",
      incidentRemainingSec: this.cadence.remainingMs() / 1000,
      expired: this.expiredTotal,
      statsd: this.statsd.stats,
      uptimeSec: (this.deps.clock.monoMs() - this.startedMono) / 1000,
      otlpDeduplicated: this.dedupe.duplicates,
      delivery: this.deliveryStats(),
    });
  }

  private scheduleNextFlush(): void {
    if (!this.running) return;
    clearTimeout(this.flushTimer);
    const dueInMs = Math.max(0, this.lastFlushMono + this.cadence.intervalMs() - this.deps.clock.monoMs());
    this.flushTimer = setTimeout(() => {
      try {
        this.flush();
      } catch (e) {
        this.deps.log.error("Flush failed.", { error: e });
      }
      this.scheduleNextFlush();
    }, dueInMs);
  }

  /** A cadence change takes effect on the next flush: re-arm the timer from the last flush. */
  private reschedule(): void {
    this.scheduleNextFlush();
  }

  /** Restores the saved aggregation state; returns the OTLP journal seq it covers. */
  private restoreState(): number {
    const r = readState(this.config.dataDir, this.deps.clock.nowMs());
    if (!r.ok) {
      if (r.error.code === "STATE_CORRUPT") {
        this.deps.log.error("State file was corrupt; starting with empty aggregation state.", {
          error: r.error.message,
          movedTo: r.error.movedTo ?? "not moved",
        });
      } else if (r.error.code === "STATE_IO") {
        this.deps.log.error("Could not read the state file; starting empty.", { error: r.error.message });
      }
      return 0;
    }
    let restored: number;
    let dropped: number;
    try {
      ({ restored, dropped } = this.aggregator.restore(r.value.series));
    } catch (e) {
      this.deps.log.error("BUG: restoring a validated state file failed; starting empty.", { error: e });
      return 0;
    }
    this.cadence.restore(r.value.cadence);
    const saved = r.value.recentOtlpRequests;
    const skipped = this.dedupe.restore(Array.isArray(saved) ? saved : []);
    if (skipped > 0) this.deps.log.warn("Skipped damaged entries of the saved OTLP dedupe window.", { entries: skipped });
    this.deps.log.info("Restored aggregation state.", { series: restored, droppedOverBudget: dropped, cadence: this.cadence.mode() });
    return r.value.journalSeq ?? 0;
  }

  private saveState(atMs = this.deps.clock.nowMs()): void {
    const journalSeq = this.journal?.includedSeq() ?? 0;
    const r = writeState(this.config.dataDir, {
      version: 1,
      savedAtMs: atMs,
      cadence: this.cadence.snapshot(),
      series: this.aggregator.toPersisted(),
      journalSeq,
      recentOtlpRequests: this.dedupe.snapshot(),
    });
    if (r.ok && this.journal) void this.journal.trim(journalSeq);
    if (!r.ok) {
      const message = r.error.code === "STATE_IO" ? r.error.message : r.error.code;
      if (this.lastSaveError !== message) this.deps.log.error("Could not persist aggregation state.", { error: message });
      this.lastSaveError = message;
    } else if (this.lastSaveError !== null) {
      this.deps.log.info("Persisting aggregation state works again.");
      this.lastSaveError = null;
    }
  }
}
