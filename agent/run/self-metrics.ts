/**
 * The agent's own metrics, rendered beside the aggregated series.
 *
 * They are a small fixed set outside the series budget (the reserved allowance): they can't
 * starve game metrics and game metrics can't hide them. `active_series_total` is a gauge whose
 * name the product fixed; Prometheus' linter refuses a *gauge* ending in `_total`, so the text
 * exposition declares it `untyped` (the value is the gauge) to keep `promtool check metrics` clean.
 */
import type { SelfFamily } from "../admin/prom-text";
import type { DeliveryStats } from "../pipeline/delivery";

export interface SelfMetricInputs {
  activeSeries: number;
  budget: number;
  rejections: ReadonlyMap<string, number>;
  malformed: ReadonlyMap<string, number>;
  pointsAccepted: Record<string, number>;
  pointsRejected: Record<string, number>;
  flushes: number;
  lastFlushMs: number;
  intervalSec: number;
  incident: boolean;
  incidentRemainingSec: number;
  expired: number;
  statsd: { datagrams: number; bytes: number; oversized: number; invalidUtf8: number };
  uptimeSec: number;
  /** OTLP requests answered from the dedupe window (retries of accepted requests). */
  otlpDeduplicated?: number;
  delivery: DeliveryStats[];
}

export function buildSelfMetrics(m: SelfMetricInputs): SelfFamily[] {
  const one = (value: number) => [{ labels: [] as [string, string][], value }];
  return [
    { name: "active_series_total", help: "Gauge: active series counted against the per-host series budget.", type: "untyped", samples: one(m.activeSeries) },
    { name: "agent_series_budget", help: "Configured maximum of active series per host.", type: "gauge", samples: one(m.budget) },
    {
      name: "agent_series_rejected_total",
      help: "Data points rejected by the label policy or the series budget, by reason.",
      type: "counter",
      samples: [...m.rejections].sort().map(([reason, value]) => ({ labels: [["reason", reason]] as [string, string][], value })),
    },
    {
      name: "agent_ingest_malformed_total",
      help: "Malformed input dropped, by source and reason.",
      type: "counter",
      samples: [
        ...[...m.malformed].map(([key, value]) => {
          const [source, reason] = key.split("\u0000");
          return { labels: [["reason", reason], ["source", source]] as [string, string][], value };
        }),
        // Dropped by the UDP source before parsing.
        { labels: [["reason", "datagram_too_large"], ["source", "statsd"]] as [string, string][], value: m.statsd.oversized },
        { labels: [["reason", "invalid_utf8_datagram"], ["source", "statsd"]] as [string, string][], value: m.statsd.invalidUtf8 },
      ].sort((a, b) => (a.labels[0][1] + a.labels[1][1] < b.labels[0][1] + b.labels[1][1] ? -1 : 1)),
    },
    {
      name: "agent_points_accepted_total",
      help: "Data points accepted into aggregation, by source.",
      type: "counter",
      samples: Object.entries(m.pointsAccepted).map(([source, value]) => ({ labels: [["source", source]] as [string, string][], value })),
    },
    {
      name: "agent_points_rejected_total",
      help: "Data points rejected by policy or budget, by source.",
      type: "counter",
      samples: Object.entries(m.pointsRejected).map(([source, value]) => ({ labels: [["source", source]] as [string, string][], value })),
    },
    { name: "agent_series_expired_total", help: "Series expired after being idle.", type: "counter", samples: one(m.expired) },
    { name: "agent_flushes_total", help: "Flushes taken.", type: "counter", samples: one(m.flushes) },
    { name: "agent_last_flush_timestamp_seconds", help: "Time of the last flush.", type: "gauge", samples: one(m.lastFlushMs / 1000) },
    { name: "agent_flush_interval_seconds", help: "Current flush interval.", type: "gauge", samples: one(m.intervalSec) },
    { name: "agent_cadence_incident", help: "1 while incident cadence is on.", type: "gauge", samples: one(m.incident ? 1 : 0) },
    { name: "agent_cadence_incident_remaining_seconds", help: "Time left before incident cadence reverts to steady.", type: "gauge", samples: one(m.incidentRemainingSec) },
    {
      name: "agent_otlp_requests_deduplicated_total",
      help: "OTLP requests identical to one accepted in the last 10 minutes (a sender's retry): answered 2xx again, not counted twice.",
      type: "counter",
      samples: one(m.otlpDeduplicated ?? 0),
    },
    { name: "agent_statsd_datagrams_total", help: "StatsD datagrams received.", type: "counter", samples: one(m.statsd.datagrams) },
    { name: "agent_statsd_received_bytes_total", help: "StatsD bytes received.", type: "counter", samples: one(m.statsd.bytes) },
    { name: "agent_uptime_seconds", help: "Seconds since the agent started.", type: "gauge", samples: one(m.uptimeSec) },
    ...deliveryFamilies(m.delivery),
    ...processFamilies(),
  ];
}

