/**
 * StatsD / DogStatsD line protocol → sink calls (PROTOCOLS.md §4).
 *
 * Wire format, one metric per line, several lines per datagram:
 *
 *   <name>:<value>[:<value>…]|<type>[|@<rate>][|#<tags>][|c:…][|T…][|e:…][|card:…]
 *
 * Lines are separated by "\n" ("\r\n" tolerated, empty lines skipped). Every line is parsed on
 * its own: a bad line produces exactly one `error()` call and never affects the lines around it.
 * A line that is good produces one `line()` call per value (DogStatsD value packing), all or
 * nothing: if one packed value is bad, the whole line is a `bad_value` error.
 *
 * This sits on the hottest path of the agent (millions of lines per second), so the scanner
 * finds delimiters with native indexOf() over the whole packet and works on index ranges: no
 * regexes, no split(), no per-line arrays. Per good line it allocates only the name and tag
 * slices and the key; numbers are parsed from the characters directly, falling back to
 * Number() only for unusual forms (exponents, more than 15 digits).
 *
 * The per-line `key` (name + "\u0000" + raw tags, exactly as sent) lets the caller cache the
 * per-series work that does not depend on the value: tag parsing, name sanitising, policy.
 * A name containing NUL is rejected (bad_line) so that the key is unambiguous.
 */

import type { Labels, PointValue } from "../../core/points";
import { err, ok, type Result } from "../../core/result";

export type StatsdType = "c" | "g" | "ms" | "h" | "d" | "s";

export type StatsdErrorReason =
  | "bad_line"
  | "bad_value"
  | "bad_type"
  | "bad_rate"
  | "bad_tags"
  | "line_too_long"
  | "unsupported";

export interface StatsdSink {
  /**
   * One parsed value. `key` = name + "\u0000" + rawTags (tags as sent), stable across lines.
   * `value` is 0 for sets, whose member is `setMember` (undefined for every other type).
   * `rate` is the validated `@rate` as sent (1 when absent), also for g and s, where
   * DogStatsD ignores it.
   */
  line(
    key: string,
    name: string,
    rawTags: string,
    type: StatsdType,
    value: number,
    rate: number,
    isDelta: boolean,
    setMember: string | undefined,
  ): void;
  /** One rejected line. `line` is the line as sent, cut to ERROR_LINE_MAX_CHARS. */
  error(reason: StatsdErrorReason, line: string): void;
}

/** Longest line accepted: the DogStatsD Agent's default packet buffer (dogstatsd_buffer_size). */
export const MAX_STATSD_LINE_CHARS = 8192;
/** Lines handed to `error()` are cut to this length so a garbage line cannot flood a log. */
export const ERROR_LINE_MAX_CHARS = 256;

const CR = 13;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const COLON = 58;
const AT = 64;
const HASH = 35;
const PIPE = 124;
const UNDERSCORE = 95;
const LOWER_C = 99;
const LOWER_D = 100;
const LOWER_G = 103;
const LOWER_H = 104;
const LOWER_M = 109;
const LOWER_S = 115;
const LOWER_E = 101;
const UPPER_E = 69;
const BRACE_OPEN = 123;

/** Exact powers of ten: a ≤15-digit integer divided by one of these rounds like Number(). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** Parses every line of one datagram, calling `out` once per value or rejected line. */
export function parseStatsdPacket(text: string, out: StatsdSink): void {
  const length = text.length;
  const delimiters = new DelimiterIndex(text);
  let start = 0;
  while (start < length) {
    let next = text.indexOf("\n", start);
    if (next === -1) next = length;
    let end = next;
    if (end > start && text.charCodeAt(end - 1) === CR) end--;
    if (end > start) parseStatsdLine(text, start, end, out, delimiters);
    start = next + 1;
  }
}

/**
 * Native indexOf() for ':' and '|' over the whole packet, remembering the last answer. A
 * search may run past the current line (into the next ones); remembering where it stopped
 * keeps a packet of thousands of lines without a ':' linear instead of quadratic.
 */
class DelimiterIndex {
  private colonFrom = 0;
  private colonAt = -1;
  private pipeFrom = 0;
  private pipeAt = -1;
  private nulFrom = 0;
  private nulAt = -1;

  constructor(private readonly text: string) {}

