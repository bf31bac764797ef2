/**
 * Aggregation state on disk, so counters survive an agent restart instead of resetting to zero.
 *
 * Layout: `<dataDir>/state.json`, a JSON document {version, savedAtMs, cadence, series,
 * journalSeq, recentOtlpRequests}. Non-finite numbers (empty histogram min/max) are written as
 * {"$num":"+Inf"|"-Inf"|"NaN"}. `recentOtlpRequests` is the OTLP dedupe window
 * (pipeline/otlp-dedupe.ts) as [digest, accept ms] pairs, oldest first; it is not validated
 * here (a damaged entry costs at most a duplicate, so the restore skips it rather than setting
 * the whole file aside).
 *
 * Write protocol (platform/state-files.ts): `state.json.tmp`, fsync, rename over `state.json`,
 * fsync the directory, so a crash leaves either the previous or the new complete file. A file that does not parse is
 * renamed to `state.json.corrupt-<ms>` and the agent starts empty (logged, counted), never crashes.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { replaceFileSync, setAside } from "../platform/state-files";
import { join } from "node:path";
import type { PersistedSeries } from "../aggregate/aggregator";
import { describeInvalid } from "../aggregate/expo-histogram";
import type { ExpoHistogramData } from "../core/points";
import type { CadenceState } from "../cadence/cadence";
import { err, ok, type Result } from "../core/result";

export const STATE_VERSION = 1;

export interface AgentState {
  version: number;
  savedAtMs: number;
  cadence: CadenceState;
  series: PersistedSeries[];
  /** Every OTLP journal record up to this seq is inside `series` (absent in older files: 0). */
  journalSeq?: number;
  /** OTLP requests accepted in the dedupe window: [digest, accept ms] (absent in older files). */
  recentOtlpRequests?: [string, number][];
}

export type StateError =
  | { code: "STATE_MISSING" }
  | { code: "STATE_CORRUPT"; message: string; movedTo?: string }
  | { code: "STATE_IO"; message: string };

export function statePath(dataDir: string): string {
  return join(dataDir, "state.json");
}

export function writeState(dataDir: string, state: AgentState): Result<void, StateError> {
  try {
    mkdirSync(dataDir, { recursive: true });
    const body = JSON.stringify(state, (_k, v) =>
      typeof v === "number" && !Number.isFinite(v) ? { $num: Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf" } : v,
    );
    replaceFileSync(statePath(dataDir), body);
    return ok(undefined);
  } catch (e) {
    return err({ code: "STATE_IO", message: (e as Error).message });
  }
}

export function readState(dataDir: string, nowMs: number): Result<AgentState, StateError> {
  const path = statePath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return err({ code: "STATE_MISSING" });
    return err({ code: "STATE_IO", message: (e as Error).message });
  }
  try {
    const state = JSON.parse(text, (_k, v) =>
      v !== null && typeof v === "object" && typeof v.$num === "string" && Object.keys(v).length === 1
        ? v.$num === "NaN"
          ? Number.NaN
          : v.$num === "+Inf"
            ? Infinity
            : -Infinity
        : v,
    ) as AgentState;
    if (state.version !== STATE_VERSION || !Array.isArray(state.series)) throw new Error(`unknown state version ${state.version}`);
    const problem = describeInvalidState(state);
    if (problem !== undefined) throw new Error(problem);
    return ok(state);
  } catch (e) {
    const movedTo = setAside(path, nowMs);
    return err({ code: "STATE_CORRUPT", message: (e as Error).message, ...(movedTo !== undefined ? { movedTo } : {}) });
  }
}

const KINDS = new Set(["counter", "gauge", "expo", "explicit", "set"]);

/** Structural check of a parsed state file, so a damaged or foreign file is set aside, not trusted. */
function describeInvalidState(state: AgentState): string | undefined {
  const c = state.cadence as unknown as Record<string, unknown> | null;
  if (c === null || typeof c !== "object" || (c.mode !== "steady" && c.mode !== "incident")) return "cadence is not a cadence state";
  if (c.incidentUntilMs !== null && typeof c.incidentUntilMs !== "number") return "cadence.incidentUntilMs is not a number";
  for (let i = 0; i < state.series.length; i++) {
    const p = state.series[i] as unknown as Record<string, unknown>;
    const at = `series[${i}]`;
    if (p === null || typeof p !== "object") return `${at} is not an object`;
    if (typeof p.name !== "string" || p.name === "") return `${at}.name is not a name`;
    if (!KINDS.has(p.kind as string)) return `${at}.kind is not a series kind`;
    if (!Array.isArray(p.labels) || !p.labels.every((l) => Array.isArray(l) && l.length === 2 && typeof l[0] === "string" && typeof l[1] === "string")) {
      return `${at}.labels is not a list of [name, value] pairs`;
    }
    for (const f of ["lastUpdateMs", "base", "last"]) if (typeof p[f] !== "number") return `${at}.${f} is not a number`;
    if (p.streamStartMs !== null && typeof p.streamStartMs !== "number") return `${at}.streamStartMs is not a number`;
    for (const f of ["hist", "histLast"]) {
      if (p[f] === undefined) continue;
      const problem = describeInvalid(p[f] as ExpoHistogramData);
      if (problem !== undefined) return `${at}.${f}: ${problem}`;
    }
    if (p.kind === "expo" && p.hist === undefined) return `${at}.hist is missing`;
    for (const f of ["explicit", "explicitLast"]) {
      const e = p[f] as Record<string, unknown> | undefined;
      if (e === undefined) continue;
      if (!Array.isArray(e.bounds) || !Array.isArray(e.counts) || e.counts.length !== e.bounds.length + 1) return `${at}.${f} is not an explicit histogram`;
    }
  }
  return undefined;
}
