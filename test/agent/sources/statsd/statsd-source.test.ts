import { readFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { networkInterfaces } from "node:os";
import StatsD from "hot-shots";
import { afterEach, describe, expect, test, vi } from "vitest";
import { parseStatsdPacket } from "../../../../agent/sources/statsd/statsd-parse";
import {
  createStatsdSource,
  parseListenAddress,
  RECV_BUFFER_BYTES,
  type StatsdSource,
} from "../../../../agent/sources/statsd/statsd-source";
import { silentLogger } from "../../../../agent/core/deps";
import { recordingSink, type RecordedCall } from "./statsd-recorder";
import { createUdpSender, recordingLogger, waitUntil, type LoggedLine, type UdpSender } from "./statsd-net";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startSource(
  onPacket: (text: string) => void,
  config: { listen?: string; maxDatagramBytes?: number } = {},
  log = silentLogger,
): Promise<{ source: StatsdSource; sender: UdpSender }> {
  const source = createStatsdSource({ listen: "127.0.0.1:0", ...config }, { log }, onPacket);
  const started = await source.start();
  expect(started).toEqual({ ok: true, value: undefined });
  const { address, port } = source.address()!;
  const sender = createUdpSender(port, address);
  cleanups.push(async () => {
    await sender.close();
    await source.stop();
  });
  return { source, sender };
}

describe("parseListenAddress", () => {
  test.each([
    ["127.0.0.1:8125", { host: "127.0.0.1", port: 8125, family: "udp4" }],
    ["0.0.0.0:0", { host: "0.0.0.0", port: 0, family: "udp4" }],
    ["localhost:8125", { host: "localhost", port: 8125, family: "udp4" }],
    ["[::1]:8125", { host: "::1", port: 8125, family: "udp6" }],
    ["[::]:65535", { host: "::", port: 65535, family: "udp6" }],
  ])("accepts %s", (listen, expected) => {
    expect(parseListenAddress(listen)).toEqual({ ok: true, value: expected });
  });

  test.each([
    ["8125", 'statsd.listen must be "host:port" or "[ipv6]:port" (got "8125")'],
    [":8125", 'statsd.listen must be "host:port" or "[ipv6]:port" (got ":8125")'],
    ["127.0.0.1:", 'statsd.listen must be "host:port" or "[ipv6]:port" (got "127.0.0.1:")'],
    ["127.0.0.1:http", 'statsd.listen must be "host:port" or "[ipv6]:port" (got "127.0.0.1:http")'],
    ["::1:8125", 'statsd.listen must be "host:port" or "[ipv6]:port" (got "::1:8125")'],
    ["[::1]8125", 'statsd.listen must be "host:port" or "[ipv6]:port" (got "[::1]8125")'],
    ["127.0.0.1:65536", "statsd.listen port must be 0..65535 (got 65536)"],
  ])("rejects %s", (listen, message) => {
    expect(parseListenAddress(listen)).toEqual({ ok: false, error: message });
  });
});

describe("createStatsdSource", () => {
  test("delivers each datagram as one text, in order, and counts datagrams and bytes", async () => {
    const texts: string[] = [];
    const { source, sender } = await startSource((text) => texts.push(text));
    expect(source.id).toBe("source.statsd");
    expect(source.isListening()).toBe(true);

    await sender.send("a:1|c\nb:2|g");
    await sender.send("café.orders:1|c|#city:Zürich");
    await waitUntil(() => texts.length === 2);

    expect(texts).toEqual(["a:1|c\nb:2|g", "café.orders:1|c|#city:Zürich"]);
    expect(source.stats).toEqual({
      datagrams: 2,
      bytes: Buffer.byteLength("a:1|c\nb:2|g") + Buffer.byteLength("café.orders:1|c|#city:Zürich"),
      oversized: 0,
      invalidUtf8: 0,
    });
  });

  test("drops and counts datagrams larger than maxDatagramBytes", async () => {
    const texts: string[] = [];
    const { source, sender } = await startSource((text) => texts.push(text), { maxDatagramBytes: 64 });
    await sender.send("big:" + "1".repeat(100) + "|c");
    await sender.send("small:1|c");
    await waitUntil(() => source.stats.datagrams === 2);
    expect(texts).toEqual(["small:1|c"]);
    expect(source.stats.oversized).toBe(1);
  });

  test("drops only the broken lines of a datagram that is not valid UTF-8", async () => {
    const texts: string[] = [];
    const { source, sender } = await startSource((text) => texts.push(text));
    const broken = Buffer.concat([
      Buffer.from("good.a:1|c\n"),
      Buffer.from([0x62, 0xff, 0x3a, 0x31, 0x7c, 0x63]), // "b\xff:1|c"
      Buffer.from("\nünïcode:2|g\n"),
      Buffer.from([0x63, 0xc3, 0x3a, 0x33, 0x7c, 0x63]), // truncated 2-byte sequence
    ]);
    await sender.send(broken);
    await sender.send(Buffer.from([0xc3, 0x28])); // nothing valid left: no delivery
    await sender.send("after:1|c");
    await waitUntil(() => source.stats.datagrams === 3);
    expect(texts).toEqual(["good.a:1|c\nünïcode:2|g", "after:1|c"]);
    expect(source.stats.invalidUtf8).toBe(2);
  });

  test("keeps receiving after the packet handler throws, and logs it as a bug", async () => {
    const logged: LoggedLine[] = [];
    const texts: string[] = [];
    const { sender } = await startSource(
      (text) => {
        if (text === "boom") throw new Error("handler bug");
        texts.push(text);
      },
      {},
      recordingLogger(logged),
    );
    await sender.send("boom");
    await sender.send("ok:1|c");
    await waitUntil(() => texts.length === 1);
    expect(texts).toEqual(["ok:1|c"]);
    expect(logged.filter((line) => line.level === "error")).toEqual([
      { level: "error", msg: "BUG: StatsD packet handler threw.", fields: { failures: 1, error: "Error: handler bug" } },
    ]);
  });

  test("asks for a 4 MiB receive buffer and logs what the kernel granted", async () => {
    const logged: LoggedLine[] = [];
    await startSource(() => {}, {}, recordingLogger(logged));
    const listening = logged.find((line) => line.msg === "StatsD source listening.");
    expect(listening?.fields).toMatchObject({ address: "127.0.0.1" });
    const granted = listening?.fields?.recvBufferBytes as number;
    if (process.platform === "linux") {
      // Linux caps SO_RCVBUF at net.core.rmem_max and reports double the value it stores.
      const rmemMax = Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8"));
      expect(granted).toBe(2 * Math.min(RECV_BUFFER_BYTES, rmemMax));
    } else {
      expect(granted).toBeGreaterThan(0);
    }
  });

  const hasIpv6Loopback = Object.values(networkInterfaces())
    .flat()
    .some((address) => address?.address === "::1");
  // Every machine of this project has ::1; a missing one fails loudly instead of skipping.
  test("listens on an IPv6 address given as [::1]:port", async () => {
    if (!hasIpv6Loopback) throw new Error("this machine has no IPv6 loopback (::1); the IPv6 listen test needs it");
    const texts: string[] = [];
    const { source, sender } = await startSource((text) => texts.push(text), { listen: "[::1]:0" });
    expect(source.address()).toMatchObject({ address: "::1" });
    await sender.send("v6:1|c");
    await waitUntil(() => texts.length === 1);
    expect(texts).toEqual(["v6:1|c"]);
  });

  test("fails start with LISTEN_FAILED when the port is taken, and can retry", async () => {
    const holder = createSocket("udp4");
    await new Promise<void>((resolve) => holder.bind(0, "127.0.0.1", () => resolve()));
    const { port } = holder.address();
    const source = createStatsdSource({ listen: `127.0.0.1:${port}` }, { log: silentLogger }, () => {});

    const first = await source.start();
    expect(first.ok).toBe(false);
    expect(!first.ok && first.error.code).toBe("LISTEN_FAILED");
    expect(!first.ok && first.error.message).toMatch(new RegExp(`^statsd: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    expect(source.isListening()).toBe(false);
    expect(source.address()).toBeUndefined();

    await new Promise<void>((resolve) => holder.close(() => resolve()));
    expect(await source.start()).toEqual({ ok: true, value: undefined });
    expect(source.address()).toEqual({ address: "127.0.0.1", port });
    await source.stop();
  });

  test.each([
    [{ listen: "nonsense" }, 'statsd.listen must be "host:port" or "[ipv6]:port" (got "nonsense")'],
    [{ listen: "127.0.0.1:0", maxDatagramBytes: 0 }, "statsd.maxDatagramBytes must be an integer in 1..65535 (got 0)"],
    [{ listen: "127.0.0.1:0", maxDatagramBytes: 70000 }, "statsd.maxDatagramBytes must be an integer in 1..65535 (got 70000)"],
  ])("fails start with a message naming the field: %j", async (config, message) => {
    const source = createStatsdSource(config, { log: silentLogger }, () => {});
    expect(await source.start()).toEqual({ ok: false, error: { code: "LISTEN_FAILED", message } });
  });

  test("stop closes the socket and a stopped source reports no address", async () => {
    const source = createStatsdSource({ listen: "127.0.0.1:0" }, { log: silentLogger }, () => {});
    await source.start();
    expect(source.isListening()).toBe(true);
    await source.stop();
    expect(source.isListening()).toBe(false);
    expect(source.address()).toBeUndefined();
    await source.stop(); // idempotent
  });
});

describe("with the hot-shots DogStatsD client", () => {
  test("receives counters, gauges, timings, histograms, distributions and sets with tags and rates", async () => {
    const calls: RecordedCall[] = [];
    const wire: string[] = [];
    const sink = recordingSink(calls);
    const { source } = await startSource((text) => {
      wire.push(...text.split("\n").filter((line) => line !== ""));
      parseStatsdPacket(text, sink);
    });
    const { port } = source.address()!;
    vi.spyOn(Math, "random").mockReturnValue(0); // every sampled call is sent
    const client = new StatsD({
      host: "127.0.0.1",
      port,
      protocol: "udp",
      datadog: true, // DogStatsD: |c: container id, |card: cardinality, |T timestamps
      containerID: "abc123",
      cardinality: "low",
      originDetection: false,
      includeDatadogTelemetry: false,
      includeDataDogTags: false,
      maxBufferSize: 1432, // several lines per datagram, like production senders
      bufferFlushInterval: 5,
      prefix: "game.",
      globalTags: { env: "test" },
      errorHandler: (error) => {
        throw error;
      },
    });

    client.increment("match.started");
    client.increment("match.kills", 3, 0.5, { weapon: "rail" });
    client.decrement("lobby.slots", 2, ["region:eu-west"]);
    client.gauge("players.online", 42, ["map:dust2"]);
    client.gaugeDelta("players.online", -3, ["map:dust2"]);
    client.gauge("server.fps", 143.5, { timestamp: new Date(1_700_000_000_000) });
    client.timing("tick.duration", 12.5, 0.25, ["shard:7"]);
    client.histogram("packet.size", 512, ["dir:in"]);
    client.distribution("match.length", 1800.25, 0.1);
    client.set("players.unique", "player-42", ["region:eu-west"]);
    client.unique("players.unique", 7);

    await waitUntil(() => calls.length === 11);
    await new Promise<void>((resolve) => client.close(() => resolve()));

    const tags = (extra = "") => (extra ? `env:test,${extra}` : "env:test");
    const line = (name: string, type: string, value: number, rawTags: string, rate = 1, delta = false) => ({
      name: `game.${name}`,
      tags: rawTags,
      type,
      value,
      rate,
      delta,
    });
    expect(calls).toEqual([
      line("match.started", "c", 1, tags()),
      line("match.kills", "c", 3, tags("weapon:rail"), 0.5),
      line("lobby.slots", "c", -2, tags("region:eu-west")),
      line("players.online", "g", 42, tags("map:dust2")),
      line("players.online", "g", -3, tags("map:dust2"), 1, true),
      line("server.fps", "g", 143.5, tags()),
      line("tick.duration", "ms", 12.5, tags("shard:7"), 0.25),
      line("packet.size", "h", 512, tags("dir:in")),
      line("match.length", "d", 1800.25, tags(), 0.1),
      { ...line("players.unique", "s", 0, tags("region:eu-west")), member: "player-42" },
      { ...line("players.unique", "s", 0, tags()), member: "7" },
    ]);
    // The DogStatsD sections the parser skips really were on the wire.
    expect(wire[0]).toBe("game.match.started:1|c|#env:test|c:abc123|card:low");
    expect(wire[5]).toBe("game.server.fps:143.5|g|T1700000000|#env:test|c:abc123|card:low");
    expect(source.stats.datagrams).toBeGreaterThanOrEqual(1);
    expect(source.stats.datagrams).toBeLessThan(11); // batched: several lines per datagram
  });
});
