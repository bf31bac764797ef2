/**
 * Config of the label policy (`policy.labels` in the agent config): schema, defaults and
 * parseLabelPolicyConfig(). Every field is optional; a given field replaces its default whole
 * (lists are not concatenated), so an operator sees exactly what is allowed.
 */
import { err, ok, type Result } from "../../agent/core/result";
import {
  ALWAYS_FORBIDDEN_NAMES,
  createForbiddenMatcher,
  isReservedLabelName,
  isValidLabelName,
} from "./label-names";

export interface LabelPolicyConfig {
  /** Label names a series may carry (case-sensitive), besides identityLabels. */
  allow: string[];
  /** Label names that are never stored (case-insensitive; see label-names.ts for suffixes). */
  forbid: string[];
  /** Most non-empty labels one series may carry. */
  maxLabels: number;
  /** Longest label name, in characters. */
  maxNameLength: number;
  /** Longest label value, in Unicode code points. */
  maxValueLength: number;
  /** Reject values that look like IP/e-mail addresses, phone numbers or long IDs. */
  rejectPiiValues: boolean;
  /** Labels the agent adds itself; always allowed, value checks still apply. */
  identityLabels: string[];
}

const FIELD = "policy.labels";

export const DEFAULT_LABEL_POLICY: Readonly<LabelPolicyConfig> = Object.freeze({
  allow: frozenList([
    "region",
    "az",
    "cluster",
    "shard_id",
    "instance_type",
    "build_id",
    "queue",
    "asn_bucket",
  ]),
  forbid: frozenList([
    "player_id",
    "raw_ip",
    "request_id",
    "user_id",
    "account_id",
    "email",
    "ip",
    "client_ip",
    "session_id",
    "message",
    "msg",
    "text",
    "description",
    "error_message",
    "log",
    "url",
    "path",
    "query",
    "user_agent",
  ]),
  maxLabels: 10,
  maxNameLength: 64,
  maxValueLength: 64,
  rejectPiiValues: true,
  identityLabels: frozenList(["host", "instance"]),
});

const KNOWN_FIELDS: readonly (keyof LabelPolicyConfig)[] = [
  "allow",
  "forbid",
  "maxLabels",
  "maxNameLength",
  "maxValueLength",
  "rejectPiiValues",
  "identityLabels",
];

/** Merges `raw` (the `policy.labels` mapping, or undefined/null for all defaults) over defaults. */
export function parseLabelPolicyConfig(raw: unknown): Result<LabelPolicyConfig, string> {
  if (raw === undefined || raw === null) return ok(copyConfig(DEFAULT_LABEL_POLICY));
  if (!isMapping(raw)) return err(`${FIELD} must be a mapping (got ${describe(raw)})`);

  const unknownField = Object.keys(raw).find((key) => !(KNOWN_FIELDS as string[]).includes(key));
  if (unknownField !== undefined) {
    return err(`${FIELD}.${unknownField} is not a known field (known: ${KNOWN_FIELDS.join(", ")})`);
  }

  const maxLabels = readPositiveInteger(raw, "maxLabels");
  if (!maxLabels.ok) return maxLabels;
  const maxNameLength = readPositiveInteger(raw, "maxNameLength");
  if (!maxNameLength.ok) return maxNameLength;
  const maxValueLength = readPositiveInteger(raw, "maxValueLength");
  if (!maxValueLength.ok) return maxValueLength;
  const rejectPiiValues = readBoolean(raw, "rejectPiiValues");
  if (!rejectPiiValues.ok) return rejectPiiValues;

  const allow = readNameList(raw, "allow", { maxNameLength: maxNameLength.value });
  if (!allow.ok) return allow;
  const forbid = readNameList(raw, "forbid", { caseInsensitive: true });
  if (!forbid.ok) return forbid;
  const identityLabels = readNameList(raw, "identityLabels", { maxNameLength: maxNameLength.value });
  if (!identityLabels.ok) return identityLabels;

  const problem =
    findMissingAlwaysForbidden(forbid.value) ??
    findForbiddenEntry("allow", allow.value, forbid.value) ??
    findForbiddenEntry("identityLabels", identityLabels.value, forbid.value);
  if (problem !== null) return err(problem);

  return ok({
    allow: allow.value,
    forbid: forbid.value,
    maxLabels: maxLabels.value,
    maxNameLength: maxNameLength.value,
    maxValueLength: maxValueLength.value,
    rejectPiiValues: rejectPiiValues.value,
    identityLabels: identityLabels.value,
  });
}

