/**
 * The hub's label policy: defense in depth behind the agents' own policy (policy/labels/), for
 * every series that reaches the hub, from our agents or from any standard remote-write sender.
 *
 * What it keeps from the agent's policy (same functions, same messages):
 *   - forbidden label names: player_id, raw_ip, request_id always, plus the configured `forbid`
 *     list (default: the agent's default list), case-insensitive, with the "_<name>" suffix rule
 *     for identity names (label-names.ts);
 *   - value checks: too long (code points), personal data (IP / e-mail / phone / long digit
 *     runs), free text (whitespace, control characters, prose punctuation, sentences);
 *   - too many non-empty labels; an invalid metric name.
 * What it leaves out, because standard senders need it: the allow list (job, instance, le,
 * quantile, pod … are all fine) unless the config gives one, and the reserved-name rule (`le`,
 * `quantile` and `__` names are the sender's to use). With an allow list, `le` and `quantile` are
 * allowed implicitly: classic histograms and summaries cannot exist without them.
 *
 * Ordering guarantee (as in label-policy.ts): the first failure is the verdict, checked in the
 * order invalid_metric_name → too_many_labels → per label in name order: invalid_label_name →
 * forbidden_label → label_not_allowed → value_too_long → pii_value → free_text. Messages never
 * quote a label value.
 *
 * Verdicts are meant to be computed once: write-request-scan.ts keeps them in two bounded caches
 * keyed by raw bytes: `seriesCache` per label set (a series seen before costs one compare), and
 * `labelCache` per label (name + value), so a series not in the first cache (a new one, or one
 * evicted on a hub with more active series than the cache holds) only pays the value checks for
 * labels never seen before: labels repeat across series far more than series repeat.
 */
import { err, ok, type Result } from "../../agent/core/result";
import { DEFAULT_LABEL_POLICY } from "../../policy/labels/config";
import {
  ALWAYS_FORBIDDEN_NAMES,
  createForbiddenMatcher,
  describeInvalidMetricName,
  explainForbiddenMatch,
  isValidLabelName,
} from "../../policy/labels/label-names";
import { countCodePoints, findFreeText, findPersonalData } from "../../policy/labels/value-checks";
import { VerdictCache } from "./verdict-cache";

export type SeriesRejectReason =
  // The label bytes themselves (write-request-scan.ts).
  | "invalid_utf8"
  | "invalid_label_name"
  | "unsorted_labels"
  | "duplicate_label"
  | "missing_metric_name"
  // Request limits (write-request-scan.ts) and this policy.
  | "too_many_labels"
  | "label_name_too_long"
  | "value_too_long"
  // This policy.
  | "invalid_metric_name"
  | "forbidden_label"
  | "label_not_allowed"
  | "pii_value"
  | "free_text";

export interface SeriesRejection {
  reason: SeriesRejectReason;
  message: string;
}

export interface HubPolicyConfig {
  /** Forbidden label names; player_id, raw_ip and request_id are added if missing. Default: the agent's list. */
  forbid?: readonly string[];
  /** When set, the only label names a series may carry (besides __name__, le, quantile). Default: none. */
  allow?: readonly string[];
  /** Reject values that look like IP / e-mail addresses, phone numbers or long IDs. Default true. */
  rejectPiiValues?: boolean;
  /** Labels whose values skip the personal-data check (e.g. "instance" for scrapes by IP). Default none. */
  piiExemptLabels?: readonly string[];
  /** Most non-empty labels besides __name__. Default 64. */
  maxLabels?: number;
  /** Longest label value, in code points. Default 1024. */
  maxValueLength?: number;
  /** Bound on cached series verdicts (~600 bytes each for an 8-label series). Default 500,000. */
  maxCachedSeries?: number;
  /** Bound on cached label verdicts (~200 bytes each). Default 200,000. */
  maxCachedLabels?: number;
}

export const DEFAULT_HUB_POLICY = Object.freeze({
  rejectPiiValues: true,
  maxLabels: 64,
  maxValueLength: 1024,
  maxCachedSeries: 500_000,
  maxCachedLabels: 200_000,
});

