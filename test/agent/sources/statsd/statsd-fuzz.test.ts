import { afterEach, describe, expect, test } from "vitest";
import {
  MAX_STATSD_LINE_CHARS,
  parseStatsdPacket,
  type StatsdErrorReason,
  type StatsdSink,
} from "../../../../agent/sources/statsd/statsd-parse";
import { createStatsdSource, type StatsdSource } from "../../../../agent/sources/statsd/statsd-source";
import { silentLogger } from "../../../../agent/core/deps";
import { recordCalls } from "./statsd-recorder";
import { createUdpSender, waitUntil, type UdpSender } from "./statsd-net";

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type GarbageKind = "random_bytes" | "broken_utf8" | "huge_line" | "pipe_storm" | "event" | "statsd_soup";

/** Garbage lines by kind. None contains "\n" except random_bytes and statsd_soup. */
function makeGarbage(random: () => number, kind: GarbageKind): Buffer {
  const int = (n: number) => Math.floor(random() * n);
  switch (kind) {
    case "random_bytes": {
      // Never starts with "_" so it cannot be an event; may hold "\n", "|", broken UTF-8.
      const bytes = Buffer.alloc(1 + int(300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      if (bytes[0] === 0x5f) bytes[0] = 0x2e;
      return bytes;
    }
    case "broken_utf8": {
      const broken = [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80], [0xc0, 0xaf]];
      return Buffer.concat([Buffer.from(`name${int(99)}:`), Buffer.from(broken[int(broken.length)]), Buffer.from("|c")]);
    }
    case "huge_line":
      return Buffer.from("h".repeat(MAX_STATSD_LINE_CHARS + 1 + int(50_000)) + ":1|c");
    case "pipe_storm": {
      let storm = "|";
      const length = int(400);
      for (let i = 0; i < length; i++) storm += "|:@#"[int(4)];
      return Buffer.from(storm);
    }
    case "event":
      return Buffer.from(random() < 0.5 ? `_e{5,4}:title|text|#k:${int(9)}` : `_sc|svc.${int(9)}|${int(4)}|m:down`);
    case "statsd_soup": {
      // Plausible fragments in random order: exercises every branch of the line parser.
      const parts = ["a", ".", ":", "1", "-", "+", "2.5", "e3", "|", "c", "g", "ms", "s", "h", "d", "@", "0.5", "#", "k:v", ",", "\r", "\n", "T", "x"];
      let soup = "";
      const length = 1 + int(30);
      for (let i = 0; i < length; i++) soup += parts[int(parts.length)];
      return Buffer.from(soup.startsWith("_") ? "x" + soup : soup);
    }
  }
}

const KINDS: GarbageKind[] = ["random_bytes", "broken_utf8", "huge_line", "pipe_storm", "event", "statsd_soup"];

interface Tally {
  reasons: Partial<Record<StatsdErrorReason, number>>;
  goodSeqs: number[];
  lines: number;
}

function tallyingSink(tally: Tally): StatsdSink {
  return {
    line(_key, name, rawTags) {
      tally.lines++;
      if (name === "fuzz.good") tally.goodSeqs.push(Number(rawTags.slice("seq:".length)));
    },
    error(reason) {
      tally.reasons[reason] = (tally.reasons[reason] ?? 0) + 1;
    },
  };
}

describe("StatsD fuzz", () => {
  let source: StatsdSource | undefined;
  let sender: UdpSender | undefined;
  afterEach(async () => {
    await sender?.close();
    await source?.stop();
    sender = undefined;
    source = undefined;
  });

  test("5,000 garbage datagrams over UDP: no throw, errors counted by reason, every good line received", async () => {
    const random = seededRandom(8125);
    const tally: Tally = { reasons: {}, goodSeqs: [], lines: 0 };
    const sink = tallyingSink(tally);
    source = createStatsdSource({ listen: "127.0.0.1:0" }, { log: silentLogger }, (text) => parseStatsdPacket(text, sink));
    expect((await source.start()).ok).toBe(true);
    sender = createUdpSender(source.address()!.port);

    const sentByKind: Record<GarbageKind, number> = {
      random_bytes: 0,
      broken_utf8: 0,
      huge_line: 0,
      pipe_storm: 0,
      event: 0,
      statsd_soup: 0,
    };
    let goodSent = 0;
    let sent = 0;
    for (let i = 0; i < 5000; i++) {
      // A garbage datagram, and every other time a good line shares the datagram with garbage.
      const kind = KINDS[Math.floor(random() * KINDS.length)];
      const garbage = makeGarbage(random, kind);
      sentByKind[kind]++;
      if (i % 2 === 0) {
        const good = Buffer.from(`fuzz.good:1|c|#seq:${goodSent++}`);
        const parts = random() < 0.5 ? [good, garbage] : [garbage, good];
        await sender.send(Buffer.concat([parts[0], Buffer.from("\n"), parts[1]]));
      } else {
        await sender.send(garbage);
      }
      sent++;
      // Pace the sender so the test checks the parser, not the kernel's receive buffer.
      if (sent % 100 === 0) await waitUntil(() => source!.stats.datagrams === sent);
    }
    await waitUntil(() => source!.stats.datagrams === sent);

    expect(source.stats.datagrams).toBe(5000);
    expect(tally.goodSeqs.sort((a, b) => a - b)).toEqual(Array.from({ length: goodSent }, (_, i) => i));
    expect(tally.reasons.line_too_long).toBe(sentByKind.huge_line);
    expect(tally.reasons.unsupported).toBe(sentByKind.event);
    expect(tally.reasons.bad_line).toBeGreaterThanOrEqual(sentByKind.pipe_storm);
    // Every broken_utf8 datagram is invalid; random bytes usually are too.
    expect(source.stats.invalidUtf8).toBeGreaterThanOrEqual(sentByKind.broken_utf8);
    expect(source.stats.invalidUtf8).toBeLessThanOrEqual(sentByKind.broken_utf8 + sentByKind.random_bytes);
    expect(source.stats.oversized).toBe(0);
    console.log("fuzz errors by reason:", JSON.stringify(tally.reasons), "invalidUtf8:", source.stats.invalidUtf8);
  });

  test("20,000 random packets: each line parses the same alone as inside its packet", () => {
    const random = seededRandom(20_000);
    for (let i = 0; i < 20_000; i++) {
      const lineCount = 1 + Math.floor(random() * 6);
      const lines: string[] = [];
      for (let j = 0; j < lineCount; j++) {
        const kind = KINDS[Math.floor(random() * KINDS.length)];
        const garbage = kind === "huge_line" ? "h".repeat(MAX_STATSD_LINE_CHARS + 1) : makeGarbage(random, kind).toString("utf8");
        lines.push(random() < 0.3 ? `ok.${j}:${j}|g|#i:${i}` : garbage);
      }
      const packet = lines.join(random() < 0.5 ? "\n" : "\r\n");
      // Reference split, independent of the parser: on "\n", skipping empty and "\r"-only lines.
      // Each line is parsed with its own "\n" so its "\r" (if any) is handled as in the packet.
      const alone = packet
        .split("\n")
        .filter((line) => line !== "" && line !== "\r")
        .map((line) => recordCalls(line + "\n"));
      for (const calls of alone) {
        const errors = calls.filter((call) => "error" in call).length;
        // A line is either values (one or more) or exactly one error.
        expect(errors === 1 ? calls.length : errors, JSON.stringify(packet)).toBe(errors === 1 ? 1 : 0);
        expect(calls.length).toBeGreaterThan(0);
      }
      expect(recordCalls(packet), JSON.stringify(packet)).toEqual(alone.flat());
    }
  });
});
