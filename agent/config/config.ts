/**
 * Agent configuration: YAML file (optional) merged over embedded defaults, then CLI flags.
 * Every error names the field and the value: `statsd.listen must be host:port (got "8125")`.
 *
 * remoteWrite[] (one sink each, with its own disk queue):
 *   url, name, protocol (prometheus | otlp), histograms (native | classic), bearerTokenFile,
 *   queueMaxBytes,
 *   maxRequestsPerSec (default 20): ceiling on requests per second, also while a backlog drains
 *     after an outage. With the default oldest-first order every flush waits behind the backlog,
 *     so the ceiling must exceed the flush rate (requests per flush ÷ flush interval) or the
 *     drain never catches up; remoteWriteWarnings() warns below 2 requests per flush interval.
 *   order (default "oldest-first"): "oldest-first" sends strictly in queue order, as Prometheus
 *     remote write 1.0 requires (per-series timestamp order; Prometheus answers 400 to
 *     out-of-order samples unless out_of_order_time_window is set). "fresh-first" is for stores
 *     that accept out-of-order samples (VictoriaMetrics, Mimir/AMP with an out-of-order window,
 *     Prometheus with out_of_order_time_window): while a backlog is queued, each new flush is
 *     sent at once, ahead of it, so dashboards stay current while the backlog drains.
 */
import { hostname } from "node:os";
import { parseYamlText } from "../platform/yaml";
import { err, ok, type Result } from "../core/result";
import { isListenAddress } from "./listen";
import { anything, list, num, obj, oneOf, record, str } from "./schema";

export { isListenAddress, splitListen } from "./listen";
import { DEFAULT_LABEL_POLICY, parseLabelPolicyConfig, type LabelPolicyConfig } from "../../policy/labels/config";
import { createLabelPolicy } from "../../policy/labels/label-policy";
import type { RemoteWriteTarget } from "../pipeline/delivery";
import { DEFAULT_SINK_SETTINGS } from "../sinks/remote-write/remote-write-sink";

export interface AgentConfig {
  otlp: { listen: string; maxBodyBytes: number };
  statsd: { listen: string; maxDatagramBytes: number };
  admin: { listen: string };
  dataDir: string;
  cadence: { mode: "steady" | "incident"; steadyIntervalSec: number; incidentIntervalSec: number; incidentTtlSec: number };
  identity: { labels: Record<string, string> };
  policy: { labels: LabelPolicyConfig; budget: { maxSeries: number; idleExpirySec: number } };
  histograms: { maxBuckets: number; maxScale: number };
  remoteWrite: RemoteWriteTarget[];
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

const listen = str({ test: isListenAddress, expect: "host:port" });
const positiveInt = num({ int: true, min: 1 });

const schema = obj({
  otlp: obj({ listen, maxBodyBytes: positiveInt }),
  statsd: obj({ listen, maxDatagramBytes: num({ int: true, min: 1, max: 65_535 }) }),
  admin: obj({ listen }),
  dataDir: str({ nonEmpty: true }),
  cadence: obj({
    mode: oneOf(["steady", "incident"]),
    steadyIntervalSec: num({ min: 1, max: 3600 }),
    incidentIntervalSec: num({ min: 1, max: 3600 }),
    incidentTtlSec: num({ min: 1, max: 7 * 24 * 3600 }),
  }),
  identity: obj({ labels: record((k) => /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k), "a valid label name", str()) }),
  policy: obj({
    labels: anything,
    budget: obj({ maxSeries: positiveInt, idleExpirySec: num({ min: 1 }) }),
  }),
  histograms: obj({ maxBuckets: num({ int: true, min: 2, max: 16_384 }), maxScale: num({ int: true, min: -10, max: 20 }) }),
  remoteWrite: list(
    obj(
      {
        url: str({ test: isUrl, expect: "a URL" }),
        name: str({ test: (n) => /^[a-zA-Z0-9_-]{1,64}$/.test(n), expect: "a name of letters, digits, _ and -" }),
        protocol: oneOf(["prometheus", "otlp"]),
        histograms: oneOf(["native", "classic"]),
        bearerTokenFile: str({ nonEmpty: true }),
        maxRequestsPerSec: num({ min: 0.1, max: 10_000 }),
        queueMaxBytes: num({ int: true, min: 1024 * 1024 }),
        order: oneOf(["oldest-first", "fresh-first"], "fresh-first needs a store that accepts out-of-order samples"),
      },
      { required: ["url"] },
    ),
  ),
  log: obj({ level: oneOf(["debug", "info", "warn", "error"]) }),
});

