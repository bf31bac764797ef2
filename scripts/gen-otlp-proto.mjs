#!/usr/bin/env node
/**
 * Regenerates agent/sources/otlp/proto/otlp.js (+ otlp.d.ts) from the .proto subset beside it.
 *
 * pbts reads the JSDoc that pbjs writes, so the .d.ts is made from a commented build in a temp
 * dir; the committed otlp.js is built without comments (177 KB instead of 330 KB).
 *
 * Static module, ES6 wrapper, protobufjs/minimal at runtime: no reflection and no runtime code
 * generation, so it works unchanged inside `bun build --compile` (docs BUN.md §1). verify,
 * convert (toObject/fromObject) and delimited helpers are left out to keep the file small;
 * encode and decode stay (responses, tests).
 *
 * Usage: npm run gen:otlp   — the output is committed; rerun after editing a .proto file.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const protoDir = path.join(repoRoot, "agent/sources/otlp/proto");
const outJs = path.join(protoDir, "otlp.js");
const outDts = path.join(protoDir, "otlp.d.ts");
const cliDir = path.join(repoRoot, "node_modules/protobufjs-cli/bin");

const protoFiles = [
  "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
  "google/rpc/status.proto",
];

function runCli(tool, args) {
  execFileSync(process.execPath, [path.join(cliDir, tool), ...args], {
    cwd: protoDir,
    stdio: "inherit",
  });
}

function runPbjs(outFile, extraArgs) {
  runCli("pbjs", [
    "-t", "static-module",
    "-w", "es6",
    "--no-verify",
    "--no-convert",
    "--no-delimited",
    "--no-typeurl",
    ...extraArgs,
    "-p", protoDir,
    "-o", outFile,
    ...protoFiles,
  ]);
}

const tmpDir = mkdtempSync(path.join(tmpdir(), "gen-otlp-"));
try {
  const commentedJs = path.join(tmpDir, "otlp.js");
  runPbjs(commentedJs, []);
  runCli("pbts", ["-o", outDts, commentedJs]);
  runPbjs(outJs, ["--no-comments"]);
} finally {
  rmSync(tmpDir, { recursive: true, force: true });
}
console.log(`Wrote ${path.relative(repoRoot, outJs)} and ${path.relative(repoRoot, outDts)}.`);
