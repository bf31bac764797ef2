/**
 * Flush cadence: steady (10 s) or incident (5 s).
 *
 * Incident mode always carries a time-to-live (default 30 min) and reverts to steady by itself,
 * so a fleet is never left on double cost by someone who forgot. Aggregation is cumulative, so
 * changing the interval between two flushes neither loses nor double-counts anything: it only
 * changes when the next snapshot is taken.
 */
import type { Clock } from "../core/deps";

export type CadenceMode = "steady" | "incident";

export interface CadenceConfig {
  steadyIntervalSec: number;
  incidentIntervalSec: number;
  incidentDefaultTtlSec: number;
}

export const DEFAULT_CADENCE: CadenceConfig = {
  steadyIntervalSec: 10,
  incidentIntervalSec: 5,
  incidentDefaultTtlSec: 30 * 60,
};

export interface CadenceState {
  mode: CadenceMode;
  /** Wall-clock ms when incident mode reverts; null in steady mode. */
  incidentUntilMs: number | null;
}

export class Cadence {
  private state: CadenceState = { mode: "steady", incidentUntilMs: null };
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly config: CadenceConfig,
    private readonly clock: Clock,
  ) {}

  /** Current mode, reverting an expired incident first. */
  mode(): CadenceMode {
    this.revertIfExpired();
    return this.state.mode;
  }

  intervalMs(): number {
    return (this.mode() === "incident" ? this.config.incidentIntervalSec : this.config.steadyIntervalSec) * 1000;
  }

  /** Milliseconds left in incident mode (0 in steady mode). */
  remainingMs(): number {
    this.revertIfExpired();
    return this.state.incidentUntilMs === null ? 0 : Math.max(0, this.state.incidentUntilMs - this.clock.nowMs());
  }

  get defaultTtlSec(): number {
    return this.config.incidentDefaultTtlSec;
  }

  set(mode: CadenceMode, ttlSec?: number): CadenceState {
    if (mode === "incident") {
      const ttl = ttlSec ?? this.config.incidentDefaultTtlSec;
      this.state = { mode, incidentUntilMs: this.clock.nowMs() + ttl * 1000 };
    } else {
      this.state = { mode, incidentUntilMs: null };
    }
    this.notify();
    return this.snapshot();
  }

  /** Restores a persisted state (an expired incident is dropped). */
  restore(state: CadenceState): void {
    this.state = { ...state };
    this.revertIfExpired();
  }

  snapshot(): CadenceState {
    this.revertIfExpired();
    return { ...this.state };
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private revertIfExpired(): void {
    if (this.state.incidentUntilMs !== null && this.clock.nowMs() >= this.state.incidentUntilMs) {
      this.state = { mode: "steady", incidentUntilMs: null };
      this.notify();
    }
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }
}

/** Parses "30m", "90s", "1h", "1h30m" or a bare number of seconds. */
export function parseDurationSec(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === "ms" ? n / 1000 : unit === "s" ? n : unit === "m" ? n * 60 : unit === "h" ? n * 3600 : n * 86400;
    matched += m[0].length;
  }
  return matched === t.length && matched > 0 ? total : undefined;
}
