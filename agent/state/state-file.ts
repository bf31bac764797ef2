/**
 * Aggregation state on disk, so counters survive an agent restart instead of resetting to zero.
 *
 * Layout: `<dataDir>/state.json`, a JSON document {version, savedAtMs, cadence, series}.
 * Non-finite numbers (empty histogram min/max) are written as {"$num":"+Inf"|"-Inf"|"NaN"}.
 *
 * Write protocol: write `state.json.tmp`, fsync it, rename over `state.json`, fsync the
 * directory. A crash at any point leaves either the previous complete file or the new complete
 * file; a leftover `.tmp` is ignored and overwritten next time. A file that does not parse is
 * renamed to `state.json.corrupt-<ms>` and the agent starts empty (logged, counted), never crashes.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { PersistedSeries } from "../aggregate/aggregator";
import type { CadenceState } from "../cadence/cadence";
import { err, ok, type Result } from "../core/result";

export const STATE_VERSION = 1;

export interface AgentState {
  version: number;
  savedAtMs: number;
  cadence: CadenceState;
  series: PersistedSeries[];
}

export type StateError =
  | { code: "STATE_MISSING" }
  | { code: "STATE_CORRUPT"; message: string; movedTo?: string }
  | { code: "STATE_IO"; message: string };

export function statePath(dataDir: string): string {
  return join(dataDir, "state.json");
}

export function writeState(dataDir: string, state: AgentState): Result<void, StateError> {
  const path = statePath(dataDir);
  const tmp = path + ".tmp";
  try {
    mkdirSync(dataDir, { recursive: true });
    const body = JSON.stringify(state, (_k, v) =>
      typeof v === "number" && !Number.isFinite(v) ? { $num: Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf" } : v,
    );
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    syncDir(dataDir);
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
    return ok(state);
  } catch (e) {
    const movedTo = `${path}.corrupt-${nowMs}`;
    try {
      renameSync(path, movedTo);
    } catch {
      return err({ code: "STATE_CORRUPT", message: (e as Error).message });
    }
    return err({ code: "STATE_CORRUPT", message: (e as Error).message, movedTo });
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Directory fsync is not supported everywhere; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
