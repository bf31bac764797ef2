/**
 * A state file that does not parse or check is renamed aside, not deleted and not trusted: the
 * process starts without it, and an operator can still look at what was there.
 */
import { renameSync } from "node:fs";

/** Renames `path` to `<path>.corrupt-<nowMs>`; returns the new name, or undefined if that failed. */
export function setAside(path: string, nowMs: number): string | undefined {
  const movedTo = `${path}.corrupt-${nowMs}`;
  try {
    renameSync(path, movedTo);
    return movedTo;
  } catch {
    return undefined;
  }
}
