/**
 * The label sets a remote-write request carries, validated once per series and kept encoded.
 *
 * A series' labels are its own labels plus the agent's identity labels (the series wins on a
 * clash) plus `__name__`, with empty values dropped (Prometheus treats "" as absent), sorted by
 * byte order (names are ASCII, so UTF-16 order is byte order; `__name__` is not always first:
 * names starting with A–Z sort before it), no duplicates. Metric names must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; a series label may not be called
 * `__name__`.
 *
 * A template holds the labels as encoded `TimeSeries.labels` fields (tag 0x0a, length,
 * Label{name=1, value=2}) in one array, so a series' labels are written with one byte copy.
 * Classic histograms need the same labels under other names (`x_bucket`, `x_sum`, `x_count`)
 * and with `le`; `__name__` always sorts before `le`, so they are written as three runs of the
 * same array around those two labels: before (< "__name__") · __name__ · between · le · after.
 *
 * Templates are cached per encoder by series identity (label-set-map.ts: no key string is built,
 * which matters because Aggregator.snapshot() hands out fresh label arrays every flush), in two
 * generations that drop series unseen for 8–16 flushes; so steady-state flushes do no sorting,
 * validation or string encoding. A template remembers the identity labels it was built for and
 * is rebuilt when they change.
 */
import { utf8Length, varintSize } from "../../codec/protobuf-writer";
import { LabelSetMap } from "./label-set-map";
import { formatLe } from "./le-format";

export const METRIC_NAME_LABEL = "__name__";
export const BUCKET_LABEL = "le";

const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** `le` encodings kept per encoder; cleared when it grows past this. */
const MAX_CACHED_BOUNDS = 10_000;
/** Flushes per cache generation: a template unused for 8–16 flushes is dropped. */
const GENERATION_FLUSHES = 8;

const TAG_LABELS = 0x0a; // TimeSeries.labels = 1, length-delimited
const TAG_LABEL_NAME = 0x0a; // Label.name = 1
const TAG_LABEL_VALUE = 0x12; // Label.value = 2

export type LabelPair = readonly [string, string];

/** The identity labels of one flush, validated and sorted. */
export interface IdentityLabels {
  /** Non-empty pairs sorted by name. */
  pairs: readonly LabelPair[];
  /** Stable text of `pairs`, to tell whether a cached template was built for the same identity. */
  key: string;
}

export interface LabelTemplate {
  name: string;
  identityKey: string;
  /** Why the series cannot be sent; `all` is empty then. */
  invalid?: string;
  /** Every label field, `__name__` = name included: what a sample or native histogram carries. */
  all: Uint8Array;
  /** Where in `all` the `__name__` field starts and ends, and where an own `le` field would sit. */
  nameStart: number;
  nameEnd: number;
  leStart: number;
  leEnd: number;
  /** The series has its own `le` label, so it cannot be sent as classic buckets. */
  hasOwnLe: boolean;
  /** Label runs of the classic-histogram series, built on first use. */
  classic?: ClassicLabelRuns;
}

/** A classic histogram's series labels: before · `__name__` · between · `le` · after. */
export interface ClassicLabelRuns {
  before: Uint8Array;
  between: Uint8Array;
  after: Uint8Array;
  bucketName: Uint8Array;
  sumName: Uint8Array;
  countName: Uint8Array;
}

/** Validates and sorts identity labels; the error names the label. */
export function prepareIdentityLabels(identity: readonly LabelPair[]): { ok: true; value: IdentityLabels } | { ok: false; message: string } {
  const pairs: LabelPair[] = [];
  for (const [name, value] of identity) {
    if (!LABEL_NAME_PATTERN.test(name)) return { ok: false, message: `identity label name ${JSON.stringify(name)} is not a valid Prometheus label name` };
    if (name === METRIC_NAME_LABEL || name === BUCKET_LABEL) {
      return { ok: false, message: `identity label name ${JSON.stringify(name)} is reserved for the remote-write encoder` };
    }
    if (value !== "") pairs.push([name, value]);
  }
  pairs.sort(compareByName);
  for (let i = 1; i < pairs.length; i++) {
    if (pairs[i][0] === pairs[i - 1][0]) return { ok: false, message: `identity label ${JSON.stringify(pairs[i][0])} is given twice` };
  }
  return { ok: true, value: { pairs, key: JSON.stringify(pairs) } };
}