/** What the scanner remembers about a distinct label set (limits are checked per request). */
export interface CachedSeries {
  /** Value of __name__ ("" when missing or unreadable). */
  name: string;
  /** Label fields, __name__ included. */
  labelCount: number;
  longestNameBytes: number;
  longestValueBytes: number;
  /** The verdict on the labels themselves; undefined = admitted. */
  rejected: SeriesRejection | undefined;
  /**
   * 64-bit hash of the key (hub/tenants/hash64.ts), computed once when the series is first
   * judged, so per-tenant series tracking does not rehash the label bytes on every request.
   */
  hashHi: number;
  hashLo: number;
  /**
   * Admission memo, kept here because this object is already in hand for every series seen
   * before: the per-tenant tracker that last admitted the series (`memoOwner`) and when
   * (`memoSec`). See TenantRuntime.admitSeries.
   */
  memoOwner: unknown;
  memoSec: number;
}

/** What the scanner remembers about one label (name + value), by its raw field bytes. */
export interface CachedLabel {
  /** The bytes are unusable: invalid_label_name or invalid_utf8 (checked before the policy). */
  malformed: SeriesRejection | undefined;
  /** The policy's verdict: checkMetricName for __name__, else checkLabel. */
  rejected: SeriesRejection | undefined;
  isMetricName: boolean;
  /** The value, decoded, for __name__ only ("" otherwise). */
  metricName: string;
  isEmptyValue: boolean;
}

export interface HubSeriesPolicy {
  /**
   * Judges one series: `names` (sorted, unique, valid, without __name__) and `values` pair up;
   * undefined = admitted. The same as checkMetricName, then checkLabelCount, then checkLabel per
   * label in order.
   */
  check(metricName: string, names: readonly string[], values: readonly string[]): SeriesRejection | undefined;
  checkMetricName(metricName: string): SeriesRejection | undefined;
  /** `nonEmptyLabels`: labels besides __name__ whose value is not empty. */
  checkLabelCount(nonEmptyLabels: number): SeriesRejection | undefined;
  /** One label other than __name__: its name (forbidden, allow list) and its value. */
  checkLabel(name: string, value: string): SeriesRejection | undefined;
  /** Exemplar labels (trace_id …) only get the forbidden-name check: their values are IDs by design. */
  checkExemplarLabelName(name: string): SeriesRejection | undefined;
  /** Verdicts by raw label-set bytes; see write-request-scan.ts. */
  readonly seriesCache: VerdictCache<CachedSeries>;
  /** Verdicts by raw label-field bytes; see write-request-scan.ts. */
  readonly labelCache: VerdictCache<CachedLabel>;
}

/** Implicitly allowed next to an allow list. */
const STRUCTURAL_LABELS = ["le", "quantile"];
const FIELD = "policy";

