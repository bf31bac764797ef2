/**
 * The queue's health as the admin endpoint reports it (STYLE §3): "ok", or "degraded" with the
 * reason of the latest failed disk operation and when the degradation began. The queue keeps
 * accepting calls while degraded; the next successful write clears it.
 */
import type { Clock } from "../core/deps";

export interface QueueHealth {
  state: "ok" | "degraded";
  reason: string;
  /** Wall-clock ms of the last change of state. */
  since: number;
}

export interface HealthTracker {
  current(): QueueHealth;
  /** Returns true when this call changed the state (the caller logs only then). */
  degrade(reason: string): boolean;
  recover(): boolean;
}

export function createHealthTracker(clock: Clock): HealthTracker {
  let health: QueueHealth = { state: "ok", reason: "", since: clock.nowMs() };
  return {
    current: () => ({ ...health }),
    degrade(reason) {
      const changed = health.state !== "degraded";
      health = { state: "degraded", reason, since: changed ? clock.nowMs() : health.since };
      return changed;
    },
    recover() {
      if (health.state === "ok") return false;
      health = { state: "ok", reason: "", since: clock.nowMs() };
      return true;
    },
  };
}