export class LabelTemplates {
  /** Templates by series identity, in two generations (see endFlush). */
  private current = new LabelSetMap<LabelTemplate>();
  private previous = new LabelSetMap<LabelTemplate>();
  private flushesInGeneration = 0;
  private readonly leByBound = new Map<number, Uint8Array>();
  /** Templates built (cache misses) since the counter was last read. */
  private built = 0;

  /** Returns and resets the number of templates built since the last call. */
  takeBuiltCount(): number {
    const n = this.built;
    this.built = 0;
    return n;
  }

  /** The template of series `name` + `labels` under `identity`, built on first use. */
  templateOf(name: string, labels: readonly LabelPair[], identity: IdentityLabels): LabelTemplate {
    let t = this.current.get(name, labels);
    if (t === undefined) {
      t = this.previous.get(name, labels);
      if (t !== undefined) this.current.set(name, labels, t);
    }
    if (t !== undefined && t.identityKey === identity.key) return t;
    t = buildTemplate(name, labels, identity);
    this.built++;
    this.current.set(name, labels, t);
    return t;
  }

  /**
   * Called after each flush. Every GENERATION_FLUSHES flushes the older generation is dropped,
   * so templates of series not seen for that long are freed (and rebuilt if they come back).
   */
  endFlush(): void {
    if (++this.flushesInGeneration < GENERATION_FLUSHES) return;
    this.previous = this.current;
    this.current = new LabelSetMap();
    this.flushesInGeneration = 0;
  }

  /** The encoded `le` label field of an upper bound. */
  leField(bound: number): Uint8Array {
    let field = this.leByBound.get(bound);
    if (field === undefined) {
      if (this.leByBound.size >= MAX_CACHED_BOUNDS) this.leByBound.clear();
      field = encodeLabelField(BUCKET_LABEL, formatLe(bound));
      this.leByBound.set(bound, field);
    }
    return field;
  }
}

/** The template's label runs for classic-histogram series (cached on the template). */
export function classicRunsOf(t: LabelTemplate): ClassicLabelRuns {
  return (t.classic ??= {
    before: t.all.subarray(0, t.nameStart),
    between: t.all.subarray(t.nameEnd, t.leStart),
    after: t.all.subarray(t.leEnd),
    bucketName: encodeLabelField(METRIC_NAME_LABEL, `${t.name}_bucket`),
    sumName: encodeLabelField(METRIC_NAME_LABEL, `${t.name}_sum`),
    countName: encodeLabelField(METRIC_NAME_LABEL, `${t.name}_count`),
  });
}

/** One `TimeSeries.labels` field: tag, length, Label{name, value}. */
export function encodeLabelField(name: string, value: string): Uint8Array {
  const size = labelFieldSize(name, value);
  const out = new Uint8Array(size);
  const end = writeLabelField(out, 0, name, value);
  if (end !== size) throw new Error(`BUG: label field took ${end} bytes, ${size} computed`);
  return out;
}

