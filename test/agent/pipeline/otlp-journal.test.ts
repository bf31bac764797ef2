import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger, systemClock } from "../../../agent/core/deps";
import { OtlpJournal, type JournalFormat } from "../../../agent/pipeline/otlp-journal";

const deps = { clock: systemClock, log: silentLogger };

async function openJournal(dir: string): Promise<OtlpJournal> {
  const j = await OtlpJournal.open(dir, deps);
  if (!j.ok) throw new Error(j.error);
  return j.value;
}

async function replayAll(j: OtlpJournal, savedSeq: number): Promise<[string, JournalFormat][]> {
  const seen: [string, JournalFormat][] = [];
  await j.replay(savedSeq, (body, format) => seen.push([new TextDecoder().decode(body), format]));
  return seen;
}

describe("OTLP journal", () => {
  it("replays every request newer than the saved state, in order, with its format", async () => {
    const dir = mkdtempSync(join(tmpdir(), "journal-"));
    const j = await openJournal(dir);
    await j.replay(0, () => {});
    for (const [body, format] of [["a", "protobuf"], ["b", "json"], ["c", "protobuf"]] as const) {
      const r = await j.append(new TextEncoder().encode(body), format);
      if (!r.ok) throw new Error(r.error);
      j.markIngested(r.value.seq);
    }
    expect(j.includedSeq()).toBe(3);
    // Crash without close: a state saved at seq 1 means b and c must come back.
    const again = await openJournal(dir);
    expect(await replayAll(again, 1)).toEqual([["b", "json"], ["c", "protobuf"]]);
    expect(again.includedSeq()).toBe(3);
  });

  it("trims what a saved state covers, and keeps numbering after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "journal-"));
    const j = await openJournal(dir);
    await j.replay(0, () => {});
    for (const body of ["a", "b", "c", "d"]) {
      const r = await j.append(new TextEncoder().encode(body), "protobuf");
      if (r.ok) j.markIngested(r.value.seq);
    }
    await j.trim(2);
    await j.close();
    const again = await openJournal(dir);
    expect(await replayAll(again, 2)).toEqual([["c", "protobuf"], ["d", "protobuf"]]);
    const next = await again.append(new TextEncoder().encode("e"), "protobuf");
    expect(next.ok && next.value.seq).toBe(5);
    again.markIngested(5);
    await again.trim(5);
    await again.close();
    const empty = await openJournal(dir);
    expect(await replayAll(empty, 5)).toEqual([]);
  });

  it("skips records a saved state already holds when the crash came between saving and trimming", async () => {
    const dir = mkdtempSync(join(tmpdir(), "journal-"));
    const j = await openJournal(dir);
    await j.replay(0, () => {});
    for (const body of ["a", "b"]) {
      const r = await j.append(new TextEncoder().encode(body), "protobuf");
      if (r.ok) j.markIngested(r.value.seq);
    }
    // state saved with journalSeq 2, crash before trim(2)
    const again = await openJournal(dir);
    expect(await replayAll(again, 2)).toEqual([]);
  });

  it("counts only contiguously aggregated requests as included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "journal-"));
    const j = await openJournal(dir);
    await j.replay(0, () => {});
    const a = await j.append(new TextEncoder().encode("a"), "protobuf");
    const b = await j.append(new TextEncoder().encode("b"), "protobuf");
    if (!a.ok || !b.ok) throw new Error("append failed");
    j.markIngested(b.value.seq);
    expect(j.includedSeq()).toBe(0);
    j.markIngested(a.value.seq);
    expect(j.includedSeq()).toBe(2);
  });
});