/** The process' own memory and CPU, as every Prometheus exporter names them (agent and hub). */
export function processFamilies(): SelfFamily[] {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const one = (value: number) => [{ labels: [] as [string, string][], value }];
  return [
    { name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: "gauge", samples: one(mem.rss) },
    { name: "process_heap_bytes", help: "JavaScript heap in use in bytes.", type: "gauge", samples: one(mem.heapUsed) },
    { name: "process_cpu_seconds_total", help: "User and system CPU time spent in seconds.", type: "counter", samples: one((cpu.user + cpu.system) / 1e6) },
  ];
}

type Pairs = [string, string][];

function deliveryFamilies(stats: DeliveryStats[]): SelfFamily[] {
  if (stats.length === 0) return [];
  const perSink = (f: (s: DeliveryStats) => number) => stats.map((s) => ({ labels: [["sink", s.sink]] as Pairs, value: f(s) }));
  return [
    { name: "agent_queue_records_pending", help: "Batches waiting in the sink's disk queue.", type: "gauge", samples: perSink((s) => s.recordsPending) },
    { name: "agent_queue_bytes_pending", help: "Bytes waiting in the sink's disk queue.", type: "gauge", samples: perSink((s) => s.bytesPending) },
    { name: "agent_queue_oldest_record_age_seconds", help: "Age of the oldest undelivered batch.", type: "gauge", samples: perSink((s) => s.oldestRecordAgeSec) },
    {
      name: "agent_queue_dropped_records_total",
      help: "Queued data dropped, by sink and reason (corrupt, full, disk_full, ...).",
      type: "counter",
      samples: stats.flatMap((s) => Object.entries(s.dropped).map(([reason, value]) => ({ labels: [["reason", reason], ["sink", s.sink]] as Pairs, value }))),
    },
    {
      name: "agent_sink_requests_total",
      help: "Remote-write requests by sink and HTTP status (network_error, authorize_error when none).",
      type: "counter",
      samples: stats.flatMap((s) => Object.entries(s.requestsByStatus).map(([status, value]) => ({ labels: [["sink", s.sink], ["status", status]] as Pairs, value }))),
    },
    { name: "agent_sink_retries_total", help: "Remote-write retries.", type: "counter", samples: perSink((s) => s.retries) },
    { name: "agent_sink_samples_enqueued_total", help: "Samples and native histograms queued for the sink.", type: "counter", samples: perSink((s) => s.samplesEnqueued) },
    { name: "agent_sink_samples_sent_total", help: "Samples and native histograms (OTLP: points) the sink's store answered 2xx.", type: "counter", samples: perSink((s) => s.samplesSent) },
    {
      name: "agent_sink_samples_dropped_total",
      help: "Samples and native histograms (OTLP: points) dropped because the store rejected their batch (4xx other than 429).",
      type: "counter",
      samples: perSink((s) => s.samplesDropped),
    },
    {
      name: "agent_sink_probes_total",
      help: "Empty requests sent while backing off after an outage, by sink and HTTP status (a 2xx ends the wait).",
      type: "counter",
      samples: stats.flatMap((s) => Object.entries(s.probesByStatus).map(([status, value]) => ({ labels: [["sink", s.sink], ["status", status]] as Pairs, value }))),
    },
    { name: "agent_sink_sent_ahead_total", help: "Batches sent ahead of a backlog (order: fresh-first).", type: "counter", samples: perSink((s) => s.sentAhead) },
  ];
}
