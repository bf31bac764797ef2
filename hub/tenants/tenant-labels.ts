/**
 * MAX_TENANT_LABELS: bounds the `tenant` label of the hub's own per-tenant metrics, so a flood
 * of tenant ids (a misconfigured fleet, an attacker with valid tokens) cannot blow up the hub's
 * /metrics and whoever scrapes it.
 *
 * labelFor(tenantId) returns the id itself for the first `maxTenantLabels` distinct tenants
 * seen (default 1000) and "__overflow__" for every later one; their numbers are folded into
 * that one label (summed). Each labelFor() call answered with "__overflow__" counts in
 * `hub_tenant_label_overflow_total`, so its rate shows how much traffic is reported under the
 * overflow label. First come, first kept: the set never shrinks while the hub runs.
 */
import type { SelfFamily } from "../../agent/admin/prom-text";
import { ok, type Result } from "../../agent/core/result";
import { configError, notPositiveInteger, type TenantConfigError } from "./config-checks";

export const OVERFLOW_TENANT_LABEL = "__overflow__";

export interface TenantLabelsConfig {
  /** Distinct tenants that get their own label. Default 1000. */
  maxTenantLabels?: number;
}

export type ResolvedTenantLabelsConfig = Required<TenantLabelsConfig>;

export interface TenantLabels {
  labelFor(tenantId: string): string;
  /** Tenants that have their own label. */
  tracked(): number;
  overflowTotal(): number;
  /** hub_tenant_label_overflow_total and hub_tenant_labels_tracked. */
  families(): SelfFamily[];
}

export function parseTenantLabelsConfig(input: TenantLabelsConfig, field = "tenants"): Result<ResolvedTenantLabelsConfig, TenantConfigError> {
  const { maxTenantLabels = 1000 } = input;
  const problem = notPositiveInteger(`${field}.maxTenantLabels`, maxTenantLabels);
  return problem === undefined ? ok({ maxTenantLabels }) : configError(problem);
}

export function createTenantLabels(config: ResolvedTenantLabelsConfig): TenantLabels {
  const labelled = new Set<string>();
  let overflow = 0;
  return {
    labelFor(tenantId) {
      if (labelled.has(tenantId)) return tenantId;
      if (labelled.size < config.maxTenantLabels) {
        labelled.add(tenantId);
        return tenantId;
      }
      overflow++;
      return OVERFLOW_TENANT_LABEL;
    },
    tracked: () => labelled.size,
    overflowTotal: () => overflow,
    families: () => [
      {
        name: "hub_tenant_label_overflow_total",
        help: `Lookups of a tenant's metric label answered with "${OVERFLOW_TENANT_LABEL}" because maxTenantLabels tenants already have their own.`,
        type: "counter",
        samples: [{ labels: [], value: overflow }],
      },
      {
        name: "hub_tenant_labels_tracked",
        help: "Tenants with their own label in the hub's per-tenant metrics.",
        type: "gauge",
        samples: [{ labels: [], value: labelled.size }],
      },
    ],
  };
}
