/**
 * The Graviton build (dist/agent-linux-arm64, cross-compiled by `npm run build`) runs: under
 * qemu-user here, since this machine is x86_64. Emulated timings mean nothing; behaviour does.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, freeUdpPort, waitFor } from "../support/agent-process";

const BINARY = "dist/agent-linux-arm64";
const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";

function requireArm64(): void {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} missing: 'npm run build' cross-compiles it`);
  if (!existsSync(QEMU)) throw new Error(`${QEMU} missing: scripts/setup.sh installs qemu-user-static and libc6-arm64-cross`);
}

describe("arm64 binary under qemu", () => {
  it("prints its version", () => {
    requireArm64();
    const r = spawnSync(QEMU, ["-L", SYSROOT, BINARY, "--version"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+\+\w+$/);
  });

  it("runs the agent until ready and serves /metrics", async () => {
    requireArm64();
    const admin = await freePort();
    const args = [
      "-L", SYSROOT, BINARY, "run",
      "--data-dir", mkdtempSync(join(tmpdir(), "edge-agent-arm64-")),
      "--admin-listen", `127.0.0.1:${admin}`,
      "--otlp-listen", `127.0.0.1:${await freePort()}`,
      "--statsd-listen", `127.0.0.1:${await freeUdpPort()}`,
    ];
    const proc = spawn(QEMU, args, { stdio: "ignore" });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/-/ready`).catch(() => undefined))?.status === 200, 30_000, "arm64 agent ready");
      const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
      expect(text).toContain("active_series_total 0");
    } finally {
      proc.kill("SIGKILL");
    }
  });
});