  /** Index of the first ':' at or after `from`, or text.length. */
  colon(from: number): number {
    if (from < this.colonFrom || from > this.colonAt) {
      const at = this.text.indexOf(":", from);
      this.colonFrom = from;
      this.colonAt = at === -1 ? this.text.length : at;
    }
    return this.colonAt;
  }

  /** Index of the first '|' at or after `from`, or text.length. */
  pipe(from: number): number {
    if (from < this.pipeFrom || from > this.pipeAt) {
      const at = this.text.indexOf("|", from);
      this.pipeFrom = from;
      this.pipeAt = at === -1 ? this.text.length : at;
    }
    return this.pipeAt;
  }

  /** Index of the first NUL at or after `from`, or text.length. */
  nul(from: number): number {
    if (from < this.nulFrom || from > this.nulAt) {
      const at = this.text.indexOf("\u0000", from);
      this.nulFrom = from;
      this.nulAt = at === -1 ? this.text.length : at;
    }
    return this.nulAt;
  }
}

/** Parses text[start, end): one line without its line terminator, never empty. */
function parseStatsdLine(
  text: string,
  start: number,
  end: number,
  out: StatsdSink,
  delimiters: DelimiterIndex,
): void {
  if (end - start > MAX_STATSD_LINE_CHARS) return reject(out, "line_too_long", text, start, end);
  if (text.charCodeAt(start) === UNDERSCORE && isEventOrServiceCheck(text, start, end)) {
    return reject(out, "unsupported", text, start, end);
  }

  // name ':' values '|' type
  const colon = delimiters.colon(start);
  const valueEnd = delimiters.pipe(start);
  if (colon === start || colon >= valueEnd || valueEnd >= end || delimiters.nul(start) < colon) {
    return reject(out, "bad_line", text, start, end);
  }
  const valueStart = colon + 1;
  const typeEnd = Math.min(delimiters.pipe(valueEnd + 1), end);
  const type = readType(text, valueEnd + 1, typeEnd);
  if (type === undefined) return reject(out, "bad_type", text, start, end);

  // Optional sections, in any order. Unknown ones (c:, T, e:, card:, future) are skipped.
  let rate = 1;
  let hasRate = false;
  let tagStart = -1;
  let tagEnd = -1;
  for (let sectionStart = typeEnd + 1; sectionStart < end; ) {
    const sectionEnd = Math.min(delimiters.pipe(sectionStart), end);
    const marker = text.charCodeAt(sectionStart);
    if (marker === HASH) {
      if (tagStart !== -1) return reject(out, "bad_tags", text, start, end);
      tagStart = sectionStart + 1;
      tagEnd = sectionEnd;
    } else if (marker === AT) {
      if (hasRate) return reject(out, "bad_rate", text, start, end);
      rate = parseDecimal(text, sectionStart + 1, sectionEnd);
      if (!(rate > 0 && rate <= 1)) return reject(out, "bad_rate", text, start, end);
      hasRate = true;
    }
    sectionStart = sectionEnd + 1;
  }

  // Values, all checked before the first call so a bad packed value rejects the whole line.
  let first = 0;
  let firstEnd = valueEnd;
  let setMember: string | undefined;
  if (type === "s") {
    // Set members are opaque strings: no value packing, colons belong to the member.
    if (valueStart === valueEnd) return reject(out, "bad_value", text, start, end);
    setMember = text.slice(valueStart, valueEnd);
  } else {
    firstEnd = Math.min(delimiters.colon(valueStart), valueEnd);
    first = parseDecimal(text, valueStart, firstEnd);
    if (first !== first) return reject(out, "bad_value", text, start, end); // NaN
    if (firstEnd !== valueEnd && !areValuesValid(text, firstEnd + 1, valueEnd)) {
      return reject(out, "bad_value", text, start, end);
    }
  }

  // The key is built once per line; callers cache per-series work on it.
  const name = text.slice(start, colon);
  const rawTags = tagStart === -1 ? "" : text.slice(tagStart, tagEnd);
  const key = name + "\u0000" + rawTags;
  const isGauge = type === "g";
  out.line(key, name, rawTags, type, first, rate, isGauge && isSigned(text, valueStart), setMember);
  // Packed values (DogStatsD ≥7.25), already validated above.
  if (firstEnd === valueEnd) return;
  for (let pos = firstEnd + 1; pos <= valueEnd; ) {
    const pieceEnd = scanTo(text, pos, valueEnd, COLON);
    const value = parseDecimal(text, pos, pieceEnd);
    out.line(key, name, rawTags, type, value, rate, isGauge && isSigned(text, pos), undefined);
    pos = pieceEnd + 1;
  }
}

