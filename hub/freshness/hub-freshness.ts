/**
 * Freshness probe: how long until data the hub accepted is readable in the store.
 *
 *   every intervalSec: edge_hub_freshness_probe{hub="<id>"} = now (ms) ─▶ the upstream's disk queue
 *                      (the same path as tenant data) ─▶ poll GET <queryUrl>/api/v1/query every 250 ms
 *                      until the value ≥ what was written ─▶ observe the age
 *
 * `ingest_to_query_age_seconds` (histogram) is the write→read p99 the fleet's SLO is about
 * (≤ 10 s); `ingest_to_query_probe_timeouts_total` counts probes not readable within 60 s.
 * Runs only for an upstream with a `queryUrl` (AMP: the workspace URL; Prometheus/VM: the root).
 */
import type { SelfFamily } from "../../agent/admin/prom-text";
import { SnappyCompressor } from "../../agent/codec/snappy-compress";
import { ProtobufWriter } from "../../agent/codec/protobuf-writer";
import type { Clock, Logger } from "../../agent/core/deps";
import type { Forwarder } from "../forward/forwarder";

export interface FreshnessOptions {
  hubId: string;
  intervalSec: number;
  queryUrl: string;
  forwarder: Forwarder;
  clock: Clock;
  log: Logger;
  /** Extra headers for the query (e.g. a bearer token); SigV4 query signing is not done here. */
  queryHeaders?: Record<string, string>;
  fetch?: typeof fetch;
  timeoutMs?: number;
  pollMs?: number;
}

export interface FreshnessHandle {
  stop(): void;
  families(): SelfFamily[];
  /** Ages observed so far, seconds (for tests and the status page). */
  observed(): number[];
}

export const FRESHNESS_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60];
const METRIC = "edge_hub_freshness_probe";

/** One-sample WriteRequest: {__name__, hub} = value at timestamp. */
export function encodeProbe(hubId: string, valueMs: number, atMs: number): Uint8Array {
  const w = new ProtobufWriter();
  w.beginMessage(1, 2);
  w.beginMessage(1).stringField(1, "__name__").stringField(2, METRIC).endMessage();
  w.beginMessage(1).stringField(1, "hub").stringField(2, hubId).endMessage();
  w.beginMessage(2).doubleField(1, valueMs, true).varintField(2, atMs).endMessage();
  w.endMessage();
  return w.finish();
}

export function startFreshness(o: FreshnessOptions): FreshnessHandle {
  const doFetch = o.fetch ?? fetch;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const pollMs = o.pollMs ?? 250;
  const counts = new Array<number>(FRESHNESS_BUCKETS.length).fill(0);
  let count = 0;
  let sum = 0;
  let timeouts = 0;
  let failures = 0;
  const ages: number[] = [];
  let stopped = false;
  let busy = false;
  const compressor = new SnappyCompressor();
  const query = `${o.queryUrl.replace(/\/$/, "")}/api/v1/query?query=${encodeURIComponent(`${METRIC}{hub="${o.hubId}"}`)}`;

  async function readBack(): Promise<number | undefined> {
    try {
      const res = await doFetch(query, { headers: o.queryHeaders, signal: AbortSignal.timeout(5000) });
      if (!res.ok) return undefined;
      const j = (await res.json()) as { data?: { result?: { value?: [number, string] }[] } };
      const v = j.data?.result?.[0]?.value?.[1];
      return v === undefined ? undefined : Number(v);
    } catch {
      return undefined;
    }
  }

  async function probe(): Promise<void> {
    if (busy || stopped) return;
    busy = true;
    try {
      const written = o.clock.nowMs();
      const appended = await o.forwarder.append(`__freshness__|${o.hubId}`, compressor.compress(encodeProbe(o.hubId, written, written)), "__hub__", `probe:${o.hubId}:${written}`);
      if (!appended.ok) {
        failures++;
        return;
      }
      const startMono = o.clock.monoMs();
      while (!stopped) {
        const v = await readBack();
        if (v !== undefined && v >= written) {
          const age = (o.clock.nowMs() - written) / 1000;
          count++;
          sum += age;
          for (let i = 0; i < FRESHNESS_BUCKETS.length; i++) if (age <= FRESHNESS_BUCKETS[i]) counts[i]++;
          ages.push(age);
          if (ages.length > 1000) ages.shift();
          return;
        }
        if (o.clock.monoMs() - startMono > timeoutMs) {
          timeouts++;
          o.log.warn("Freshness probe not readable in the store in time.", { upstream: o.forwarder.name, timeout_sec: timeoutMs / 1000 });
          return;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    } finally {
      busy = false;
    }
  }

  const timer = setInterval(() => void probe(), o.intervalSec * 1000);
  timer.unref?.();
  const first = setTimeout(() => void probe(), 1000);
  first.unref?.();

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(first);
    },
    observed: () => [...ages],
    families() {
      const upstream: [string, string] = ["upstream", o.forwarder.name];
      return [
        {
          name: "ingest_to_query_age_seconds",
          help: "Seconds from the hub accepting a probe sample to the sample being readable through the upstream's query API.",
          type: "histogram",
          samples: [
            ...FRESHNESS_BUCKETS.map((le, i) => ({ suffix: "_bucket", labels: [upstream, ["le", String(le)]] as [string, string][], value: counts[i] })),
            { suffix: "_bucket", labels: [upstream, ["le", "+Inf"]], value: count },
            { suffix: "_sum", labels: [upstream], value: sum },
            { suffix: "_count", labels: [upstream], value: count },
          ],
        },
        { name: "ingest_to_query_probe_timeouts_total", help: "Freshness probes not readable within 60 s.", type: "counter", samples: [{ labels: [upstream], value: timeouts }] },
        { name: "ingest_to_query_probe_failures_total", help: "Freshness probes that could not be queued.", type: "counter", samples: [{ labels: [upstream], value: failures }] },
      ];
    },
  };
}
