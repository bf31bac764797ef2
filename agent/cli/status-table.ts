/** Renders the running agent's status (GET /api/v1/status) as a table an operator can read. */
import type { AgentStatus } from "../run/agent-runtime";

export function renderStatusTable(s: AgentStatus): string {
  const rows: [string, string][] = [
    ["version", s.version],
    ["uptime", formatDuration(s.uptimeSec)],
    ["ready", s.ready.ok ? "yes" : `NO (${s.ready.reason})`],
    [
      "cadence",
      s.cadence.mode === "incident"
        ? `incident, every ${s.cadence.intervalSec} s, reverts to steady in ${formatDuration(s.cadence.incidentRemainingSec)}`
        : `steady, every ${s.cadence.intervalSec} s`,
    ],
    ["active series", `${s.series.active} / ${s.series.budget} budget (${percent(s.series.active, s.series.budget)})`],
    ["last flush", s.lastFlush ? `${s.lastFlush.ageSec} s ago, ${s.lastFlush.series} series, ${s.lastFlush.durationMs} ms` : "none yet"],
    ["flushes", String(s.flushes)],
    ["queue depth", `${s.queue.depth}${s.queue.note ? ` (${s.queue.note})` : ""}`],
    ["points accepted", formatCounts(s.points.accepted)],
    ["points rejected", formatCounts(s.points.rejected)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  let out = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n";
  out += "\nrejections by reason\n" + table(s.rejections, "  none\n");
  out += "\nmalformed input by source.reason\n" + table(s.malformed, "  none\n");
  out += `\nlisteners: otlp ${s.listeners.otlp}, statsd ${s.listeners.statsd} (udp), admin ${s.listeners.admin}\n`;
  if (s.state.lastSaveError) out += `WARNING: aggregation state is not being persisted: ${s.state.lastSaveError}\n`;
  return out;
}

function table(counts: Record<string, number>, empty: string): string {
  const entries = Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return empty;
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n") + "\n";
}

function formatCounts(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

function percent(a: number, b: number): string {
  return b > 0 ? `${Math.round((100 * a) / b)} %` : "n/a";
}

export function formatDuration(totalSec: number): string {
  const s = Math.max(0, Math.round(totalSec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, "0")}s`;
  return `${r}s`;
}
