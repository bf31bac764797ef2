#!/usr/bin/env node
/**
 * Regenerates agent/sinks/remote-write/prompb/prompb.js (+ prompb.d.ts) from the .proto subset
 * beside it (Prometheus remote write 1.0: WriteRequest, TimeSeries, Label, Sample, Histogram,
 * BucketSpan, plus Exemplar and MetricMetadata so the reference decoder knows every field).
 *
 * Same recipe as gen-otlp-proto.mjs: static module, ES6 wrapper, protobufjs/minimal at runtime;
 * the .d.ts comes from a commented build in a temp dir, the committed .js is built without
 * comments. verify/convert/delimited helpers are left out; encode and decode stay.
 *
 * This module is the REFERENCE codec for tests and benches. The agent never imports it: its
 * requests are written by hand (write-request-encoder.ts) to keep protobufjs out of the binary.
 *
 * Usage: npm run gen:prompb   — the output is committed; rerun after editing a .proto file.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const protoDir = path.join(repoRoot, "agent/sinks/remote-write/prompb");
const outJs = path.join(protoDir, "prompb.js");
const outDts = path.join(protoDir, "prompb.d.ts");
const cliDir = path.join(repoRoot, "node_modules/protobufjs-cli/bin");

const protoFiles = ["remote.proto", "types.proto"];

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

const tmpDir = mkdtempSync(path.join(tmpdir(), "gen-prompb-"));
try {
  const commentedJs = path.join(tmpDir, "prompb.js");
  runPbjs(commentedJs, []);
  runCli("pbts", ["-o", outDts, commentedJs]);
  runPbjs(outJs, ["--no-comments"]);
} finally {
  rmSync(tmpDir, { recursive: true, force: true });
}
console.log(`Wrote ${path.relative(repoRoot, outJs)} and ${path.relative(repoRoot, outDts)}.`);
