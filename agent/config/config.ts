/**
 * Agent configuration: YAML file (optional) merged over embedded defaults, then CLI flags.
 * Every error names the field and the value: `statsd.listen must be host:port (got "8125")`.
 */
import { hostname } from "node:os";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { err, ok, type Result } from "../core/result";
import { DEFAULT_LABEL_POLICY, parseLabelPolicyConfig, type LabelPolicyConfig } from "../../policy/labels/config";

export interface AgentConfig {
  otlp: { listen: string; maxBodyBytes: number };
  statsd: { listen: string; maxDatagramBytes: number };
  admin: { listen: string };
  dataDir: string;
  cadence: { mode: "steady" | "incident"; steadyIntervalSec: number; incidentIntervalSec: number; incidentTtlSec: number };
  identity: { labels: Record<string, string> };
  policy: { labels: LabelPolicyConfig; budget: { maxSeries: number; idleExpirySec: number } };
  histograms: { maxBuckets: number; maxScale: number };
  remoteWrite: { url: string }[];
  log: { level: "debug" | "info" | "warn" | "error" };
}

export function defaultAgentConfig(): AgentConfig {
  return {
    otlp: { listen: "127.0.0.1:4318", maxBodyBytes: 16 * 1024 * 1024 },
    statsd: { listen: "127.0.0.1:8125", maxDatagramBytes: 65_507 },
    admin: { listen: "127.0.0.1:9464" },
    dataDir: "/var/lib/edge-agent",
    cadence: { mode: "steady", steadyIntervalSec: 10, incidentIntervalSec: 5, incidentTtlSec: 1800 },
    identity: { labels: { host: hostname() } },
    policy: { labels: DEFAULT_LABEL_POLICY, budget: { maxSeries: 300, idleExpirySec: 300 } },
    histograms: { maxBuckets: 160, maxScale: 20 },
    remoteWrite: [],
    log: { level: "info" },
  };
}

const LISTEN_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

const listen = z.string().refine((s) => isListenAddress(s), { message: "must be host:port" });
const positiveInt = z.number().int().min(1);

const schema = z
  .object({
    otlp: z.object({ listen, maxBodyBytes: positiveInt }).partial().strict(),
    statsd: z.object({ listen, maxDatagramBytes: positiveInt.max(65_535) }).partial().strict(),
    admin: z.object({ listen }).partial().strict(),
    dataDir: z.string().min(1),
    cadence: z
      .object({
        mode: z.enum(["steady", "incident"]),
        steadyIntervalSec: z.number().min(1).max(3600),
        incidentIntervalSec: z.number().min(1).max(3600),
        incidentTtlSec: z.number().min(1),
      })
      .partial()
      .strict(),
    identity: z.object({ labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), z.string()) }).partial().strict(),
    policy: z
      .object({
        labels: z.unknown(),
        budget: z.object({ maxSeries: positiveInt, idleExpirySec: z.number().min(1) }).partial().strict(),
      })
      .partial()
      .strict(),
    histograms: z
      .object({ maxBuckets: z.number().int().min(2).max(16_384), maxScale: z.number().int().min(-10).max(20) })
      .partial()
      .strict(),
    remoteWrite: z.array(z.object({ url: z.string().url() }).passthrough()),
    log: z.object({ level: z.enum(["debug", "info", "warn", "error"]) }).partial().strict(),
  })
  .partial()
  .strict();

export function isListenAddress(s: string): boolean {
  const m = LISTEN_RE.exec(s);
  return m !== null && Number(m[2]) <= 65_535;
}

/** Splits "host:port" / "[::1]:port" into parts (the caller validated it). */
export function splitListen(s: string): { host: string; port: number } {
  const m = LISTEN_RE.exec(s);
  if (!m) throw new Error(`BUG: unvalidated listen address ${s}`);
  return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

/** Parses YAML text into a full config over the defaults. */
export function parseAgentConfig(yamlText: string, source = "config"): Result<AgentConfig, string> {
  let raw: unknown;
  try {
    raw = parseYaml(yamlText) ?? {};
  } catch (e) {
    return err(`${source}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  return validateAgentConfig(raw);
}

export function validateAgentConfig(raw: unknown): Result<AgentConfig, string> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return err(formatIssue(parsed.error.issues[0], raw));
  const c = parsed.data;
  const d = defaultAgentConfig();
  let labels = d.policy.labels;
  if (c.policy?.labels !== undefined) {
    const r = parseLabelPolicyConfig(c.policy.labels);
    if (!r.ok) return err(r.error);
    labels = r.value;
  }
  return ok({
    otlp: { ...d.otlp, ...c.otlp },
    statsd: { ...d.statsd, ...c.statsd },
    admin: { ...d.admin, ...c.admin },
    dataDir: c.dataDir ?? d.dataDir,
    cadence: { ...d.cadence, ...c.cadence },
    identity: { labels: c.identity?.labels ?? d.identity.labels },
    policy: { labels, budget: { ...d.policy.budget, ...c.policy?.budget } },
    histograms: { ...d.histograms, ...c.histograms },
    remoteWrite: (c.remoteWrite ?? []).map((r) => ({ ...r, url: r.url })),
    log: { ...d.log, ...c.log },
  });
}

function formatIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
  if (issue.code === "unrecognized_keys") {
    const where = path ? `${path}.` : "";
    return `${where}${issue.keys[0]} is not a known setting (see 'agent run --help' and README)`;
  }
  const got = valueAt(raw, issue.path);
  const what = describeExpectation(issue);
  return `${path || "config"} ${what} (got ${JSON.stringify(got) ?? "nothing"})`;
}

function describeExpectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `must be a ${issue.expected}`;
    case "too_small":
      return `must be >= ${String(issue.minimum)}`;
    case "too_big":
      return `must be <= ${String(issue.maximum)}`;
    case "invalid_value":
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      return `must be a valid ${issue.format}`;
    default:
      return issue.message.replace(/^Invalid input: /, "must be valid: ");
  }
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}
