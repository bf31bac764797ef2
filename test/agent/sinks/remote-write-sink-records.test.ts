/**
 * What the sink counts and sends per record: samples delivered (2xx) and dropped (4xx) from the
 * record id's `#<samples>`, the batch id header without it (stable across retries), and the
 * hooks the hub uses (extraHeaders, recordHeaders, authorize, onResponse).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../../agent/core/deps";
import {
  createRemoteWriteSink,
  formatRecordId,
  parseRecordId,
  type OutgoingRequest,
  type RemoteWriteSink,
  type RemoteWriteSinkConfig,
} from "../../../agent/sinks/remote-write/remote-write-sink";
import type { DiskQueue } from "../../../agent/queue/disk-queue";
import { snappyCompress } from "../../../agent/codec/snappy-compress";
import snappy from "snappyjs";
import { fakeTimerClock, memoryQueue, scriptedFetch, type Answer, type SeenRequest } from "./sink-test-doubles";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

async function setup(records: [string, number][], script: (req: Omit<SeenRequest, "status">) => Answer, opts: Partial<RemoteWriteSinkConfig> = {}) {
  const queue = memoryQueue();
  for (const [batchId, samples] of records) await queue.append(new TextEncoder().encode(batchId), { id: formatRecordId(batchId, samples) });
  const { fetch, seen } = scriptedFetch(script);
  const sink = createRemoteWriteSink(
    {
      name: "records",
      url: "http://store.test/api/v1/write",
      userAgent: "edge-agent/test",
      timeoutMs: 30_000,
      maxRequestsPerSec: 100,
      retry: { baseMs: 10, capMs: 100, maxRetryAfterMs: 1000 },
      ...opts,
    },
    { clock: fakeTimerClock, log: silentLogger, queue, fetch, random: () => 0.5 },
  );
  sink.start();
  const stop = () => stopSink(sink);
  return { queue, sink, seen, stop };
}

describe("record ids", () => {
  it.each([
    ["host:1700000000000:3:0#120", { batchId: "host:1700000000000:3:0", samples: 120 }],
    ["host:1700000000000:3:0", { batchId: "host:1700000000000:3:0", samples: 0 }], // written before the count was carried
    ["we#ird:1:2:3#7", { batchId: "we#ird:1:2:3", samples: 7 }],
    ["we#ird:1:2:3", { batchId: "we#ird:1:2:3", samples: 0 }],
    ["tenant|host:1:2:3", { batchId: "tenant|host:1:2:3", samples: 0 }], // the hub's ids
  ])("parses %s", (id, expected) => {
    expect(parseRecordId(id)).toEqual(expected);
  });

  it("round-trips formatRecordId", () => {
    expect(parseRecordId(formatRecordId("h:1:0:2", 42))).toEqual({ batchId: "h:1:0:2", samples: 42 });
  });
});

describe("remote-write sink: samples sent and dropped", () => {
  it("counts the samples of batches answered 2xx as sent and of batches rejected 4xx as dropped", async () => {
    let n = 0;
    const script = (req: Omit<SeenRequest, "status">): Answer => {
      n++;
      if (req.batchId === "b:2") return 400;
      if (req.batchId === "b:1" && n === 1) return 503; // retried: counted once, when it succeeds
      return 204;
    };
    const t = await setup([["b:1", 10], ["b:2", 5], ["b:3", 7]], script);
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.queue.stats().recordsPending).toBe(0);
    expect(t.sink.stats.samplesSent).toBe(17);
    expect(t.sink.stats.samplesDropped).toBe(5);
    expect(t.sink.stats.delivered).toBe(2);
    expect(t.sink.stats.dropped).toBe(1);
    // The batch id header is the id without its sample count, the same on the retry.
    expect(t.seen.map((r) => r.batchId)).toEqual(["b:1", "b:1", "b:2", "b:3"]);
    await t.stop();
  });
});

describe("remote-write sink: hooks", () => {
  it("adds extra and per-record headers, signs the final request, and reports every response", async () => {
    const signed: OutgoingRequest[] = [];
    const responses: [number, string | null][] = [];
    let n = 0;
    const t = await setup([["tenant-a|b:1", 3]], () => (++n === 1 ? { status: 503, headers: { "x-hub": "busy" } } : 204), {
      bearerToken: "s3cret",
      extraHeaders: () => ({ "x-scope-orgid": "fleet-1" }),
      recordHeaders: (id) => ({ "x-tenant": id.split("|")[0] }),
      authorize: async (req) => {
        signed.push(req);
        return { authorization: "AWS4-HMAC-SHA256 sig", "x-amz-date": "20240101T000000Z" };
      },
      onResponse: (status, headers) => responses.push([status, headers.get("x-hub")]),
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.queue.stats().recordsPending).toBe(0);
    const h = t.seen[1].headers;
    expect(h["x-scope-orgid"]).toBe("fleet-1");
    expect(h["x-tenant"]).toBe("tenant-a");
    expect(h["x-edge-agent-batch-id"]).toBe("tenant-a|b:1");
    expect(h.authorization).toBe("AWS4-HMAC-SHA256 sig"); // authorize's headers come last
    expect(h["x-amz-date"]).toBe("20240101T000000Z");
    expect(h["content-encoding"]).toBe("snappy");
    // authorize saw the request as it was about to go out (every other header, the body, the URL).
    expect(signed[0]).toMatchObject({ url: "http://store.test/api/v1/write", method: "POST", headers: { "x-tenant": "tenant-a", authorization: "Bearer s3cret" } });
    expect(new TextDecoder().decode(signed[0].body)).toBe("tenant-a|b:1");
    expect(responses).toEqual([
      [503, "busy"],
      [204, null],
    ]);
    await t.stop();
  });

  it("keeps the record queued and retries when authorize fails", async () => {
    let calls = 0;
    const t = await setup([["b:1", 1]], () => 204, {
      authorize: async () => {
        if (++calls === 1) throw new Error("no credentials yet");
        return {};
      },
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.queue.stats().recordsPending).toBe(0);
    expect(t.sink.stats.retries).toBe(1);
    expect(t.sink.stats.lastError).toBe("authorize: no credentials yet");
    expect(Object.fromEntries(t.sink.stats.requestsByStatus)).toEqual({ authorize_error: 1, "204": 1 });
    expect(t.seen).toHaveLength(1);
    await t.stop();
  });
});

/** A started sink that joins up to `mergeRecords` waiting records per request (as the hub's do). */
function startMergingSink(name: string, mergeRecords: number, queue: DiskQueue, fetch: typeof globalThis.fetch): RemoteWriteSink {
  const sink = createRemoteWriteSink(
    { name, url: "http://store.test/api/v1/write", userAgent: "t", timeoutMs: 30_000, maxRequestsPerSec: 100, retry: { baseMs: 10, capMs: 100, maxRetryAfterMs: 1000 }, mergeRecords },
    { clock: fakeTimerClock, log: silentLogger, queue, fetch, random: () => 0.5 },
  );
  sink.start();
  return sink;
}

