import { expect, test } from "vitest";
import { createTenantLabels, OVERFLOW_TENANT_LABEL } from "../../../hub/tenants/tenant-labels";

test("the first N tenants keep their id, later ones share __overflow__ and are counted", () => {
  const labels = createTenantLabels({ maxTenantLabels: 2 });
  expect(labels.labelFor("a")).toBe("a");
  expect(labels.labelFor("b")).toBe("b");
  expect(labels.labelFor("c")).toBe(OVERFLOW_TENANT_LABEL);
  expect(labels.labelFor("a")).toBe("a");
  expect(labels.labelFor("d")).toBe(OVERFLOW_TENANT_LABEL);
  expect(labels.labelFor("c")).toBe(OVERFLOW_TENANT_LABEL);
  expect(labels.tracked()).toBe(2);
  expect(labels.families()).toEqual([
    expect.objectContaining({ name: "hub_tenant_label_overflow_total", type: "counter", samples: [{ labels: [], value: 3 }] }),
    expect.objectContaining({ name: "hub_tenant_labels_tracked", type: "gauge", samples: [{ labels: [], value: 2 }] }),
  ]);
});

test("default: 1000 tenants get their own label", () => {
  const labels = createTenantLabels({ maxTenantLabels: 1000 });
  for (let i = 0; i < 1000; i++) expect(labels.labelFor(`t${i}`)).toBe(`t${i}`);
  expect(labels.labelFor("t1000")).toBe(OVERFLOW_TENANT_LABEL);
  expect(labels.overflowTotal()).toBe(1);
});
