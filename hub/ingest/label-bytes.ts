/**
 * Checks on label bytes as they sit in a request body, without decoding them into strings: what
 * the scanner runs on a series it has not seen before (a series seen before is judged by its
 * cached verdict and never gets here).
 *
 * Prometheus rules (PROTOCOLS.md §1.1): label names match [a-zA-Z_][a-zA-Z0-9_]* (so they are
 * ASCII, and byte order is code point order), values are any valid UTF-8.
 */

/** "__name__" */
const METRIC_NAME_LABEL = [0x5f, 0x5f, 0x6e, 0x61, 0x6d, 0x65, 0x5f, 0x5f];

export function isValidLabelNameBytes(buf: Uint8Array, start: number, end: number): boolean {
  if (start >= end) return false;
  const first = buf[start];
  if (!(isLetter(first) || first === 0x5f)) return false;
  for (let i = start + 1; i < end; i++) {
    const c = buf[i];
    if (!(isLetter(c) || c === 0x5f || (c >= 0x30 && c <= 0x39))) return false;
  }
  return true;
}

export function isMetricNameLabel(buf: Uint8Array, start: number, end: number): boolean {
  if (end - start !== METRIC_NAME_LABEL.length) return false;
  for (let i = 0; i < METRIC_NAME_LABEL.length; i++) if (buf[start + i] !== METRIC_NAME_LABEL[i]) return false;
  return true;
}

/** Byte-order comparison of buf[aStart, aEnd) and buf[bStart, bEnd): negative, 0 or positive. */
export function compareBytes(buf: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const n = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < n; i++) {
    const diff = buf[aStart + i] - buf[bStart + i];
    if (diff !== 0) return diff;
  }
  return aLength - bLength;
}

export function isAscii(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] >= 0x80) return false;
  return true;
}

/**
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates (U+D800–DFFF), nothing above
 * U+10FFFF, no truncated sequence at the end.
 */
export function isValidUtf8(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b < 0xc2) return false; // a continuation byte, or an overlong 2-byte form
    if (b < 0xe0) {
      if (end - i < 2 || !isContinuation(buf[i + 1])) return false;
      i += 2;
      continue;
    }
    if (b < 0xf0) {
      if (end - i < 3) return false;
      const b1 = buf[i + 1];
      if (!isContinuation(b1) || !isContinuation(buf[i + 2])) return false;
      if (b === 0xe0 && b1 < 0xa0) return false; // overlong
      if (b === 0xed && b1 >= 0xa0) return false; // surrogate
      i += 3;
      continue;
    }
    if (b < 0xf5) {
      if (end - i < 4) return false;
      const b1 = buf[i + 1];
      if (!isContinuation(b1) || !isContinuation(buf[i + 2]) || !isContinuation(buf[i + 3])) return false;
      if (b === 0xf0 && b1 < 0x90) return false; // overlong
      if (b === 0xf4 && b1 >= 0x90) return false; // above U+10FFFF
      i += 4;
      continue;
    }
    return false;
  }
  return true;
}

function isContinuation(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

function isLetter(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
}
