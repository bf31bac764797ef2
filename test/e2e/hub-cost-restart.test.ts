/**
 * The compiled hub keeps a tenant's month-to-date spend across a kill -9: a tenant over its
 * monthly budget is still throttled on the first request after the restart, and its cost
 * estimate continues instead of starting from 0 (`<dataDir>/tenant-cost.json`).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../support/agent-process";
import { startHub, type HubHandle } from "../support/hub-process";
import { encodeWriteRequest, snappyCompress, type TimeSeriesShape } from "../hub/ingest/ingest-test-helpers";

const TOKEN = "thrifty-tenant-token-0123456789";

const YAML = (upstreamUrl: string) => `
budget: { evaluateEverySec: 1, throttleWithinSec: 120 }
upstreams:
  - { name: store, url: "${upstreamUrl}", shards: 1 }
tenants:
  - { id: thrifty, tokenFile: "{{dataDir}}/thrifty.token", upstream: store, budget: { monthlyUsd: 0.01 } }
`;

function body(name: string, count: number, ts: number): Uint8Array {
  const timeseries: TimeSeriesShape[] = Array.from({ length: count }, (_, i) => ({
    labels: [
      { name: "__name__", value: name },
      { name: "job", value: "b" },
      { name: "shard_id", value: String(i) },
    ],
    samples: [{ value: i, timestamp: ts }],
  }));
  return snappyCompress(encodeWriteRequest({ timeseries }));
}

async function write(hub: HubHandle, payload: Uint8Array): Promise<number> {
  const r = await fetch(`${hub.url}/api/v1/write`, {
    method: "POST",
    headers: { "content-type": "application/x-protobuf", "content-encoding": "snappy", "x-prometheus-remote-write-version": "0.1.0", authorization: `Bearer ${TOKEN}` },
    body: payload as BodyInit,
  });
  await r.arrayBuffer();
  return r.status;
}

const THROTTLED = 'tenant_budget_state{tenant="thrifty",state="throttled"}';
const TOTAL = 'tenant_cost_estimate{tenant="thrifty",currency="USD",window="total"}';
const DAY = 'tenant_cost_billing_window{tenant="thrifty",currency="USD",window="day"}';

describe("agent hub: tenant cost state across kill -9", () => {
  let store: Server;
  let storeUrl: string;
  let hub: HubHandle | undefined;
  beforeAll(async () => {
    store = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => store.listen(0, "127.0.0.1", () => r()));
    const { port } = store.address() as { port: number };
    storeUrl = `http://127.0.0.1:${port}/api/v1/write`;
  });
  afterAll(async () => {
    await hub?.stop("SIGKILL");
    await new Promise((r) => store.close(r));
  });

  it("a tenant throttled before a kill -9 is throttled from the first request after the restart; spend continues", async () => {
    const first = await startHubWithToken(YAML(storeUrl));
    hub = first;
    expect(await write(first, body("spendy_metric", 200, Date.now()))).toBe(204);
    await waitFor(async () => (await first.metric(THROTTLED)) === 1, 10_000, "thrifty throttled");
    const file = join(first.dataDir, "tenant-cost.json");
    await waitFor(async () => existsSync(file) && JSON.parse(readFileSync(file, "utf8")).tenants.thrifty?.budgetState === "throttled", 5_000, "throttled state saved");
    const totalBefore = await first.metric(TOTAL);
    expect(totalBefore).toBeGreaterThan(0);

    await first.stop("SIGKILL");
    const second = await startHubWithToken(YAML(storeUrl), first.dataDir);
    hub = second;
    // Before any timer tick: the restored spend has already been evaluated.
    expect(await second.metric(THROTTLED)).toBe(1);
    expect(await second.metric(TOTAL)).toBeGreaterThanOrEqual(totalBefore);
    expect(await second.metric(TOTAL)).toBeLessThan(totalBefore * 1.01);
    expect(await second.metric(DAY)).toBeGreaterThanOrEqual(totalBefore);
    expect(await write(second, body("spendy_metric", 1, Date.now()))).toBe(204);
    expect(await second.metric('tenant_budget_throttled_samples_total{tenant="thrifty"}')).toBe(1);
    expect(second.output()).toMatch(/Restored tenant cost state\..* tenants=1 throttled=thrifty/);
    expect(second.output()).not.toMatch(/Throttling non-critical metrics/); // unchanged state, not logged again
    // A graceful stop saves once more and exits cleanly.
    expect(await second.stop("SIGTERM")).toBe(0);
    expect(JSON.parse(readFileSync(file, "utf8")).tenants.thrifty.budgetState).toBe("throttled");
  }, 20_000);
});

async function startHubWithToken(yaml: string, dataDir?: string): Promise<HubHandle> {
  if (dataDir) return startHub({ yaml, dataDir });
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "hub-cost-restart-"));
  writeFileSync(join(dir, "thrifty.token"), TOKEN);
  return startHub({ yaml, dataDir: dir });
}
