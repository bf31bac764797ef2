import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end tests start compiled binaries on fixed loopback ports: run files one at a time.
    fileParallelism: false,
    // One temp dir per run, removed at the end (test/support/global-tmp.ts).
    globalSetup: ["test/support/global-tmp.ts"],
  },
});