function buildTemplate(name: string, labels: readonly LabelPair[], identity: IdentityLabels): LabelTemplate {
  const invalid = (reason: string): LabelTemplate => ({
    name,
    identityKey: identity.key,
    invalid: reason,
    all: new Uint8Array(0),
    nameStart: 0,
    nameEnd: 0,
    leStart: 0,
    leEnd: 0,
    hasOwnLe: false,
  });
  if (!METRIC_NAME_PATTERN.test(name)) return invalid(`metric name ${JSON.stringify(name)} is not a valid Prometheus name`);
  const own = labels.filter((l) => l[1] !== "");
  if (!isSortedByName(own)) own.sort(compareByName);
  for (let i = 0; i < own.length; i++) {
    const labelName = own[i][0];
    if (!LABEL_NAME_PATTERN.test(labelName)) return invalid(`label name ${JSON.stringify(labelName)} is not a valid Prometheus label name`);
    if (labelName === METRIC_NAME_LABEL) return invalid(`label name "${METRIC_NAME_LABEL}" is reserved`);
    if (i > 0 && own[i - 1][0] === labelName) return invalid(`label ${JSON.stringify(labelName)} is given twice`);
  }
  const merged = mergeSeriesWins(own, identity.pairs);
  let nameAt = 0;
  while (nameAt < merged.length && merged[nameAt][0] < METRIC_NAME_LABEL) nameAt++;
  merged.splice(nameAt, 0, [METRIC_NAME_LABEL, name]);

  let size = 0;
  for (const [labelName, value] of merged) size += labelFieldSize(labelName, value);
  const all = new Uint8Array(size);
  let at = 0;
  let nameStart = 0;
  let nameEnd = 0;
  let leStart = -1;
  let leEnd = -1;
  for (let i = 0; i < merged.length; i++) {
    const [labelName, value] = merged[i];
    if (leStart < 0 && labelName >= BUCKET_LABEL) leStart = at;
    if (i === nameAt) nameStart = at;
    at = writeLabelField(all, at, labelName, value);
    if (i === nameAt) nameEnd = at;
    if (labelName === BUCKET_LABEL) leEnd = at;
  }
  if (at !== size) throw new Error(`BUG: labels took ${at} bytes, ${size} computed`);
  if (leStart < 0) leStart = size;
  if (leEnd < 0) leEnd = leStart; // no own `le`: the classic `le` goes in at leStart
  return { name, identityKey: identity.key, all, nameStart, nameEnd, leStart, leEnd, hasOwnLe: leEnd > leStart };
}

/** Bytes of one encoded label field. */
function labelFieldSize(name: string, value: string): number {
  const inner = stringFieldSize(utf8Length(name)) + stringFieldSize(utf8Length(value));
  return 1 + varintSize(inner) + inner;
}

function stringFieldSize(byteLength: number): number {
  return 1 + varintSize(byteLength) + byteLength;
}

/** Writes one label field at `at`; returns the end position. */
function writeLabelField(out: Uint8Array, at: number, name: string, value: string): number {
  const nameBytes = utf8Length(name);
  const valueBytes = utf8Length(value);
  at = putTagAndLength(out, at, TAG_LABELS, stringFieldSize(nameBytes) + stringFieldSize(valueBytes));
  at = putString(out, putTagAndLength(out, at, TAG_LABEL_NAME, nameBytes), name, nameBytes);
  return putString(out, putTagAndLength(out, at, TAG_LABEL_VALUE, valueBytes), value, valueBytes);
}

function putTagAndLength(out: Uint8Array, at: number, tag: number, length: number): number {
  out[at++] = tag;
  let v = length;
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

const textEncoder = new TextEncoder();

function putString(out: Uint8Array, at: number, s: string, byteLength: number): number {
  if (byteLength === s.length) {
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
    return at;
  }
  return at + textEncoder.encodeInto(s, out.subarray(at, at + byteLength)).written;
}

/** Merges two name-sorted lists; on equal names the first list's pair is kept. */
function mergeSeriesWins(series: readonly LabelPair[], identity: readonly LabelPair[]): LabelPair[] {
  const out: LabelPair[] = [];
  let i = 0;
  let j = 0;
  while (i < series.length || j < identity.length) {
    if (j >= identity.length || (i < series.length && series[i][0] <= identity[j][0])) {
      if (j < identity.length && series[i][0] === identity[j][0]) j++;
      out.push(series[i++]);
    } else {
      out.push(identity[j++]);
    }
  }
  return out;
}

function compareByName(a: LabelPair, b: LabelPair): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function isSortedByName(pairs: readonly LabelPair[]): boolean {
  for (let i = 1; i < pairs.length; i++) if (pairs[i - 1][0] > pairs[i][0]) return false;
  return true;
}
