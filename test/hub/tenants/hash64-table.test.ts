import { expect, test } from "vitest";
import { Hash64 } from "../../../hub/tenants/hash64";
import { Hash64Table, slotsFor } from "../../../hub/tenants/hash64-table";

/** A small deterministic PRNG (mulberry32), so failures replay. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("hash64 is stable: the same halves for the same key, across calls and runtimes", () => {
  const h = new Hash64();
  h.hash('http_requests_total{code="200",host="a"}');
  // Pinned values: a change here breaks dedupe files written by an older hub.
  expect([h.hi, h.lo]).toMatchInlineSnapshot(`
    [
      196673336,
      3150554188,
    ]
  `);
  h.hash("");
  expect(h.lo).not.toBe(0);
});

test("hash64 has no collisions over a million distinct series-like keys", () => {
  const h = new Hash64();
  const seen = new Set<string>();
  for (let i = 0; i < 1_000_000; i++) {
    h.hash(`game_players{region="eu-${i % 7}",shard="${i}"}`);
    seen.add(`${h.hi}:${h.lo}`);
  }
  expect(seen.size).toBe(1_000_000);
});

test("inserts, finds and removes exactly like a Set under random churn (backward-shift removal)", () => {
  const random = prng(42);
  // Small table, high load: long probe chains and wrap-around at the end of the array.
  const table = new Hash64Table(64, slotsFor(48), true);
  const model = new Map<string, number>();
  const key = (hi: number, lo: number) => `${hi}:${lo}`;
  for (let step = 0; step < 100_000; step++) {
    // Few distinct low bits so many keys share a home slot.
    const hi = Math.floor(random() * 8);
    const lo = 1 + Math.floor(random() * 64);
    const i = table.find(hi, lo);
    if (i >= 0 !== model.has(key(hi, lo))) throw new Error(`step ${step}: find(${hi}, ${lo}) = ${i}, model says ${model.has(key(hi, lo))}`);
    if (i >= 0) {
      if (table.valueAt(i) !== model.get(key(hi, lo))) throw new Error(`step ${step}: value of ${hi}:${lo} lost`);
      if (random() < 0.5) {
        table.removeAt(i);
        model.delete(key(hi, lo));
      }
    } else if (model.size < 48) {
      table.insert(hi, lo, step);
      model.set(key(hi, lo), step);
    }
    if (table.size !== model.size) throw new Error(`step ${step}: size ${table.size}, model ${model.size}`);
  }
  for (const k of model.keys()) {
    const [hi, lo] = k.split(":").map(Number);
    expect(table.find(hi, lo)).toBeGreaterThanOrEqual(0);
  }
});

test("grows by doubling up to its maximum and no further", () => {
  const table = new Hash64Table(16, slotsFor(1000), false);
  for (let k = 1; k <= 1000; k++) table.insert(k, k * 7919, 0);
  expect(table.slots).toBe(slotsFor(1000));
  expect(table.slots * 0.75).toBeGreaterThanOrEqual(1000);
  expect(table.bytes).toBe(table.slots * 8);
  for (let k = 1; k <= 1000; k++) expect(table.find(k, k * 7919)).toBeGreaterThanOrEqual(0);
});
