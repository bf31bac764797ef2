/** Golden files for byte- and text-exact tests. */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { expect } from "vitest";

/** An expectGolden(name, actual) comparing with `<dir>/<name>`; UPDATE_GOLDEN=1 rewrites the file instead. */
export function goldenChecker(dir: string | URL): (name: string, actual: string) => void {
  const root = typeof dir === "string" ? dir : fileURLToPath(dir);
  return (name, actual) => {
    const file = path.join(root, name);
    if (process.env.UPDATE_GOLDEN === "1") {
      mkdirSync(root, { recursive: true });
      writeFileSync(file, actual);
      return;
    }
    expect(actual, `golden file ${name} (UPDATE_GOLDEN=1 rewrites it)`).toBe(readFileSync(file, "utf8"));
  };
}

/** 16 bytes per line, lowercase hex. */
export function hexLines(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"));
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 16) lines.push(hex.slice(i, i + 16).join(" "));
  return `${lines.join("\n")}\n`;
}