async function stopSink(sink: RemoteWriteSink): Promise<void> {
  const stopped = sink.stop();
  await vi.runOnlyPendingTimersAsync();
  await stopped;
}

/** A record payload as a sender writes it (one Snappy block), and a request body read back. */
const snappyText = (text: string) => snappyCompress(new TextEncoder().encode(text));
const bodyText = (body: Uint8Array) => new TextDecoder().decode(snappy.uncompress(body));

describe("remote-write sink: merging waiting records (the hub's forwarders)", () => {
  it("sends waiting records as one request of joined Snappy blocks, acks them together, counts their samples", async () => {
    const queue = memoryQueue();
    const parts = ["alpha-", "beta-", "gamma"];
    for (let i = 0; i < parts.length; i++) await queue.append(snappyText(parts[i]), { id: formatRecordId(`t|b:${i}`, 10 + i) });
    const { fetch, seen } = scriptedFetch(() => 204);
    const sink = startMergingSink("merge", 64, queue, fetch);
    await vi.advanceTimersByTimeAsync(500);
    expect(seen).toHaveLength(1);
    expect(bodyText(seen[0].body)).toBe("alpha-beta-gamma");
    expect(seen[0].batchId).toBe("t|b:0+2");
    expect(queue.stats().recordsPending).toBe(0);
    expect(sink.stats.samplesSent).toBe(33);
    await stopSink(sink);
  });
});

