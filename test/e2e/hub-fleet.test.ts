/**
 * The compiled hub with real senders and across crashes:
 * - Prometheus 2.42 and vmagent remote-write into the hub (bearer token), which forwards to a store;
 * - dedupe of a retried batch across a hub kill -9, and a queued batch delivered after one;
 * - the fleet switch: `agent hub cadence incident --selector region=…` flips a running agent.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runBinary, sleep, startAgent, waitFor } from "../support/agent-process";
import { ADMIN_TOKEN, startHub, type HubHandle } from "../support/hub-process";
import { startPrometheus, type Store } from "../support/stores";
import { encodeWriteRequest, prometheus, snappyCompress, snappyUncompress } from "../hub/ingest/ingest-test-helpers";

const TOKEN = "fleet-tenant-token-0123456789";

function batch(name: string, value: number, ts: number): Uint8Array {
  return snappyCompress(
    encodeWriteRequest({
      timeseries: [{ labels: [{ name: "__name__", value: name }, { name: "job", value: "dedupe" }], samples: [{ value, timestamp: ts }] }],
    }),
  );
}

async function post(hub: HubHandle, body: Uint8Array, batchId: string): Promise<number> {
  const r = await fetch(`${hub.url}/api/v1/write`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-encoding": "snappy", "content-type": "application/x-protobuf", "x-edge-agent-batch-id": batchId },
    body: body as BodyInit,
  });
  return r.status;
}

function spawnLogged(cmd: string, args: string[]): { proc: ChildProcess; out: () => string } {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  return { proc, out: () => out };
}

describe("standard senders write through the hub", () => {
  let store: Store;
  let hub: HubHandle;
  const procs: ChildProcess[] = [];
  beforeAll(async () => {
    store = await startPrometheus();
    hub = await startHub({ upstreams: [store.writeUrl], tenants: { studio: TOKEN } });
  }, 60_000);
  afterAll(async () => {
    for (const p of procs) p.kill("SIGTERM");
    await hub?.stop();
    await store?.stop();
  });

  it("Prometheus 2.42 remote-writes its scrape of the hub through the hub into the store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "prom-sender-"));
    writeFileSync(join(dir, "token"), TOKEN);
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: { scrape_interval: 1s }
scrape_configs: [{ job_name: prom-sender, static_configs: [{ targets: ["127.0.0.1:${hub.port}"] }] }]
remote_write:
  - url: ${hub.url}/api/v1/write
    authorization: { credentials_file: ${join(dir, "token")} }
    queue_config: { batch_send_deadline: 1s }
`,
    );
    const port = await freePort();
    const p = spawnLogged("/usr/bin/prometheus", [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ]);
    procs.push(p.proc);
    await waitFor(async () => (await store.query('hub_build_info{job="prom-sender"}')).length === 1, 30_000, "hub_build_info from the Prometheus sender in the store").catch((e) => {
      throw new Error(`${e.message}\nprometheus sender:\n${p.out()}\nhub:\n${hub.output()}`);
    });
    expect(await hub.metric('tenant_samples_ingested_total{tenant="studio"}')).toBeGreaterThan(0);
  }, 60_000);

  it("vmagent remote-writes its scrape through the hub into the store", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vmagent-sender-"));
    writeFileSync(join(dir, "scrape.yml"), `scrape_configs: [{ job_name: vm-sender, scrape_interval: 1s, static_configs: [{ targets: ["127.0.0.1:${hub.port}"] }] }]\n`);
    const port = await freePort();
    const p = spawnLogged("/usr/bin/vmagent", [
      `-promscrape.config=${join(dir, "scrape.yml")}`,
      `-remoteWrite.url=${hub.url}/api/v1/write`,
      `-remoteWrite.bearerToken=${TOKEN}`,
      `-remoteWrite.tmpDataPath=${join(dir, "tmp")}`,
      `-remoteWrite.flushInterval=1s`,
      `-httpListenAddr=127.0.0.1:${port}`,
      "-loggerLevel=ERROR",
    ]);
    procs.push(p.proc);
    await waitFor(async () => (await store.query('hub_build_info{job="vm-sender"}')).length === 1, 30_000, "hub_build_info from vmagent in the store").catch((e) => {
      throw new Error(`${e.message}\nvmagent:\n${p.out()}\nhub:\n${hub.output()}`);
    });
  }, 60_000);
});

describe("dedupe and durability across a hub kill -9", () => {
  let upstream: Server;
  const seen = new Map<string, number>();
  let upstreamDown = false;
  let upstreamUrl = "";
  beforeAll(async () => {
    // A counting remote-write receiver: it records how often each sample value arrives (the hub
    // may join waiting batches into one request, so batch ids alone would not tell).
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (upstreamDown) {
          res.writeHead(503);
          res.end();
          return;
        }
        const body = Buffer.concat(chunks);
        if (body.length > 1) {
          const wr = prometheus.WriteRequest.decode(snappyUncompress(body));
          for (const ts of wr.timeseries) for (const s of ts.samples ?? []) seen.set(`value:${s.value}`, (seen.get(`value:${s.value}`) ?? 0) + 1);
        }
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}/api/v1/write`;
  });
  afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

  it("a batch retried after kill -9 is written once; a batch queued before kill -9 is delivered after restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hub-kill-"));
    const port = await freePort();
    let hub = await startHub({ upstreams: [upstreamUrl], tenants: { studio: TOKEN }, dataDir, port });
    const now = Date.now();
    expect(await post(hub, batch("dedupe_probe", 1, now), "gs-1:1")).toBe(204);
    await waitFor(async () => seen.get("value:1") === 1, 10_000, "batch gs-1:1 forwarded");

    upstreamDown = true;
    expect(await post(hub, batch("dedupe_probe", 2, now + 1000), "gs-1:2")).toBe(204);
    hub.proc.kill("SIGKILL");
    await new Promise((r) => hub.proc.once("exit", r));

    hub = await startHub({ upstreams: [upstreamUrl], tenants: { studio: TOKEN }, dataDir, port });
    // The sender never saw the answers: it retries both, with the same ids.
    expect(await post(hub, batch("dedupe_probe", 1, now), "gs-1:1")).toBe(204);
    expect(await post(hub, batch("dedupe_probe", 2, now + 1000), "gs-1:2")).toBe(204);
    upstreamDown = false;
    expect(await post(hub, batch("dedupe_probe", 3, now + 2000), "gs-1:3")).toBe(204);
    await waitFor(async () => seen.get("value:3") === 1, 15_000, "batch gs-1:3 forwarded");
    await waitFor(async () => seen.get("value:2") === 1, 15_000, "queued batch gs-1:2 delivered after the restart");
    await sleep(500);
    expect(seen.get("value:1")).toBe(1);
    expect(seen.get("value:2")).toBe(1);
    expect(await hub.metric('ingest_dedupe_hits_total{tenant="studio"}')).toBe(2);
    expect(await hub.metric("ingest_dedupe_rate")).toBeGreaterThan(0);
    await hub.stop();
  }, 60_000);
});

describe("fleet-wide incident switch through the hub", () => {
  it("agent hub cadence incident --selector region=… switches a running agent within a flush, and steady switches it back", async () => {
    const store = await startPrometheus();
    const hub = await startHub({ upstreams: [store.writeUrl], tenants: { studio: TOKEN } });
    const dir = mkdtempSync(join(tmpdir(), "fleet-"));
    const tokenFile = join(dir, "token");
    const adminFile = join(dir, "admin");
    writeFileSync(tokenFile, TOKEN);
    writeFileSync(adminFile, ADMIN_TOKEN);
    const sinkYaml = [`cadence: { steadyIntervalSec: 2, incidentIntervalSec: 1 }`, `remoteWrite: [{ url: "${hub.url}/api/v1/write", name: hub, bearerTokenFile: "${tokenFile}" }]`].join("\n");
    const agent = await startAgent({ yaml: sinkYaml, identity: { host: "gs-eu-1", region: "eu-west-1" } });
    const other = await startAgent({ yaml: sinkYaml, identity: { host: "gs-us-1", region: "us-east-1" } });
    try {
      // Agents write (and so hear from the hub) when they have series: give both one.
      for (const a of [agent, other]) {
        const sock = createSocket("udp4");
        await new Promise<void>((r) => sock.send(Buffer.from("fleet.players:12|g"), a.statsdPort, "127.0.0.1", () => r()));
        sock.close();
      }
      {
        const fleetView = async () => (await (await hub.admin("/api/v1/fleet")).json()) as { agents: { host: string; cadence: string; version: string; configHash: string; labels: Record<string, string> }[] };
        await waitFor(async () => (await fleetView()).agents.some((a) => a.host === "gs-eu-1"), 15_000, "gs-eu-1 in the hub's fleet view");
        const view = await fleetView();
        const eu1 = view.agents.find((a) => a.host === "gs-eu-1")!;
        expect(eu1).toMatchObject({ cadence: "steady", labels: { region: "eu-west-1" } });
        expect(eu1.version).toMatch(/^\d+\.\d+\.\d+/);
        expect(eu1.configHash).toMatch(/^[0-9a-f]{12}$/);

        const on = await runBinary(["hub", "cadence", "incident", "--selector", "region=eu-west-1", "--for", "60s", "--hub", hub.url, "--admin-token-file", adminFile]);
        expect(on.stderr).toBe("");
        expect(on.code).toBe(0);
        expect(on.stdout).toMatch(/region=eu-west-1 → incident for 1 min; 1 agents seen there match/);
        const status = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json()) as { cadence: { mode: string; incidentRemainingSec: number } };
        // Within one steady flush (2 s) plus the answer that carries the switch.
        await waitFor(async () => (await status(agent.adminPort)).cadence.mode === "incident", 6_000, "eu agent in incident cadence");
        expect((await status(agent.adminPort)).cadence.incidentRemainingSec).toBeLessThanOrEqual(60);
        // The agent outside the selector stays steady.
        await sleep(2500);
        expect((await status(other.adminPort)).cadence.mode).toBe("steady");
        await waitFor(async () => (await fleetView()).agents.find((a) => a.host === "gs-eu-1")?.cadence === "incident", 5_000, "fleet view shows incident");

        const off = await runBinary(["hub", "cadence", "steady", "--selector", "region=eu-west-1", "--hub", hub.url, "--admin-token-file", adminFile]);
        expect(off.code).toBe(0);
        await waitFor(async () => (await status(agent.adminPort)).cadence.mode === "steady", 6_000, "eu agent back to steady");

        // With a short TTL and no steady command: the agent reverts on its own when it runs out.
        const brief = await runBinary(["hub", "cadence", "incident", "--selector", "region=eu-west-1", "--for", "4s", "--hub", hub.url, "--admin-token-file", adminFile]);
        expect(brief.code).toBe(0);
        await waitFor(async () => (await status(agent.adminPort)).cadence.mode === "incident", 6_000, "eu agent in incident cadence for 4 s");
        const switchedAt = Date.now();
        await waitFor(async () => (await status(agent.adminPort)).cadence.mode === "steady", 10_000, "eu agent reverted after the TTL");
        expect(Date.now() - switchedAt).toBeLessThan(4_000 + 2_500);

        const listed = await runBinary(["hub", "fleet", "--hub", hub.url, "--admin-token-file", adminFile]);
        expect(listed.code).toBe(0);
        expect(listed.stdout).toMatch(/studio\s+gs-eu-1\s+eu-west-1/);
      }
    } finally {
      await agent.stop();
      await other.stop();
      await hub.stop();
      await store.stop();
    }
  }, 90_000);
});