type NumberField = "maxLabels" | "maxNameLength" | "maxValueLength";
type ListField = "allow" | "forbid" | "identityLabels";

function readPositiveInteger(raw: Record<string, unknown>, key: NumberField): Result<number, string> {
  const value = raw[key];
  if (value === undefined) return ok(DEFAULT_LABEL_POLICY[key]);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    return err(`${FIELD}.${key} must be an integer >= 1 (got ${describe(value)})`);
  }
  return ok(value);
}

function readBoolean(raw: Record<string, unknown>, key: "rejectPiiValues"): Result<boolean, string> {
  const value = raw[key];
  if (value === undefined) return ok(DEFAULT_LABEL_POLICY[key]);
  if (typeof value !== "boolean") {
    return err(`${FIELD}.${key} must be true or false (got ${describe(value)})`);
  }
  return ok(value);
}

interface NameListRules {
  /** Set for names a series may carry: they must also fit the name length and not be reserved. */
  maxNameLength?: number;
  /** forbid entries match case-insensitively, so duplicates are found that way too. */
  caseInsensitive?: boolean;
}

function readNameList(
  raw: Record<string, unknown>,
  key: ListField,
  rules: NameListRules,
): Result<string[], string> {
  const value = raw[key];
  if (value === undefined) return ok([...DEFAULT_LABEL_POLICY[key]]);
  if (!Array.isArray(value)) {
    return err(`${FIELD}.${key} must be a list of label names (got ${describe(value)})`);
  }
  const firstIndexOf = new Map<string, number>();
  for (let i = 0; i < value.length; i++) {
    const name: unknown = value[i];
    const field = `${FIELD}.${key}[${i}]`;
    if (typeof name !== "string" || !isValidLabelName(name)) {
      return err(`${field} must be a valid label name (got ${describe(name)})`);
    }
    if (rules.maxNameLength !== undefined) {
      if (isReservedLabelName(name)) {
        return err(`${field} must not be a reserved label name (got ${describe(name)})`);
      }
      if (name.length > rules.maxNameLength) {
        return err(
          `${field} must be at most maxNameLength (${rules.maxNameLength}) characters long ` +
            `(got ${describe(name)})`,
        );
      }
    }
    const identity = rules.caseInsensitive ? name.toLowerCase() : name;
    const earlier = firstIndexOf.get(identity);
    if (earlier !== undefined) {
      return err(`${field} must not repeat ${FIELD}.${key}[${earlier}] (got ${describe(name)})`);
    }
    firstIndexOf.set(identity, i);
  }
  return ok([...(value as string[])]);
}

/** The player-privacy promise: these three can never be taken off the forbid list. */
function findMissingAlwaysForbidden(forbid: string[]): string | null {
  const present = new Set(forbid.map((name) => name.toLowerCase()));
  const missing = ALWAYS_FORBIDDEN_NAMES.find((name) => !present.has(name));
  if (missing === undefined) return null;
  return `${FIELD}.forbid must include "${missing}", which can never be stored (got ${describe(forbid)})`;
}

function findForbiddenEntry(key: ListField, names: string[], forbid: string[]): string | null {
  const matchForbidden = createForbiddenMatcher(forbid);
  for (let i = 0; i < names.length; i++) {
    const match = matchForbidden(names[i]);
    if (match === null) continue;
    const forbidIndex = forbid.findIndex((name) => name.toLowerCase() === match.forbidden);
    return (
      `${FIELD}.${key}[${i}] must not be a forbidden label (got ${describe(names[i])}, ` +
      `forbidden by ${FIELD}.forbid[${forbidIndex}] ${describe(forbid[forbidIndex])})`
    );
  }
  return null;
}

function copyConfig(config: Readonly<LabelPolicyConfig>): LabelPolicyConfig {
  return {
    ...config,
    allow: [...config.allow],
    forbid: [...config.forbid],
    identityLabels: [...config.identityLabels],
  };
}

function frozenList(names: string[]): string[] {
  return Object.freeze(names) as string[];
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** How a config value is quoted in an error: strings JSON-quoted, lists and maps as JSON. */
function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object" || value === null) return String(value);
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}
