/**
 * Config validation shared by the tenant modules: one error shape, and checks that name the
 * field and the value (STYLE §5): `tenants.tokenBucket.ratePerSec must be a number > 0 (got -1)`.
 */
import { err } from "../../agent/core/result";

export interface TenantConfigError {
  code: "TENANT_CONFIG";
  message: string;
}

export function configError(message: string): { ok: false; error: TenantConfigError } {
  return err({ code: "TENANT_CONFIG", message });
}

/** A value as it appears in an error message: strings quoted, everything else as JSON or String(). */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || value === undefined) return String(value);
  return JSON.stringify(value);
}

/** Why `value` is not a finite number > 0, or undefined when it is. */
export function notPositive(field: string, value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? undefined : `${field} must be a number > 0 (got ${show(value)})`;
}

/** Why `value` is not a finite number ≥ 0, or undefined when it is. */
export function notNonNegative(field: string, value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? undefined : `${field} must be a number ≥ 0 (got ${show(value)})`;
}

/** Why `value` is not an integer ≥ 1, or undefined when it is. */
export function notPositiveInteger(field: string, value: unknown): string | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 1 ? undefined : `${field} must be an integer ≥ 1 (got ${show(value)})`;
}

/** The first problem among `checks`, or undefined when there is none. */
export function firstProblem(...checks: (string | undefined)[]): string | undefined {
  for (const c of checks) if (c !== undefined) return c;
  return undefined;
}
