/**
 * Generates a protobufjs static module (ES6 wrapper, protobufjs/minimal at runtime) plus its
 * .d.ts. pbts reads the JSDoc that pbjs writes, so the .d.ts is made from a commented build in a
 * temp dir; the committed .js is built without comments. verify, convert and delimited helpers
 * are left out; encode and decode stay. Shared by gen-otlp-proto.mjs and gen-prompb.mjs.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** protoDir relative to the repo; outName without extension; protoFiles relative to protoDir. */
export function generateStaticProto({ protoDir, outName, protoFiles }) {
  const dir = path.join(repoRoot, protoDir);
  const outJs = path.join(dir, `${outName}.js`);
  const outDts = path.join(dir, `${outName}.d.ts`);
  const cliDir = path.join(repoRoot, "node_modules/protobufjs-cli/bin");
  const runCli = (tool, args) => execFileSync(process.execPath, [path.join(cliDir, tool), ...args], { cwd: dir, stdio: "inherit" });
  const runPbjs = (outFile, extraArgs) =>
    runCli("pbjs", [
      "-t", "static-module", "-w", "es6",
      "--no-verify", "--no-convert", "--no-delimited", "--no-typeurl",
      ...extraArgs, "-p", dir, "-o", outFile, ...protoFiles,
    ]);
  const tmpDir = mkdtempSync(path.join(tmpdir(), `gen-${outName}-`));
  try {
    const commentedJs = path.join(tmpDir, `${outName}.js`);
    runPbjs(commentedJs, []);
    runCli("pbts", ["-o", outDts, commentedJs]);
    runPbjs(outJs, ["--no-comments"]);
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  console.log(`Wrote ${path.relative(repoRoot, outJs)} and ${path.relative(repoRoot, outDts)}.`);
}
