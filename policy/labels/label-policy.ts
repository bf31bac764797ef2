/**
 * The label policy decides whether a series (metric name + labels) may be stored. It protects
 * player privacy: player IDs, raw IPs, request IDs and free text never leave the host.
 *
 * Ordering guarantee: checks run in a fixed order and the first failure is the verdict, so the
 * same series always gets the same verdict whatever the insertion order of its labels:
 *   1. invalid_metric_name
 *   2. too_many_labels (non-empty labels only: empty values are dropped downstream)
 *   3. per label, in ascending code-unit order of name:
 *        invalid_label_name → forbidden_label → label_not_allowed
 *        → value_too_long → pii_value → free_text   (value checks skip empty values)
 *
 * Cost: one sort of the label names plus linear scans of values capped at maxValueLength; meant
 * to run once per new series (the caller caches verdicts by series key). Messages never quote a
 * label value, because the value is what must not leave the host.
 */
import type { Labels } from "../../agent/core/points";
import type { LabelPolicyConfig } from "./config";
import {
  createForbiddenMatcher,
  describeInvalidMetricName,
  explainForbiddenMatch,
  isReservedLabelName,
  isValidLabelName,
} from "./label-names";
import { countCodePoints, findFreeText, findPersonalData } from "./value-checks";

export type RejectReason =
  | "forbidden_label"
  | "label_not_allowed"
  | "pii_value"
  | "free_text"
  | "too_many_labels"
  | "value_too_long"
  | "invalid_label_name"
  | "invalid_metric_name";

export type PolicyVerdict =
  | { ok: true }
  | { ok: false; reason: RejectReason; label?: string; message: string };

export interface LabelPolicy {
  check(metricName: string, labels: Labels): PolicyVerdict;
}

const ADMIT: PolicyVerdict = Object.freeze({ ok: true });

export function createLabelPolicy(config: LabelPolicyConfig): LabelPolicy {
  // Copied into lookups up front: later changes to `config` do not change the policy.
  const allowed = new Set([...config.allow, ...config.identityLabels]);
  const matchForbidden = createForbiddenMatcher(config.forbid);
  const { maxLabels, maxNameLength, maxValueLength, rejectPiiValues } = config;

  function checkLabelName(name: string): PolicyVerdict {
    const quoted = JSON.stringify(name);
    if (!isValidLabelName(name)) {
      return reject("invalid_label_name", name, `label ${quoted} is not a valid label name`);
    }
    if (isReservedLabelName(name)) {
      return reject("invalid_label_name", name, `label ${quoted} is reserved (${whyReserved(name)})`);
    }
    if (name.length > maxNameLength) {
      return reject(
        "invalid_label_name",
        name,
        `label ${quoted} is longer than ${maxNameLength} characters (got ${name.length})`,
      );
    }
    const forbidden = matchForbidden(name);
    if (forbidden !== null) {
      return reject(
        "forbidden_label",
        name,
        `label ${quoted} is forbidden (${explainForbiddenMatch(forbidden)})`,
      );
    }
    if (!allowed.has(name)) {
      return reject(
        "label_not_allowed",
        name,
        `label ${quoted} is not in the allow list (policy.labels.allow)`,
      );
    }
    return ADMIT;
  }

  function checkLabelValue(name: string, value: string): PolicyVerdict {
    if (value === "") return ADMIT;
    const quoted = JSON.stringify(name);
    if (value.length > maxValueLength) {
      // UTF-16 length is an upper bound on code points, so shorter values skip the count.
      const length = countCodePoints(value);
      if (length > maxValueLength) {
        return reject(
          "value_too_long",
          name,
          `label ${quoted} value has ${length} characters, more than the maximum of ${maxValueLength}`,
        );
      }
    }
    const personalData = rejectPiiValues ? findPersonalData(value) : null;
    if (personalData !== null) {
      return reject("pii_value", name, `label ${quoted} value ${personalData}`);
    }
    const freeText = findFreeText(value);
    if (freeText !== null) return reject("free_text", name, `label ${quoted} value ${freeText}`);
    return ADMIT;
  }

  return {
    check(metricName, labels) {
      const metricProblem = describeInvalidMetricName(metricName);
      if (metricProblem !== null) return reject("invalid_metric_name", undefined, metricProblem);

      const names = Object.keys(labels).sort();
      const storedCount = names.reduce((count, name) => (labels[name] === "" ? count : count + 1), 0);
      if (storedCount > maxLabels) {
        return reject(
          "too_many_labels",
          undefined,
          `series has ${storedCount} non-empty labels, more than the maximum of ${maxLabels}`,
        );
      }

      for (const name of names) {
        const nameVerdict = checkLabelName(name);
        if (!nameVerdict.ok) return nameVerdict;
        const valueVerdict = checkLabelValue(name, labels[name]);
        if (!valueVerdict.ok) return valueVerdict;
      }
      return ADMIT;
    },
  };
}

function whyReserved(name: string): string {
  if (name === "le") return "histogram buckets are generated by the agent";
  if (name === "quantile") return "summary quantiles are generated by the agent";
  return `the "__" prefix belongs to Prometheus internals`;
}

function reject(reason: RejectReason, label: string | undefined, message: string): PolicyVerdict {
  return label === undefined ? { ok: false, reason, message } : { ok: false, reason, label, message };
}