function reject(out: StatsdSink, reason: StatsdErrorReason, text: string, start: number, end: number): void {
  out.error(reason, text.slice(start, Math.min(end, start + ERROR_LINE_MAX_CHARS)));
}

/** `_e{` starts an event, `_sc|` a service check: both are valid DogStatsD we do not ingest. */
function isEventOrServiceCheck(text: string, start: number, end: number): boolean {
  if (end - start >= 3 && text.charCodeAt(start + 1) === LOWER_E && text.charCodeAt(start + 2) === BRACE_OPEN) {
    return true;
  }
  return (
    end - start >= 4 &&
    text.charCodeAt(start + 1) === LOWER_S &&
    text.charCodeAt(start + 2) === LOWER_C &&
    text.charCodeAt(start + 3) === PIPE
  );
}

/** Index of the first `char` in text[from, end), or `end`. Bounded, unlike indexOf(). */
function scanTo(text: string, from: number, end: number, char: number): number {
  for (let i = from; i < end; i++) {
    if (text.charCodeAt(i) === char) return i;
  }
  return end;
}

function readType(text: string, start: number, end: number): StatsdType | undefined {
  const c = text.charCodeAt(start);
  if (end - start === 1) {
    if (c === LOWER_C) return "c";
    if (c === LOWER_G) return "g";
    if (c === LOWER_H) return "h";
    if (c === LOWER_D) return "d";
    if (c === LOWER_S) return "s";
    return undefined;
  }
  if (end - start === 2 && c === LOWER_M && text.charCodeAt(start + 1) === LOWER_S) return "ms";
  return undefined;
}

function isSigned(text: string, start: number): boolean {
  const c = text.charCodeAt(start);
  return c === PLUS || c === MINUS;
}

/** True when every ':'-separated value in text[start, end) parses. */
function areValuesValid(text: string, start: number, end: number): boolean {
  let pos = start;
  while (pos <= end) {
    const pieceEnd = scanTo(text, pos, end, COLON);
    const value = parseDecimal(text, pos, pieceEnd);
    if (value !== value) return false;
    pos = pieceEnd + 1;
  }
  return true;
}

/**
 * The finite decimal number in text[start, end), or NaN. Accepts what Number() accepts for
 * [+-]digits[.digits][e[+-]digits], and nothing else (no hex, Infinity, spaces or empty).
 * The common short forms are computed from the characters without allocating.
 */
export function parseDecimal(text: string, start: number, end: number): number {
  if (start >= end) return NaN;
  let i = start;
  let c = text.charCodeAt(i);
  const isNegative = c === MINUS;
  if (isNegative || c === PLUS) i++;
  let mantissa = 0;
  let digits = 0;
  let fractionDigits = 0;
  let hasDot = false;
  for (; i < end; i++) {
    c = text.charCodeAt(i);
    if (c >= DIGIT_0 && c <= DIGIT_9) {
      mantissa = mantissa * 10 + (c - DIGIT_0);
      digits++;
      if (hasDot) fractionDigits++;
    } else if (c === DOT && !hasDot) {
      hasDot = true;
    } else {
      return parseUnusualDecimal(text, start, end);
    }
  }
  if (digits === 0) return NaN;
  if (digits > 15) return parseUnusualDecimal(text, start, end);
  const magnitude = fractionDigits === 0 ? mantissa : mantissa / POW10[fractionDigits];
  return isNegative ? -magnitude : magnitude;
}

/** Slow path: exponents and long mantissas, checked for allowed characters, then Number(). */
function parseUnusualDecimal(text: string, start: number, end: number): number {
  let hasDigit = false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= DIGIT_0 && c <= DIGIT_9) hasDigit = true;
    else if (c !== PLUS && c !== MINUS && c !== DOT && c !== LOWER_E && c !== UPPER_E) return NaN;
  }
  if (!hasDigit) return NaN;
  const value = Number(text.slice(start, end));
  return Number.isFinite(value) ? value : NaN;
}

export interface BadTags {
  reason: "bad_tags";
  message: string;
}

