import { describe, expect, it } from "vitest";
import { fakeClock } from "../../../agent/core/deps";
import { digestOtlpRequest, OtlpDedupe } from "../../../agent/pipeline/otlp-dedupe";

const bytes = (s: string) => new TextEncoder().encode(s);
const MINUTE = 60_000;

async function accept(d: OtlpDedupe, digest: string): Promise<void> {
  const a = await d.admit(digest);
  if (a.duplicate) throw new Error(`${digest} was taken as a duplicate`);
  a.settle(true);
}

describe("digestOtlpRequest", () => {
  it("is 128 bits of SHA-256 over the format byte and the body", () => {
    const a = digestOtlpRequest(bytes("body"), "protobuf");
    expect(a).toHaveLength(24);
    expect(Buffer.from(a, "base64")).toHaveLength(16);
    expect(digestOtlpRequest(bytes("body"), "protobuf")).toBe(a);
    expect(digestOtlpRequest(bytes("body"), "json")).not.toBe(a);
    expect(digestOtlpRequest(bytes("bodz"), "protobuf")).not.toBe(a);
  });
});

describe("OtlpDedupe", () => {
  it("takes a request identical to an accepted one as a duplicate for 10 minutes, then as new", async () => {
    const clock = fakeClock();
    const d = new OtlpDedupe(clock);
    const x = digestOtlpRequest(bytes("x"), "protobuf");
    await accept(d, x);
    clock.advance(10 * MINUTE);
    expect((await d.admit(x)).duplicate).toBe(true);
    expect(d.duplicates).toBe(1);
    clock.advance(1);
    const later = await d.admit(x);
    expect(later.duplicate).toBe(false);
  });

  it("does not remember a request that was not accepted (its retry is new)", async () => {
    const d = new OtlpDedupe(fakeClock());
    const first = await d.admit("AAAAAAAAAAAAAAAAAAAAAA==");
    if (first.duplicate) throw new Error("unexpected");
    first.settle(false);
    expect((await d.admit("AAAAAAAAAAAAAAAAAAAAAA==")).duplicate).toBe(false);
  });

  it("makes a retry wait for the identical request in flight and follows its outcome", async () => {
    const d = new OtlpDedupe(fakeClock());
    const digest = digestOtlpRequest(bytes("slow fsync"), "json");
    const first = await d.admit(digest);
    if (first.duplicate) throw new Error("unexpected");
    let retryOutcome: boolean | undefined;
    const retry = d.admit(digest).then((a) => (retryOutcome = a.duplicate));
    await Promise.resolve();
    expect(retryOutcome).toBeUndefined(); // still waiting for the first one
    first.settle(true);
    await retry;
    expect(retryOutcome).toBe(true);

    // When the one in flight fails (503), the waiting retry goes ahead as new.
    const other = digestOtlpRequest(bytes("journal full"), "json");
    const a = await d.admit(other);
    if (a.duplicate) throw new Error("unexpected");
    const b = d.admit(other);
    a.settle(false);
    expect((await b).duplicate).toBe(false);
  });

  it("keeps at most maxEntries, forgetting the oldest first", async () => {
    const d = new OtlpDedupe(fakeClock(), { windowMs: 10 * MINUTE, maxEntries: 3 });
    const digests = ["a", "b", "c", "d"].map((s) => digestOtlpRequest(bytes(s), "protobuf"));
    for (const x of digests) await accept(d, x);
    expect(d.size).toBe(3);
    expect(d.snapshot().map(([x]) => x)).toEqual(digests.slice(1));
    expect((await d.admit(digests[0])).duplicate).toBe(false);
  });

  it("saves and restores its window, oldest first, skipping damaged entries and expired ones", async () => {
    const clock = fakeClock();
    const d = new OtlpDedupe(clock);
    const [a, b, c] = ["a", "b", "c"].map((s) => digestOtlpRequest(bytes(s), "protobuf"));
    await accept(d, a);
    clock.advance(MINUTE);
    await accept(d, b);
    const saved = d.snapshot();
    expect(saved).toEqual([
      [a, clock.nowMs() - MINUTE],
      [b, clock.nowMs()],
    ]);

    const restarted = new OtlpDedupe(clock);
    const skipped = restarted.restore([...saved, ["short", 1], [c, "soon"], null, [c, clock.nowMs() - 11 * MINUTE]]);
    expect(skipped).toBe(3);
    expect(restarted.size).toBe(2); // c was accepted 11 minutes ago: outside the window
    expect((await restarted.admit(a)).duplicate).toBe(true);
    expect((await restarted.admit(b)).duplicate).toBe(true);
    expect((await restarted.admit(c)).duplicate).toBe(false);
  });

  it("merges journal entries into restored ones, keeping the earlier accept time", () => {
    const clock = fakeClock();
    const d = new OtlpDedupe(clock);
    const a = digestOtlpRequest(bytes("a"), "protobuf");
    const b = digestOtlpRequest(bytes("b"), "protobuf");
    d.restore([[b, clock.nowMs() - 2000]]);
    d.restore([
      [a, clock.nowMs() - 5000],
      [b, clock.nowMs() - 1000],
    ]);
    expect(d.snapshot()).toEqual([
      [a, clock.nowMs() - 5000],
      [b, clock.nowMs() - 2000],
    ]);
  });
});