export function createHubSeriesPolicy(config: HubPolicyConfig = {}): Result<HubSeriesPolicy, string> {
  const problem = describeInvalidConfig(config);
  if (problem !== undefined) return err(problem);
  // Copied into lookups up front: later changes to `config` do not change the policy.
  const matchForbidden = createForbiddenMatcher(forbiddenNamesOf(config));
  const allowed = config.allow === undefined ? undefined : new Set([...config.allow, ...STRUCTURAL_LABELS]);
  const piiExempt = new Set(config.piiExemptLabels ?? []);
  const rejectPiiValues = config.rejectPiiValues ?? DEFAULT_HUB_POLICY.rejectPiiValues;
  const maxLabels = config.maxLabels ?? DEFAULT_HUB_POLICY.maxLabels;
  const maxValueLength = config.maxValueLength ?? DEFAULT_HUB_POLICY.maxValueLength;

  function checkName(name: string): SeriesRejection | undefined {
    if (!isValidLabelName(name)) return reject("invalid_label_name", `label ${JSON.stringify(name)} is not a valid label name`);
    const forbidden = matchForbidden(name);
    if (forbidden !== null) return reject("forbidden_label", `label ${JSON.stringify(name)} is forbidden (${explainForbiddenMatch(forbidden)})`);
    if (allowed !== undefined && !allowed.has(name)) {
      return reject("label_not_allowed", `label ${JSON.stringify(name)} is not in the allow list (${FIELD}.allow)`);
    }
    return undefined;
  }

  function checkValue(name: string, value: string): SeriesRejection | undefined {
    if (value === "") return undefined;
    // UTF-16 length is an upper bound on code points, so shorter values skip the count.
    if (value.length > maxValueLength) {
      const length = countCodePoints(value);
      if (length > maxValueLength) {
        return reject("value_too_long", `label ${JSON.stringify(name)} value has ${length} characters, more than the maximum of ${maxValueLength}`);
      }
    }
    const personalData = rejectPiiValues && !piiExempt.has(name) ? findPersonalData(value) : null;
    if (personalData !== null) return reject("pii_value", `label ${JSON.stringify(name)} value ${personalData}`);
    const freeText = findFreeText(value);
    if (freeText !== null) return reject("free_text", `label ${JSON.stringify(name)} value ${freeText}`);
    return undefined;
  }

  function checkMetricName(metricName: string): SeriesRejection | undefined {
    const problem = describeInvalidMetricName(metricName);
    return problem === null ? undefined : reject("invalid_metric_name", problem);
  }

  function checkLabelCount(nonEmptyLabels: number): SeriesRejection | undefined {
    if (nonEmptyLabels <= maxLabels) return undefined;
    return reject("too_many_labels", `series has ${nonEmptyLabels} non-empty labels besides __name__, more than the maximum of ${maxLabels}`);
  }

  function checkLabel(name: string, value: string): SeriesRejection | undefined {
    return checkName(name) ?? checkValue(name, value);
  }

  return ok({
    seriesCache: new VerdictCache<CachedSeries>(config.maxCachedSeries ?? DEFAULT_HUB_POLICY.maxCachedSeries),
    labelCache: new VerdictCache<CachedLabel>(config.maxCachedLabels ?? DEFAULT_HUB_POLICY.maxCachedLabels),
    checkMetricName,
    checkLabelCount,
    checkLabel,

    check(metricName, names, values) {
      let nonEmpty = 0;
      for (let i = 0; i < values.length; i++) if (values[i] !== "") nonEmpty++;
      const rejected = checkMetricName(metricName) ?? checkLabelCount(nonEmpty);
      if (rejected !== undefined) return rejected;
      for (let i = 0; i < names.length; i++) {
        const labelRejected = checkLabel(names[i], values[i]);
        if (labelRejected !== undefined) return labelRejected;
      }
      return undefined;
    },

    checkExemplarLabelName(name) {
      const forbidden = matchForbidden(name);
      if (forbidden === null) return undefined;
      return reject("forbidden_label", `exemplar label ${JSON.stringify(name)} is forbidden (${explainForbiddenMatch(forbidden)})`);
    },
  });
}

/** The configured list (or the agent's default), with the always-forbidden names added. */
function forbiddenNamesOf(config: HubPolicyConfig): string[] {
  const names = [...(config.forbid ?? DEFAULT_LABEL_POLICY.forbid)];
  const present = new Set(names.map((name) => name.toLowerCase()));
  for (const name of ALWAYS_FORBIDDEN_NAMES) if (!present.has(name)) names.push(name);
  return names;
}

/** Why `config` is unusable, naming the field and value; undefined when it is fine. */
function describeInvalidConfig(config: HubPolicyConfig): string | undefined {
  for (const key of ["forbid", "allow", "piiExemptLabels"] as const) {
    const names = config[key];
    if (names === undefined) continue;
    if (!Array.isArray(names)) return `${FIELD}.${key} must be a list of label names (got ${JSON.stringify(names)})`;
    for (let i = 0; i < names.length; i++) {
      if (typeof names[i] !== "string" || !isValidLabelName(names[i])) {
        return `${FIELD}.${key}[${i}] must be a valid label name (got ${JSON.stringify(names[i])})`;
      }
    }
  }
  const matchForbidden = createForbiddenMatcher(forbiddenNamesOf(config));
  const allowedForbidden = (config.allow ?? []).findIndex((name) => matchForbidden(name) !== null);
  if (allowedForbidden >= 0) {
    return `${FIELD}.allow[${allowedForbidden}] must not be a forbidden label (got ${JSON.stringify(config.allow![allowedForbidden])})`;
  }
  for (const [key, min] of [["maxLabels", 1], ["maxValueLength", 1], ["maxCachedSeries", 2], ["maxCachedLabels", 2]] as const) {
    const value = config[key];
    if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
      return `${FIELD}.${key} must be an integer >= ${min} (got ${JSON.stringify(value)})`;
    }
  }
  if (config.rejectPiiValues !== undefined && typeof config.rejectPiiValues !== "boolean") {
    return `${FIELD}.rejectPiiValues must be true or false (got ${JSON.stringify(config.rejectPiiValues)})`;
  }
  return undefined;
}

function reject(reason: SeriesRejectReason, message: string): SeriesRejection {
  return { reason, message };
}
