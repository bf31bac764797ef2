/**
 * A tiny validator for the agent's config tree. Every error names the field and the value:
 *   `policy.budget.maxSeries must be >= 1 (got -1)`
 * (zod did this job first; in the compiled binary it cost ~8 MiB of the 35 MiB RSS budget.)
 */
export type Check = (value: unknown, path: string) => string | undefined;

const got = (v: unknown) =>
  `(got ${typeof v === "number" && !Number.isFinite(v) ? String(v) : (JSON.stringify(v) ?? String(v))})`;
const where = (path: string) => path || "config";

export function num(opts: { int?: boolean; min?: number; max?: number } = {}): Check {
  return (v, path) => {
    if (typeof v !== "number" || !Number.isFinite(v)) return `${where(path)} must be a finite number ${got(v)}`;
    if (opts.int && !Number.isInteger(v)) return `${where(path)} must be a whole number ${got(v)}`;
    if (opts.min !== undefined && v < opts.min) return `${where(path)} must be >= ${opts.min} ${got(v)}`;
    if (opts.max !== undefined && v > opts.max) return `${where(path)} must be <= ${opts.max} ${got(v)}`;
    return undefined;
  };
}

export function str(opts: { nonEmpty?: boolean; test?: (s: string) => boolean; expect?: string } = {}): Check {
  return (v, path) => {
    if (typeof v !== "string") return `${where(path)} must be a string ${got(v)}`;
    if (opts.nonEmpty && v === "") return `${where(path)} must not be empty`;
    if (opts.test && !opts.test(v)) return `${where(path)} must be ${opts.expect ?? "valid"} ${got(v)}`;
    return undefined;
  };
}

/** One of `values`; `hint` (optional) is appended to the error, e.g. when a choice has a catch. */
export function oneOf(values: readonly string[], hint?: string): Check {
  return (v, path) =>
    typeof v === "string" && values.includes(v)
      ? undefined
      : `${where(path)} must be one of ${values.map((x) => JSON.stringify(x)).join(", ")} ${got(v)}${hint ? `; ${hint}` : ""}`;
}

export const anything: Check = () => undefined;

/**
 * A mapping. Keys are optional unless listed in `required`; unknown keys are errors (typos like
 * `alow`). An empty section (`otlp:` with nothing under it, i.e. null) means "all defaults".
 */
export function obj(fields: Record<string, Check>, opts: { allowUnknown?: boolean; required?: string[] } = {}): Check {
  return (v, path) => {
    if (v === null && !opts.required?.length) return undefined;
    if (v === null || typeof v !== "object" || Array.isArray(v)) return `${where(path)} must be a mapping ${got(v)}`;
    for (const k of opts.required ?? []) {
      if ((v as Record<string, unknown>)[k] === undefined) return `${path ? `${path}.` : ""}${k} is required`;
    }
    for (const [k, value] of Object.entries(v)) {
      const sub = path ? `${path}.${k}` : k;
      const check = fields[k];
      if (check === undefined) {
        if (opts.allowUnknown) continue;
        return `${sub} is not a known setting (see 'agent run --help' and README)`;
      }
      if (value === undefined) continue;
      const e = check(value, sub);
      if (e) return e;
    }
    return undefined;
  };
}

export function record(keyTest: (k: string) => boolean, keyExpect: string, value: Check): Check {
  return (v, path) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return `${where(path)} must be a mapping ${got(v)}`;
    for (const [k, val] of Object.entries(v)) {
      if (!keyTest(k)) return `${path}: key ${JSON.stringify(k)} must be ${keyExpect}`;
      const e = value(val, `${path}.${k}`);
      if (e) return e;
    }
    return undefined;
  };
}

export function list(item: Check): Check {
  return (v, path) => {
    if (!Array.isArray(v)) return `${where(path)} must be a list ${got(v)}`;
    for (let i = 0; i < v.length; i++) {
      const e = item(v[i], `${path}[${i}]`);
      if (e) return e;
    }
    return undefined;
  };
}