/** The config file as written: every key optional. */
interface RawConfig {
  otlp?: Partial<AgentConfig["otlp"]>;
  statsd?: Partial<AgentConfig["statsd"]>;
  admin?: Partial<AgentConfig["admin"]>;
  dataDir?: string;
  cadence?: Partial<AgentConfig["cadence"]>;
  identity?: { labels?: Record<string, string> };
  policy?: { labels?: unknown; budget?: Partial<AgentConfig["policy"]["budget"]> };
  histograms?: Partial<AgentConfig["histograms"]>;
  remoteWrite?: RemoteWriteTarget[];
  log?: Partial<AgentConfig["log"]>;
}

/**
 * The identity labels go on every series, so they obey the same policy as the game's labels: a
 * forbidden name (player_id) or a PII-looking value would otherwise leak on every sample.
 */
function checkIdentityLabels(identity: Record<string, string>, policyConfig: LabelPolicyConfig): string | undefined {
  const allowed = new Set([...policyConfig.allow, ...policyConfig.identityLabels]);
  const policy = createLabelPolicy({ ...policyConfig, allow: [...allowed] });
  const verdict = policy.check("agent_identity", identity);
  if (!verdict.ok) return `identity.labels${verdict.label ? `.${verdict.label}` : ""}: ${verdict.message}`;
  return undefined;
}

/** Minimum requests a sink's ceiling must allow per flush interval to drain a backlog. */
const MIN_REQUESTS_PER_FLUSH = 2;

/**
 * Settings that are valid but likely wrong, one sentence each (logged as warnings at start):
 * a drain ceiling so low that a backlog built during an outage could never drain.
 */
export function remoteWriteWarnings(config: AgentConfig): string[] {
  const intervalSec = Math.min(config.cadence.steadyIntervalSec, config.cadence.incidentIntervalSec);
  const warnings: string[] = [];
  config.remoteWrite.forEach((t, i) => {
    const ceiling = t.maxRequestsPerSec ?? DEFAULT_SINK_SETTINGS.maxRequestsPerSec;
    if (ceiling * intervalSec >= MIN_REQUESTS_PER_FLUSH) return;
    warnings.push(
      `remoteWrite[${i}].maxRequestsPerSec ${ceiling} allows fewer than ${MIN_REQUESTS_PER_FLUSH} requests per ${intervalSec} s flush interval: ` +
        `a backlog after an outage may never drain (set at least ${MIN_REQUESTS_PER_FLUSH / intervalSec}).`,
    );
  });
  return warnings;
}

function isUrl(s: string): boolean {
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

/** Parses YAML text into a full config over the defaults. */
export async function parseAgentConfig(yamlText: string, source = "config"): Promise<Result<AgentConfig, string>> {
  let raw: unknown;
  try {
    raw = (await parseYamlText(yamlText)) ?? {};
  } catch (e) {
    return err(`${source}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  return validateAgentConfig(raw);
}

export function validateAgentConfig(raw: unknown): Result<AgentConfig, string> {
  const problem = schema(raw, "");
  if (problem !== undefined) return err(problem);
  const c = raw as RawConfig;
  const d = defaultAgentConfig();
  let labels = d.policy.labels;
  if (c.policy?.labels !== undefined) {
    const r = parseLabelPolicyConfig(c.policy.labels);
    if (!r.ok) return err(r.error);
    labels = r.value;
  }
  const identity = c.identity?.labels ?? d.identity.labels;
  const identityProblem = checkIdentityLabels(identity, labels);
  if (identityProblem) return err(identityProblem);
  return ok({
    otlp: { ...d.otlp, ...c.otlp },
    statsd: { ...d.statsd, ...c.statsd },
    admin: { ...d.admin, ...c.admin },
    dataDir: c.dataDir ?? d.dataDir,
    cadence: { ...d.cadence, ...c.cadence },
    identity: { labels: identity },
    policy: { labels, budget: { ...d.policy.budget, ...c.policy?.budget } },
    histograms: { ...d.histograms, ...c.histograms },
    remoteWrite: (c.remoteWrite ?? []).map((r) => ({ ...r })),
    log: { ...d.log, ...c.log },
  });
}
