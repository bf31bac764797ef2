import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parseQueueConfig, type DiskQueueConfig } from "../../../agent/queue/config";

interface ConfigCase {
  name: string;
  config: DiskQueueConfig;
  expect?: unknown;
  error?: string;
}

const cases: ConfigCase[] = JSON.parse(readFileSync(join(__dirname, "testdata/config-cases.json"), "utf8"));

test.each(cases)("queue config: $name", ({ config, expect: expected, error }) => {
  const parsed = parseQueueConfig(config);
  if (error) expect(parsed).toEqual({ ok: false, error: { code: "QUEUE_CONFIG", message: error } });
  else expect(parsed).toEqual({ ok: true, value: expected });
});
