/**
 * Label-value detectors: personal data (IP addresses, e-mail addresses, phone numbers, long
 * digit runs) and free text. Each returns a short description for the verdict message, or null.
 * Descriptions never quote the value: the value is what must not leave the host.
 *
 * Cost: every scanner is one left-to-right pass, and the IPv4 probe reads at most 15 characters
 * per start position. The regexes are single character classes or fixed-width, so nothing can
 * backtrack catastrophically. The policy runs these only after the length check, so values are
 * at most maxValueLength code points here.
 */

const DOT = 0x2e;
const COLON = 0x3a;

/** JS `\s` with the u flag: ASCII and Unicode spaces, line/paragraph separators, BOM. */
const WHITESPACE = /\s/u;
/** C0/C1 controls plus invisible characters used to hide or reorder text. */
const CONTROL_OR_INVISIBLE = /[\p{Cc}\u200B\u2060\u202A-\u202E\u2066-\u2069]/u;
/** Punctuation found in prose and quoted text but not in identifiers, versions or regions. */
const PROSE_PUNCTUATION = /[,;!?"'`\u2018\u2019\u201C\u201D\u00AB\u00BB\u00BF\u00A1\u3001\u3002\uFF0C\uFF1B\uFF01\uFF1F]/u;
/** "Disconnected." — a word closed by a full stop or an ellipsis. */
const SENTENCE_END = /\p{L}[.\u2026]$/u;

const EMAIL_LOCAL_LAST_CHAR = /[\p{L}\p{N}._%+-]$/u;
const EMAIL_DOMAIN_RUN = /^[\p{L}\p{N}.-]+/u;
const EMAIL_TOP_LEVEL_DOMAIN = /^\p{L}{2,}$/u;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

const LONG_DIGIT_RUN = 12;
const PHONE_MIN_DIGITS = 8;

/** Length in Unicode code points (what a person calls characters), not UTF-16 units. */
export function countCodePoints(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    if (isHighSurrogate(value.charCodeAt(i)) && isLowSurrogate(value.charCodeAt(i + 1))) i++;
    count++;
  }
  return count;
}

/** What kind of personal data `value` seems to carry, e.g. "looks like an IP address". */
export function findPersonalData(value: string): string | null {
  if (containsIpv4(value) || containsIpv6(value)) return "looks like an IP address";
  if (containsEmail(value)) return "looks like an e-mail address";
  if (containsPhoneNumber(value)) return "looks like a phone number";
  if (containsLongDigitRun(value)) {
    return "contains a long digit run that looks like an ID or phone number";
  }
  return null;
}

/** Why `value` reads as free text rather than a bounded identifier, or null. */
export function findFreeText(value: string): string | null {
  if (WHITESPACE.test(value)) return "contains whitespace";
  if (CONTROL_OR_INVISIBLE.test(value)) return "contains a control or invisible character";
  const punctuation = PROSE_PUNCTUATION.exec(value);
  if (punctuation) return `looks like free text (contains ${JSON.stringify(punctuation[0])})`;
  if (SENTENCE_END.test(value)) return "looks like a sentence (ends with a full stop)";
  return null;
}

// --- IPv4 -----------------------------------------------------------------------------------

/**
 * A dotted quad of octets 0–255, also inside text ("10.0.0.1:7777", "peer=10.0.0.1").
 * Not an address: part of a longer dotted number ("1.2.3.4.5", "10.0.19041.1"), three parts
 * ("1.2.3", "build-2024.11.3"), or a version written with a "v" prefix ("v4.27.2.0").
 */
function containsIpv4(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    if (!isDigit(value.charCodeAt(i))) continue;
    const previous = value.charCodeAt(i - 1);
    if (isDigit(previous) || previous === DOT || previous === 0x76 || previous === 0x56) continue;
    const end = matchDottedQuad(value, i);
    if (end >= 0 && !continuesDottedNumber(value, end)) return true;
  }
  return false;
}

/** Index just past a dotted quad starting at `start`, or -1. Reads at most 15 characters. */
function matchDottedQuad(value: string, start: number): number {
  let i = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (value.charCodeAt(i) !== DOT) return -1;
      i++;
    }
    let digits = 0;
    let octet = 0;
    while (digits < 3 && isDigit(value.charCodeAt(i))) {
      octet = octet * 10 + (value.charCodeAt(i) - 0x30);
      digits++;
      i++;
    }
    if (digits === 0 || octet > 255) return -1;
  }
  return i;
}

function continuesDottedNumber(value: string, end: number): boolean {
  const next = value.charCodeAt(end);
  return isDigit(next) || (next === DOT && isDigit(value.charCodeAt(end + 1)));
}

// --- IPv6 -----------------------------------------------------------------------------------

