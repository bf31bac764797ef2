/**
 * Read-back check of the synthetic fleet: every acknowledged sample of an agent must be in the
 * store with its exact value (fleet-wire.ts expectedValue / sampleTimestampMs). The store's raw
 * samples of one host are passed in as series (name, shard_id, timestamps, values).
 */
import type { AgentAcks, FleetSummary } from "./fleet-generator";
import { FLEET_METRICS, SERIES_PER_AGENT, expectedValue, sampleTimestampMs } from "./fleet-wire";

export interface StoredSeries {
  name: string;
  shardId: string;
  timestamps: number[];
  values: number[];
}

export interface CheckCounts {
  agents: number;
  series: number;
  /** Acknowledged samples checked. */
  acknowledged: number;
  found: number;
  /** Acknowledged, not in the store at its timestamp. */
  missing: number;
  /** In the store at the right timestamp with another value. */
  wrongValue: number;
  /** Stored samples at a timestamp that was never acknowledged (a failed request that got through anyway). */
  unacknowledgedStored: number;
  /** Stored more than once at the same timestamp. */
  storedTwice: number;
  examples: string[];
}

export function emptyCounts(): CheckCounts {
  return { agents: 0, series: 0, acknowledged: 0, found: 0, missing: 0, wrongValue: 0, unacknowledgedStored: 0, storedTwice: 0, examples: [] };
}

export function checkAgent(summary: FleetSummary, acks: AgentAcks, stored: StoredSeries[], into: CheckCounts): void {
  const { t0Ms, cadenceMs, samplesPerSeries: S } = summary.config;
  const bySeries = new Map<string, StoredSeries>();
  for (const st of stored) bySeries.set(`${st.name}|${st.shardId}`, st);
  const acked = new Uint8Array(acks.next);
  for (const [a, b] of acks.acked) acked.fill(1, a, b + 1);
  into.agents++;
  for (let s = 0; s < SERIES_PER_AGENT; s++) {
    into.series++;
    const name = FLEET_METRICS[s % FLEET_METRICS.length].name;
    const shardId = String(1 + Math.floor(s / FLEET_METRICS.length));
    const st = bySeries.get(`${name}|${shardId}`);
    const at = new Map<number, number[]>();
    if (st) for (let i = 0; i < st.timestamps.length; i++) {
      const list = at.get(st.timestamps[i]);
      if (list) list.push(st.values[i]);
      else at.set(st.timestamps[i], [st.values[i]]);
    }
    for (let k = 0; k < acks.next; k++) {
      for (let j = 0; j < S; j++) {
        const n = k * S + j;
        const ts = sampleTimestampMs(t0Ms, cadenceMs, n);
        const got = at.get(ts);
        at.delete(ts);
        if (got && got.length > 1) into.storedTwice += got.length - 1;
        if (!acked[k]) {
          if (got) into.unacknowledgedStored++;
          continue;
        }
        into.acknowledged++;
        const want = expectedValue(acks.agent, s, n);
        if (!got) {
          into.missing++;
          if (into.examples.length < 8) into.examples.push(`missing ${name}{host="${acks.host}",shard_id="${shardId}"} flush ${k} @${new Date(ts).toISOString()} (want ${want})`);
        } else if (got[0] !== want) {
          into.wrongValue++;
          if (into.examples.length < 8) into.examples.push(`wrong ${name}{host="${acks.host}",shard_id="${shardId}"} flush ${k}: ${got[0]} ≠ ${want}`);
        } else into.found++;
      }
    }
    // Samples at timestamps no flush of this run produced.
    into.unacknowledgedStored += at.size;
  }
}
