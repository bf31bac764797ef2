/**
 * A hub's write path built from the real pieces (config parser, DedupeWindow, Forwarder with its
 * disk queues, tenant runtime, counters, policy), without the HTTP server. The forwarder is
 * started only when asked, so by default records stay in its queue and are counted there.
 */
import { join } from "node:path";
import { fakeClock, silentLogger, type Clock } from "../../../agent/core/deps";
import { parseHubConfig, type HubConfig } from "../../../hub/config/hub-config";
import { openDedupeWindow, type DedupeWindow } from "../../../hub/dedupe/dedupe-window";
import { Forwarder } from "../../../hub/forward/forwarder";
import { createHubSeriesPolicy } from "../../../hub/ingest/hub-policy";
import { HubCounters } from "../../../hub/pipeline/hub-counters";
import { createHubIngest, type HubIngest } from "../../../hub/pipeline/hub-ingest";
import type { PaceSettings } from "../../../hub/pipeline/intake-pacer";
import { createTenantFleet } from "../../../hub/pipeline/tenant-runtime";

export interface TestHub {
  ingest: HubIngest;
  config: HubConfig;
  dedupe: DedupeWindow;
  forwarder: Forwarder;
  counters: HubCounters;
  close(): Promise<void>;
}

export interface TestHubOptions {
  /** Default: a closed port (nothing is sent unless the forwarder is started). */
  upstreamUrl?: string;
  /** Default: a fake clock at 2026-11-22T10:00:00Z. */
  clock?: Clock;
  pace?: PaceSettings;
  /** Start the forwarder (send to the upstream). Default false. */
  forward?: boolean;
}

/** Tenants acme and beta, one upstream `prom` with one shard, data under `dataDir`. */
export async function openTestHub(dataDir: string, options: TestHubOptions = {}): Promise<TestHub> {
  const url = options.upstreamUrl ?? "http://127.0.0.1:9/api/v1/write";
  const parsed = await parseHubConfig(
    `
dataDir: ${JSON.stringify(dataDir)}
hubId: test-hub
upstreams: [{ name: prom, url: ${JSON.stringify(url)}, shards: 1 }]
tenants: [{ id: acme, tokenFile: /t/acme.token }, { id: beta, tokenFile: /t/beta.token }]
`,
    "hub.yaml",
    (file) => `token-of-${file}-0123456789`,
  );
  if (!parsed.ok) throw new Error(parsed.error);
  const config = parsed.value;
  const clock = options.clock ?? fakeClock(Date.parse("2026-11-22T10:00:00Z"));
  const log = silentLogger;
  const dedupe = await openDedupeWindow({ dir: join(dataDir, "dedupe") }, { clock, log });
  if (!dedupe.ok) throw new Error(JSON.stringify(dedupe.error));
  const forwarder = await Forwarder.open(config.upstreams[0], dataDir, { clock, log, userAgent: "test" });
  if (!forwarder.ok) throw new Error(forwarder.error);
  const tenants = createTenantFleet(config, { clock, log });
  if (!tenants.ok) throw new Error(tenants.error);
  const counters = new HubCounters(tenants.value.labeler, () => clock.nowMs());
  const policy = createHubSeriesPolicy({ rejectPiiValues: config.policy.rejectPiiValues, piiExemptLabels: config.policy.piiExemptLabels });
  if (!policy.ok) throw new Error(policy.error);
  const ingest = createHubIngest({
    clock,
    log,
    config,
    policy: policy.value,
    dedupe: dedupe.value,
    forwarders: new Map([[forwarder.value.name, forwarder.value]]),
    tenants: tenants.value.byId,
    counters,
    pace: options.pace,
  });
  if (options.forward) forwarder.value.start();
  return {
    ingest,
    config,
    dedupe: dedupe.value,
    forwarder: forwarder.value,
    counters,
    async close() {
      await forwarder.value.stop();
      await dedupe.value.close();
    },
  };
}
