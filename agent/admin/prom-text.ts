/**
 * Prometheus text exposition 0.0.4 of a flush snapshot plus the agent's self-metrics.
 *
 * Families are contiguous, each with one HELP and TYPE line, so `promtool check metrics` passes.
 * Exponential histograms are rendered as classic histograms with one `le` bucket per exponential
 * bucket boundary (Prometheus' `le` is upper-inclusive, like OTel's (lower, upper] buckets, so
 * counts are exact at every boundary). Explicit histograms keep their own bounds.
 */
import type { SeriesSnapshot } from "../aggregate/aggregator";
import { expoToClassicBuckets } from "../aggregate/classic-buckets";

export const PROM_TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type TextType = "counter" | "gauge" | "histogram" | "untyped";

/** A family of self-metrics: ready-made samples sharing one name. */
export interface SelfFamily {
  name: string;
  help: string;
  type: TextType;
  /** `suffix` ("_bucket", "_sum", "_count") lets a histogram family carry its three series. */
  samples: { labels: [string, string][]; value: number; suffix?: string }[];
}

export function renderPrometheusText(
  series: readonly SeriesSnapshot[],
  extraLabels: [string, string][],
  self: readonly SelfFamily[],
): string {
  const families = new Map<string, SeriesSnapshot[]>();
  for (const s of series) {
    const list = families.get(s.name);
    if (list) list.push(s);
    else families.set(s.name, [s]);
  }
  const names = [...families.keys()].sort();
  // Names already owned: the self families, and each histogram's _bucket/_sum/_count. The
  // aggregator refuses series that would clash; this keeps the exposition valid regardless.
  const owned = new Set(self.map((f) => f.name));
  for (const name of names) {
    const kind = families.get(name)![0].kind;
    if (kind === "expo" || kind === "explicit") for (const suffix of ["_bucket", "_sum", "_count"]) owned.add(name + suffix);
  }
  const parts: string[] = [];
  for (const name of names) if (!owned.has(name)) renderFamily(parts, name, families.get(name)!, extraLabels);
  for (const f of self) {
    parts.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
    for (const s of f.samples) parts.push(`${f.name}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}\n`);
  }
  return parts.join("");
}

function renderFamily(parts: string[], name: string, list: SeriesSnapshot[], extra: [string, string][]): void {
  const kind = list[0].kind;
  const type: TextType = kind === "expo" || kind === "explicit" ? "histogram" : kind;
  parts.push(`# HELP ${name} ${helpFor(kind)}\n# TYPE ${name} ${type}\n`);
  for (const s of list) {
    const labels = mergeLabels(s.labels, extra);
    if (s.kind === "counter" || s.kind === "gauge") {
      parts.push(`${name}${formatLabels(labels)} ${formatValue(s.value)}\n`);
    } else if (s.kind === "expo") {
      const { upperBounds, cumulativeCounts } = expoToClassicBuckets(s.expo!);
      renderBuckets(parts, name, labels, upperBounds, cumulativeCounts, s.expo!.count, s.expo!.sum);
    } else {
      const d = s.explicit!;
      const cumulative: number[] = [];
      let running = 0;
      for (let i = 0; i < d.bounds.length; i++) {
        running += d.counts[i] ?? 0;
        cumulative.push(running);
      }
      renderBuckets(parts, name, labels, d.bounds, cumulative, d.count, d.sum);
    }
  }
}

function renderBuckets(
  parts: string[],
  name: string,
  labels: [string, string][],
  upperBounds: number[],
  cumulative: number[],
  count: number,
  sum: number,
): void {
  for (let i = 0; i < upperBounds.length; i++) {
    const le = formatValue(upperBounds[i]);
    parts.push(`${name}_bucket${formatLabels([...labels, ["le", le]])} ${formatValue(cumulative[i])}\n`);
  }
  parts.push(`${name}_bucket${formatLabels([...labels, ["le", "+Inf"]])} ${formatValue(count)}\n`);
  parts.push(`${name}_sum${formatLabels(labels)} ${formatValue(sum)}\n`);
  parts.push(`${name}_count${formatLabels(labels)} ${formatValue(count)}\n`);
}

function helpFor(kind: SeriesSnapshot["kind"]): string {
  switch (kind) {
    case "counter":
      return "Counter aggregated by edge-agent (cumulative since first seen).";
    case "gauge":
      return "Gauge aggregated by edge-agent (last value).";
    case "expo":
      return "Exponential histogram aggregated by edge-agent, shown as classic buckets at its bucket boundaries.";
    case "explicit":
      return "Explicit-bucket histogram aggregated by edge-agent.";
  }
}

/** Series labels plus the agent's identity labels (series labels win on a clash), sorted. */
function mergeLabels(labels: [string, string][], extra: [string, string][]): [string, string][] {
  if (extra.length === 0) return labels;
  const out = labels.slice();
  for (const e of extra) if (!labels.some((l) => l[0] === e[0])) out.push(e);
  out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

export function formatLabels(labels: [string, string][]): string {
  if (labels.length === 0) return "";
  let s = "{";
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) s += ",";
    s += `${labels[i][0]}="${escapeLabelValue(labels[i][1])}"`;
  }
  return s + "}";
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
}

function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}
