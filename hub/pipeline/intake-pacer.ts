/**
 * Intake pacing: the hub's intake and its forwarders share one JS thread, and offered more than
 * it can relay, the intake used to win it. Relay bench, counting store, 512 requests in flight,
 * 2M samples/s offered: the hub answered 1.91M samples/s and forwarded 0.49M, so its disk
 * backlog grew by 1.4M samples every second while the store sat at 9 % CPU, and write→read
 * freshness grew with it.
 *
 *   request ─▶ auth ─▶ pace: its upstream's queue holds > backlogBytes while the upstream
 *                       answers 2xx? wait (one shared timer looks every stepMs), at most
 *                       maxWaitMs ─▶ read body ─▶ …
 *
 * The wait hands the thread to the forwarder; a sender waiting for its answer sends nothing
 * more, so the surplus stays in the senders' own queues instead of the hub's. The wait is
 * bounded: past maxWaitMs the request goes on, so pacing slows an overload and never refuses
 * one. While an upstream's sends fail there is no pacing (its backlog reads 0): holding an
 * outage is what the disk queue is for.
 */
import type { Clock } from "../../agent/core/deps";

export interface PaceSettings {
  /** Pace while the upstream's queue holds more than this (0: never pace). */
  backlogBytes: number;
  /** Longest a request waits before it goes on regardless. */
  maxWaitMs: number;
  /** How often waiting requests are looked at. */
  stepMs: number;
}

/**
 * Defaults (the hub's config sets backlogBytes: limits.paceBacklogBytes).
 * 16 MiB is ~1,600 agent requests, ~0.3 s of a 1.5M samples/s relay: well past what forwarders
 * that keep up hold (per shard the request out and the next one read ahead, ≤ 256 KiB each, and
 * records lingering ≤ 200 ms to fill a request) and inside the queues' memory for their newest
 * records (64 MiB, recent-records.ts), so a paced forwarder still reads nothing back from disk.
 * 1 s: far inside any sender's timeout (Prometheus, vmagent and our agent allow 30 s or more).
 */
export const DEFAULT_PACE: PaceSettings = { backlogBytes: 16 * 1024 * 1024, maxWaitMs: 1000, stepMs: 2 };

/** What a request waits on: an upstream's backlog (Forwarder.backlogBytes). */
export interface BacklogSource {
  backlogBytes(): number;
}

interface Waiter {
  source: BacklogSource;
  startMs: number;
  /** Looks taken: bounds the wait even when the clock stands still. */
  ticks: number;
  resolve(): void;
}

export class IntakePacer {
  /** Requests that waited. */
  pacedRequests = 0;
  /** Time they waited in all. */
  pacedSeconds = 0;
  private waiters: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly settings: PaceSettings,
    private readonly clock: Clock,
  ) {}

  /** Nothing (go on at once) while the source's backlog is within the limit; else a wait to await. */
  pace(source: BacklogSource): Promise<void> | undefined {
    if (this.settings.backlogBytes <= 0 || source.backlogBytes() <= this.settings.backlogBytes) return undefined;
    this.pacedRequests++;
    return new Promise<void>((resolve) => {
      this.waiters.push({ source, startMs: this.clock.monoMs(), ticks: 0, resolve });
      this.timer ??= setTimeout(() => this.tick(), this.settings.stepMs);
    });
  }

  /** Releases, in arrival order, every waiter whose source is back within the limit or whose time is up. */
  private tick(): void {
    this.timer = undefined;
    const { backlogBytes, maxWaitMs, stepMs } = this.settings;
    const now = this.clock.monoMs();
    const behind = new Map<BacklogSource, boolean>();
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      let isBehind = behind.get(w.source);
      if (isBehind === undefined) behind.set(w.source, (isBehind = w.source.backlogBytes() > backlogBytes));
      w.ticks++;
      if (isBehind && now - w.startMs < maxWaitMs && w.ticks * stepMs < maxWaitMs) {
        still.push(w);
        continue;
      }
      this.pacedSeconds += Math.max(0, now - w.startMs) / 1000;
      w.resolve();
    }
    this.waiters = still;
    if (still.length > 0) this.timer = setTimeout(() => this.tick(), stepMs);
  }
}