/**
 * Full ("2001:0db8:0:0:0:0:0:1"), compressed ("2001:db8::1", "::1") and IPv4-tailed
 * ("::ffff:1.2.3.4") forms, also bracketed or with a zone ("[fe80::1]:7777", "fe80::1%eth0").
 * A candidate is a maximal run of hex digits, colons and dots with at least two colons that is
 * not glued to a word character, so "12:00:00" (three groups, no "::"), "std::fmt" and
 * "2024-11-03T12:00:00Z" are not addresses.
 */
function containsIpv6(value: string): boolean {
  let i = 0;
  while (i < value.length) {
    if (!isIpv6Char(value.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let colons = 0;
    while (i < value.length && isIpv6Char(value.charCodeAt(i))) {
      if (value.charCodeAt(i) === COLON) colons++;
      i++;
    }
    if (colons < 2) continue;
    if (isWordChar(value.charCodeAt(start - 1)) || isWordChar(value.charCodeAt(i))) continue;
    if (isIpv6Address(trimTrailingDots(value.slice(start, i)))) return true;
  }
  return false;
}

function isIpv6Address(candidate: string): boolean {
  const halves = candidate.split("::");
  if (halves.length > 2) return false;
  const isCompressed = halves.length === 2;
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  let groupCount = 0;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    const isLast = g === groups.length - 1;
    if (isLast && group.includes(".")) {
      if (matchDottedQuad(group, 0) !== group.length) return false;
      groupCount += 2; // an IPv4 tail fills the last 32 bits
    } else if (IPV6_GROUP.test(group)) {
      groupCount++;
    } else {
      return false;
    }
  }
  return isCompressed ? groupCount <= 7 : groupCount === 8;
}

function trimTrailingDots(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === DOT) end--;
  return text.slice(0, end);
}

// --- E-mail, phone, digit runs ---------------------------------------------------------------

/** "local@domain.tld" with a letters-only top-level domain of 2+ letters; Unicode allowed. */
function containsEmail(value: string): boolean {
  for (let at = value.indexOf("@"); at !== -1; at = value.indexOf("@", at + 1)) {
    if (!EMAIL_LOCAL_LAST_CHAR.test(value.slice(Math.max(0, at - 2), at))) continue;
    const run = EMAIL_DOMAIN_RUN.exec(value.slice(at + 1));
    if (run && isEmailDomain(trimTrailingDots(run[0]))) return true;
  }
  return false;
}

function isEmailDomain(domain: string): boolean {
  const parts = domain.split(".");
  if (parts.length < 2 || parts.some((part) => part === "")) return false;
  return EMAIL_TOP_LEVEL_DOMAIN.test(parts[parts.length - 1]);
}

/** E.164-style "+" followed by 8 or more digits, e.g. "+15551234567". */
function containsPhoneNumber(value: string): boolean {
  for (let plus = value.indexOf("+"); plus !== -1; plus = value.indexOf("+", plus + 1)) {
    if (isAsciiAlphanumeric(value.charCodeAt(plus - 1))) continue;
    let digits = 0;
    while (isDigit(value.charCodeAt(plus + 1 + digits))) digits++;
    if (digits >= PHONE_MIN_DIGITS) return true;
  }
  return false;
}

/**
 * 12+ consecutive digits: player/account IDs (Steam IDs have 17), phone numbers, card numbers,
 * epoch milliseconds. Compact date-times ("202411031200", "20241103120000") are exempt because
 * build IDs carry them.
 */
function containsLongDigitRun(value: string): boolean {
  let runStart = -1;
  for (let i = 0; i <= value.length; i++) {
    if (i < value.length && isDigit(value.charCodeAt(i))) {
      if (runStart < 0) runStart = i;
      continue;
    }
    if (runStart >= 0 && i - runStart >= LONG_DIGIT_RUN) {
      if (!isCompactDateTime(value.slice(runStart, i))) return true;
    }
    runStart = -1;
  }
  return false;
}

/** YYYYMMDDhhmm or YYYYMMDDhhmmss with plausible fields (years 1970–2099). */
function isCompactDateTime(digits: string): boolean {
  if (digits.length !== 12 && digits.length !== 14) return false;
  const field = (from: number, to: number) => Number(digits.slice(from, to));
  const seconds = digits.length === 14 ? field(12, 14) : 0;
  return (
    field(0, 4) >= 1970 && field(0, 4) <= 2099 &&
    field(4, 6) >= 1 && field(4, 6) <= 12 &&
    field(6, 8) >= 1 && field(6, 8) <= 31 &&
    field(8, 10) <= 23 && field(10, 12) <= 59 && seconds <= 59
  );
}

// --- Character classes (charCodeAt past the end is NaN, which matches nothing) ---------------

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isAsciiAlphanumeric(code: number): boolean {
  return isDigit(code) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

function isWordChar(code: number): boolean {
  return isAsciiAlphanumeric(code) || code === 0x5f;
}

function isIpv6Char(code: number): boolean {
  return (
    isDigit(code) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66) ||
    code === COLON || code === DOT
  );
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
