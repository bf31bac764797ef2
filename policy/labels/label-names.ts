/**
 * Name rules shared by the label policy and its config parser: what a metric or label name may
 * look like, which label names are reserved, and which are forbidden.
 *
 * Forbidden-name rule (documented in README.md):
 *   1. a label is forbidden when its name equals a `forbid` entry, compared case-insensitively
 *      ("Player_ID" matches "player_id");
 *   2. for the identity names in SUFFIX_MATCHED_NAMES that are also in `forbid`, a name that ENDS
 *      with "_<name>" is forbidden too ("src_raw_ip", "target_player_id", "contact_email").
 *   Prefixes and infixes are not matched ("player_id_hash", "ip_version"): such names are not in
 *   the allow list either, so they are still rejected, as label_not_allowed.
 */

export const METRIC_NAME_MAX_LENGTH = 200;

/** Prometheus names. Both patterns are a single character class run: linear, no backtracking. */
const METRIC_NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Labels the agent generates itself (histogram bucket bound, summary quantile). */
export const RESERVED_LABEL_NAMES: readonly string[] = ["le", "quantile"];

/** Names that can never be removed from `forbid`: the player-privacy promise of the agent. */
export const ALWAYS_FORBIDDEN_NAMES: readonly string[] = ["player_id", "raw_ip", "request_id"];

/** Identity names also matched as a "_<name>" suffix (rule 2 above). */
export const SUFFIX_MATCHED_NAMES: readonly string[] = [
  "player_id",
  "raw_ip",
  "request_id",
  "user_id",
  "session_id",
  "email",
];

/** Why a default forbidden name is forbidden; user-added names get a generic reason. */
const FORBIDDEN_WHY: Readonly<Record<string, string>> = {
  player_id: "player identity never leaves the host",
  user_id: "player identity never leaves the host",
  account_id: "player identity never leaves the host",
  session_id: "player identity never leaves the host",
  email: "player identity never leaves the host",
  raw_ip: "IP addresses never leave the host",
  ip: "IP addresses never leave the host",
  client_ip: "IP addresses never leave the host",
  request_id: "request IDs trace single player requests",
  message: "free text may carry personal data",
  msg: "free text may carry personal data",
  text: "free text may carry personal data",
  description: "free text may carry personal data",
  error_message: "free text may carry personal data",
  log: "free text may carry personal data",
  url: "URLs and paths may carry personal data",
  path: "URLs and paths may carry personal data",
  query: "URLs and paths may carry personal data",
  user_agent: "user agents fingerprint players",
};

export function isValidLabelName(name: string): boolean {
  return LABEL_NAME_PATTERN.test(name);
}

/** "__" names belong to Prometheus internals; le/quantile are generated downstream. */
export function isReservedLabelName(name: string): boolean {
  return name.startsWith("__") || RESERVED_LABEL_NAMES.includes(name);
}

/** Why `name` is not a usable metric name, or null when it is. */
export function describeInvalidMetricName(name: string): string | null {
  if (name.length === 0) return "metric name is empty";
  if (name.length > METRIC_NAME_MAX_LENGTH) {
    return `metric name is longer than ${METRIC_NAME_MAX_LENGTH} characters (got ${name.length})`;
  }
  if (!METRIC_NAME_PATTERN.test(name)) {
    return `metric name ${JSON.stringify(name)} is not a valid Prometheus name`;
  }
  if (name.startsWith("__")) {
    return `metric name ${JSON.stringify(name)} uses the reserved "__" prefix`;
  }
  return null;
}

export interface ForbiddenMatch {
  /** The lower-case `forbid` entry that matched. */
  forbidden: string;
  /** True when matched by rule 2 ("_<name>" suffix). */
  isSuffixMatch: boolean;
}

export type ForbiddenMatcher = (labelName: string) => ForbiddenMatch | null;

/** Precomputes the lookup once so a check costs a Set hit plus at most six endsWith calls. */
export function createForbiddenMatcher(forbid: readonly string[]): ForbiddenMatcher {
  const exact = new Set(forbid.map((name) => name.toLowerCase()));
  const suffixes = SUFFIX_MATCHED_NAMES.filter((name) => exact.has(name));
  return (labelName) => {
    const lower = labelName.toLowerCase();
    if (exact.has(lower)) return { forbidden: lower, isSuffixMatch: false };
    for (const suffix of suffixes) {
      if (lower.endsWith(`_${suffix}`)) return { forbidden: suffix, isSuffixMatch: true };
    }
    return null;
  };
}

/** The parenthesised part of a forbidden_label message. */
export function explainForbiddenMatch(match: ForbiddenMatch): string {
  const why = FORBIDDEN_WHY[match.forbidden] ?? "listed in policy.labels.forbid";
  return match.isSuffixMatch ? `ends with "_${match.forbidden}"; ${why}` : why;
}