describe("remote-write sink: a refused merged request", () => {
  it("is split: its records go one by one, and only the one the store refuses is dropped", async () => {
    const queue = memoryQueue();
    for (const part of ["good1", "BAD", "good2"]) await queue.append(snappyText(part), { id: formatRecordId(`t|${part}`, 1) });
    // Like Prometheus on an out-of-order sample: the whole request is refused.
    const { fetch, seen } = scriptedFetch((req) => (bodyText(req.body).includes("BAD") ? 400 : 204));
    const sink = startMergingSink("split", 64, queue, fetch);
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen.map((r) => [bodyText(r.body), r.status])).toEqual([
      ["good1BADgood2", 400],
      ["good1", 204],
      ["BAD", 400],
      ["good2", 204],
    ]);
    expect(sink.stats.samplesSent).toBe(2);
    expect(sink.stats.samplesDropped).toBe(1);
    expect(sink.stats.mergedSplits).toBe(1);
    expect(queue.stats().recordsPending).toBe(0);
    await stopSink(sink);
  });
});

describe("remote-write sink: acknowledgements behind the sends, reading ahead (the hub's forwarders)", () => {
  /** A memory queue whose acks wait until `open()`; counts ack calls. */
  async function gatedQueue(parts: string[]) {
    const queue = memoryQueue();
    for (const part of parts) await queue.append(snappyText(part), { id: formatRecordId(`t|${part}`, 1) });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const acks: number[] = [];
    const ack = queue.ack.bind(queue);
    queue.ack = async (upTo) => {
      acks.push(upTo);
      await gate;
      return ack(upTo);
    };
    return { queue, acks, open: release };
  }

  it("sends the next request while the previous one's ack is still being written, then acks up to the last", async () => {
    const { queue, acks, open } = await gatedQueue(["a", "b", "c", "d", "e", "f"]);
    const { fetch, seen } = scriptedFetch(() => 204);
    const sink = startMergingSink("behind", 2, queue, fetch);
    await vi.advanceTimersByTimeAsync(500);
    // All three requests went out although no ack has finished yet.
    expect(seen.map((r) => bodyText(r.body))).toEqual(["ab", "cd", "ef"]);
    expect(queue.stats().ackOffset).toBe(0);
    expect(acks).toHaveLength(1); // one ack in flight; the later ones wait and are joined
    open();
    await vi.advanceTimersByTimeAsync(100);
    expect([queue.stats().recordsPending, queue.stats().ackOffset]).toEqual([0, queue.stats().endOffset]);
    expect(acks).toHaveLength(2); // the first record's end, then straight to the last one's
    expect(sink.stats.samplesSent).toBe(6);
    await stopSink(sink);
  });

  it("drops what it read ahead when a send fails: the failed records go again, in order", async () => {
    const { queue, open } = await gatedQueue(["a", "b", "c", "d"]);
    open();
    let failures = 1;
    const { fetch, seen } = scriptedFetch(() => (failures-- > 0 ? 503 : 204));
    const sink = startMergingSink("retry", 2, queue, fetch);
    await vi.advanceTimersByTimeAsync(2000);
    expect(seen.map((r) => [bodyText(r.body), r.status])).toEqual([
      ["ab", 503],
      ["ab", 204],
      ["cd", 204],
    ]);
    expect(queue.stats().recordsPending).toBe(0);
    await stopSink(sink);
  });

  it("stop() waits for the ack in flight", async () => {
    const { queue, open } = await gatedQueue(["a", "b"]);
    const { fetch } = scriptedFetch(() => 204);
    const sink = startMergingSink("stop", 2, queue, fetch);
    await vi.advanceTimersByTimeAsync(500);
    let stopped = false;
    const stopping = sink.stop().then(() => (stopped = true));
    await vi.runOnlyPendingTimersAsync();
    expect(stopped).toBe(false);
    open();
    await vi.runOnlyPendingTimersAsync();
    await stopping;
    expect([stopped, queue.stats().recordsPending]).toEqual([true, 0]);
  });
});