/**
 * `k:v,k2:v2` → labels. Keys are sanitised to [a-zA-Z0-9_] (a leading digit gets a "_"
 * prefix); values are kept as sent, split at the first ':' so `url:http://x` keeps its colon.
 * Strict, because a label store cannot represent the rest: a bare tag (no ':'), an empty key,
 * a reserved `__` key, or a key given twice (after sanitising) rejects the whole tag set.
 * Empty entries (`a:1,,b:2`, trailing ',') are skipped.
 */
export function parseDogTags(rawTags: string): Result<Labels, BadTags> {
  const labels: Labels = {};
  const length = rawTags.length;
  let start = 0;
  while (start < length) {
    let end = rawTags.indexOf(",", start);
    if (end === -1) end = length;
    if (end > start) {
      const colon = rawTags.indexOf(":", start);
      if (colon === -1 || colon >= end) {
        return badTags(`tag "${rawTags.slice(start, end)}" has no value (bare tags are not supported)`);
      }
      if (colon === start) return badTags(`tag "${rawTags.slice(start, end)}" has an empty name`);
      const rawKey = rawTags.slice(start, colon);
      const key = sanitizeLabelName(rawKey);
      if (key.startsWith("__")) return badTags(`tag name "${rawKey}" is reserved (starts with "__")`);
      if (Object.hasOwn(labels, key)) return badTags(`tag name "${key}" is given more than once`);
      labels[key] = rawTags.slice(colon + 1, end);
    }
    start = end + 1;
  }
  return ok(labels);
}

function badTags(message: string): { ok: false; error: BadTags } {
  return err({ reason: "bad_tags", message });
}

function sanitizeLabelName(raw: string): string {
  return sanitizeName(raw, false);
}

/**
 * StatsD name → Prometheus metric name: characters outside [a-zA-Z0-9_:] become "_", a leading
 * digit gets a "_" prefix. `game.match.started-count` → `game_match_started_count`.
 * Undefined for an empty name.
 */
export function sanitizeMetricName(raw: string): string | undefined {
  if (raw.length === 0) return undefined;
  return sanitizeName(raw, true);
}

function sanitizeName(raw: string, allowColon: boolean): string {
  const startsWithDigit = raw.charCodeAt(0) >= DIGIT_0 && raw.charCodeAt(0) <= DIGIT_9;
  let firstBad = -1;
  for (let i = 0; i < raw.length; i++) {
    if (!isNameChar(raw.charCodeAt(i), allowColon)) {
      firstBad = i;
      break;
    }
  }
  if (firstBad === -1) return startsWithDigit ? "_" + raw : raw;
  let result = (startsWithDigit ? "_" : "") + raw.slice(0, firstBad);
  for (let i = firstBad; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    result += isNameChar(c, allowColon) ? raw[i] : "_";
  }
  return result;
}

function isNameChar(c: number, allowColon: boolean): boolean {
  return (
    (c >= 97 && c <= 122) || // a-z
    (c >= 65 && c <= 90) || // A-Z
    (c >= DIGIT_0 && c <= DIGIT_9) ||
    c === UNDERSCORE ||
    (allowColon && c === COLON)
  );
}

/**
 * One parsed StatsD value → the point value the aggregator folds in.
 *
 *   c        counter, delta, value / rate (sampled counts are scaled up)
 *   g        gauge, or gauge_delta when the value was sent with a leading + or -
 *   ms h d   observe, weight round(1 / rate) ≥ 1
 *   s        set member
 *
 * `name` and `labels` are accepted for symmetry with the sink call; the identity of the
 * series is the caller's, only the value is mapped here.
 */
export function statsdLineToPoint(
  _name: string,
  _labels: Labels,
  type: StatsdType,
  value: number,
  rate: number,
  isDelta: boolean,
  setMember: string | undefined,
): PointValue {
  switch (type) {
    case "c":
      return { type: "counter", temporality: "delta", value: value / rate };
    case "g":
      return isDelta ? { type: "gauge_delta", value } : { type: "gauge", value };
    case "ms":
    case "h":
    case "d":
      return { type: "observe", value, weight: Math.max(1, Math.round(1 / rate)) };
    case "s":
      if (setMember === undefined) throw new Error("BUG: statsd set line without a member");
      return { type: "set", member: setMember };
  }
}
