/**
 * Vitest global setup: every test run gets its own temp directory, and it is removed when the
 * run ends. TMPDIR points into it before the test workers start, so os.tmpdir() in tests, and
 * in the agents, hubs, Prometheus and VictoriaMetrics they start, lands there: a CI run used to
 * leave ~1,000 directories (data dirs, configs, queues) behind in /tmp. Set KEEP_TEST_TMP=1 to
 * keep it for a post-mortem.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "edge-agent-tests-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (process.env.KEEP_TEST_TMP === "1") console.log(`test temp dir kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
