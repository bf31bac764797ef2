/**
 * Logs an SRE can read and grep: one line per event, logfmt.
 *   ts=2026-11-22T05:00:00.000Z level=warn msg="Rejected series." reason=budget name=game_kills_total
 */
import type { LogFields, Logger } from "./deps";

export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[lvl] < min) return;
    let line = `ts=${new Date().toISOString()} level=${lvl} msg=${quote(msg)}`;
    if (fields) for (const k in fields) line += ` ${k}=${quote(format(fields[k]))}`;
    write(line + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

function format(v: unknown): string {
  if (v instanceof Error) return v.message;
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  return JSON.stringify(v);
}

function quote(s: string): string {
  return /^[A-Za-z0-9_.:/@+\-]+$/.test(s) ? s : JSON.stringify(s);
}
