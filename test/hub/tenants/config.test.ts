import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parseActiveSeriesConfig } from "../../../hub/tenants/active-series";
import { parseBudgetGuardConfig } from "../../../hub/tenants/budget-guard";
import { parseCostConfig } from "../../../hub/tenants/cost-config";
import { parseFairShareConfig } from "../../../hub/tenants/fair-share";
import { parseTenantLabelsConfig } from "../../../hub/tenants/tenant-labels";
import { parseTokenBucketConfig } from "../../../hub/tenants/token-bucket";

interface ConfigCase {
  module: keyof typeof PARSERS;
  name: string;
  config: never;
  expect?: unknown;
  error?: string;
}

const PARSERS = {
  tokenBucket: parseTokenBucketConfig,
  fairShare: parseFairShareConfig,
  activeSeries: parseActiveSeriesConfig,
  cost: parseCostConfig,
  budget: parseBudgetGuardConfig,
  tenantLabels: parseTenantLabelsConfig,
};

const cases: ConfigCase[] = JSON.parse(readFileSync(join(__dirname, "testdata/config-cases.json"), "utf8"));

test.each(cases)("$module config: $name", ({ module, config, expect: expected, error }) => {
  const parsed = PARSERS[module](config);
  if (error) expect(parsed).toEqual({ ok: false, error: { code: "TENANT_CONFIG", message: error } });
  else expect(parsed).toEqual({ ok: true, value: expected });
});
