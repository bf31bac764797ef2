#!/usr/bin/env node
// Builds the single `agent` binary with the pinned Bun from node_modules:
//   dist/agent               linux x64 (this machine)
//   dist/agent-linux-arm64   Graviton; cross-compiled (Bun fetches its arm64 runtime from the npm registry once)
// Flags per ../shared/reference/BUN.md: --minify --sourcemap --bytecode; no top-level await anywhere.
// Set SKIP_ARM64=1 to build only the host binary.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", "bun", "bin", "bun.exe");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
let commit = "unknown";
try {
  commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
} catch {}
const fullVersion = `${version}+${commit}`;

mkdirSync(join(root, "dist"), { recursive: true });

function build(target, outfile) {
  const args = [
    "build", "--compile", "--minify", "--sourcemap", "--bytecode",
    // A production binary must not pick up a .env or bunfig.toml from whatever directory it starts in.
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    `--target=${target}`,
    `--define`, `__AGENT_VERSION__=${JSON.stringify(fullVersion)}`,
    "agent/main.ts", "--outfile", outfile,
  ];
  const t0 = Date.now();
  execFileSync(bun, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  const size = statSync(join(root, outfile)).size;
  console.log(`built ${outfile} (${target}, ${(size / 1048576).toFixed(1)} MiB, ${Date.now() - t0} ms) version ${fullVersion}`);
}

build("bun-linux-x64", "dist/agent");
if (process.env.SKIP_ARM64 !== "1") {
  try {
    build("bun-linux-arm64", "dist/agent-linux-arm64");
  } catch (e) {
    console.warn(`WARNING: arm64 cross-compile failed (${e.message.split("\n")[0]}); dist/agent-linux-arm64 not built.`);
  }
}
