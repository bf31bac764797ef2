/**
 * Hub configuration: YAML file (optional) over embedded defaults, then the quick-start flags
 * (`--listen`, `--upstream`, `--tenant NAME:TOKEN`). Every error names the field and the value:
 *   `tenants[2].upstream "amp-us" breaks residency: tenant is "eu", upstream is "us"`
 *
 * Config that would break a promise is refused here, at start, not discovered at runtime:
 * a tenant routed to an upstream of another residency, two tenants sharing a token, an unknown
 * upstream name, a budget evaluation slower than the throttle deadline.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { isListenAddress } from "../../agent/config/listen";
import { list, num, obj, oneOf, str } from "../../agent/config/schema";
import { FSYNC_POLICIES, MAX_SYNC_INTERVAL_MS, type FsyncPolicy } from "../../agent/queue/config";
import { err, ok, type Result } from "../../agent/core/result";
import { parseYamlText } from "../../agent/platform/yaml";

export interface UpstreamConfig {
  name: string;
  /** Prometheus remote-write URL (AMP: https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws>/api/v1/remote_write). */
  url: string;
  /** Data residency of the store behind it, e.g. "eu"; tenants with a residency only go to matching upstreams. */
  residency?: string;
  /** Sign requests with AWS SigV4 (AMP). */
  sigv4?: { region: string; service: string; profile?: string };
  bearerTokenFile?: string;
  basicAuth?: { username: string; passwordFile: string };
  /** Header carrying the tenant id for multi-tenant stores (Mimir/Cortex: X-Scope-OrgID). */
  tenantHeader?: string;
  /** Prometheus-compatible query API root, for the freshness probe (e.g. http://prom:9090). */
  queryUrl?: string;
  /**
   * Parallel senders (default: one per CPU, 2 to 16); one sender's records stay in order, agents
   * are spread across shards by host.
   */
  shards: number;
  /** Ceiling per shard while draining a backlog. */
  maxRequestsPerSec: number;
  queueMaxBytes: number;
  /**
   * When a write is acknowledged (the disk queue's fsync policy). "batch" (default): after an
   * fdatasync shared by the writes waiting together, so an acknowledged write survives a power
   * loss. "never": after write(2) into the page cache: it survives the hub being killed or
   * crashing, not a crash of its host (the kernel writes it back within ~30 s); for hubs that
   * must relay more than fdatasync allows (README "Durability and throughput"). "always": one
   * fdatasync per write.
   */
  fsync: FsyncPolicy;
  /**
   * With fsync "batch": the least time between two fdatasyncs of one queue shard, in ms (0: one
   * as soon as the last is done). Under load the writes of those ms share one fdatasync. Default
   * 4: into VictoriaMetrics on the 2-core bench box the hub relayed 0.87–0.93M samples/s against
   * ~0.8M with 0 (fewer fdatasyncs leave the store more CPU); with 32 senders into a store that
   * only counts, 1.39M against 1.52–1.57M (each write waits up to 4 ms more). README "Durability
   * and throughput".
   */
  fsyncIntervalMs: number;
}

export interface TenantLimits {
  /** Token-bucket rate; 0 = unlimited. */
  samplesPerSec: number;
  burstSamples: number;
  activeSeries: number;
  labelsPerSeries: number;
  /** Compressed request body. */
  maxRequestBytes: number;
}

export interface TenantConfig {
  id: string;
  /** sha256 hex of each accepted bearer token (tokens themselves are not kept in memory). */
  tokenHashes: string[];
  /** Subject of a client certificate that authenticates as this tenant (TLS with client auth). */
  clientCertSubject?: string;
  residency?: string;
  /** Upstreams this tenant may be written to; the first is the default. */
  upstreams: string[];
  limits: TenantLimits;
  budget?: { monthlyUsd: number };
}

export interface HubConfig {
  listen: string;
  dataDir: string;
  hubId: string;
  tls?: { certFile: string; keyFile: string; clientCaFile?: string; requireClientCert: boolean };
  /**
   * Client-certificate tenants behind a TLS-terminating proxy (an AWS ALB with mTLS puts the
   * verified subject in X-Amzn-Mtls-Clientcert-Subject). The header is believed only from
   * `trustedProxies` (IPv4 CIDRs or exact addresses). Without a proxy, `tls.clientCaFile` makes
   * the hub verify client certificates itself and match their subjects.
   */
  clientCert?: { subjectHeader: string; trustedProxies: string[] };
  /** sha256 hex of the admin token; fleet and admin endpoints answer 401 without it. Unset = admin endpoints off. */
  adminTokenHash?: string;
  limits: {
    maxDecompressedBytes: number;
    maxSeriesPerRequest: number;
    maxLabelNameBytes: number;
    maxLabelValueBytes: number;
    /** Hub-wide samples/s shared fairly between tenants when demand exceeds it; 0 = off. */
    capacitySamplesPerSec: number;
    /**
     * Series whose policy verdict is remembered (~600 B each). Keep it above twice the series
     * one hub instance sees within a few minutes, or verdicts are recomputed over and over.
     */
    seriesCacheEntries: number;
    /**
     * Intake pacing (hub/pipeline/intake-pacer.ts): while an upstream that answers has more than
     * this many bytes queued, new writes for it wait (≤ 1 s each) so its forwarder keeps up; 0 = off.
     */
    paceBacklogBytes: number;
  };
  /**
   * The hub's own label policy (defense in depth). `piiExemptLabels` skip the PII-value check:
   * by default `instance`, which every scraping sender fills with the target's IP:port.
   */
  policy: { forbid?: string[]; rejectPiiValues: boolean; piiExemptLabels: string[] };
  maxTenantLabels: number;
  dedupe: { windowSec: number; maxIds: number };
  pricing: { perSeriesHourUsd: number };
  /** Monthly budgets are per tenant; at 100 % of the projected spend non-critical metrics are throttled. */
  budget: {
    evaluateEverySec: number;
    throttleWithinSec: number;
    /** Metric-name globs that stay on when a tenant is throttled (default: up, *_slo_*, gameplay_*). */
    critical: string[];
  };
  freshness: { intervalSec: number; upstream?: string };
  upstreams: UpstreamConfig[];
  tenants: TenantConfig[];
  log: { level: "debug" | "info" | "warn" | "error" };
}

export const DEFAULT_TENANT_LIMITS: TenantLimits = {
  samplesPerSec: 0,
  burstSamples: 0,
  activeSeries: 5_000_000,
  labelsPerSeries: 40,
  maxRequestBytes: 16 * 1024 * 1024,
};

/**
 * Queue shards (parallel upstream senders) per upstream when not configured: one per CPU, 2 to 16.
 * Every shard fdatasyncs its own appends and keeps one request in flight. On the 2-core bench box
 * at 400k samples/s into VictoriaMetrics, 2 shards cost the hub 35 % of a core and the store 62 %,
 * against 40 % and 71 % with 4 (fuller fsync groups, fewer concurrent requests); at the box's
 * limit both counts sustain 700-800k samples/s. 1 shard could not deliver 400k/s.
 */
export const DEFAULT_SHARDS = Math.max(2, Math.min(16, availableParallelism()));

/** An upstream's settings when the config (or --upstream) leaves them out. */
const UPSTREAM_DEFAULTS = { shards: DEFAULT_SHARDS, maxRequestsPerSec: 200, queueMaxBytes: 2 * 1024 * 1024 * 1024, fsync: "batch", fsyncIntervalMs: 4 } as const satisfies Partial<UpstreamConfig>;

export const DEFAULT_CRITICAL_METRICS = ["up", "*_slo_*", "gameplay_*"];

export function defaultHubConfig(): HubConfig {
  return {
    listen: "0.0.0.0:9201",
    dataDir: "/var/lib/edge-hub",
    hubId: hostname(),
    limits: {
      maxDecompressedBytes: 64 * 1024 * 1024,
      maxSeriesPerRequest: 100_000,
      maxLabelNameBytes: 256,
      maxLabelValueBytes: 2048,
      capacitySamplesPerSec: 0,
      seriesCacheEntries: 1_000_000,
      paceBacklogBytes: 16 * 1024 * 1024,
    },
    policy: { rejectPiiValues: true, piiExemptLabels: ["instance"] },
    maxTenantLabels: 1000,
    dedupe: { windowSec: 900, maxIds: 2_000_000 },
    pricing: { perSeriesHourUsd: 0 },
    budget: { evaluateEverySec: 30, throttleWithinSec: 120, critical: [...DEFAULT_CRITICAL_METRICS] },
    freshness: { intervalSec: 15 },
    upstreams: [],
    tenants: [],
    log: { level: "info" },
  };
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const name = str({ test: (s) => NAME.test(s), expect: "1–63 letters, digits, '_', '.', '-'" });
const url = str({ test: isHttpUrl, expect: "an http(s) URL" });
const positiveInt = num({ int: true, min: 1 });
const nonNegative = num({ min: 0 });

const limitsSchema = obj({
  samplesPerSec: nonNegative,
  burstSamples: nonNegative,
  activeSeries: positiveInt,
  labelsPerSeries: positiveInt,
  maxRequestBytes: positiveInt,
});

const schema = obj({
  listen: str({ test: isListenAddress, expect: "host:port" }),
  dataDir: str({ nonEmpty: true }),
  hubId: name,
  tls: obj({ certFile: str({ nonEmpty: true }), keyFile: str({ nonEmpty: true }), clientCaFile: str(), requireClientCert: oneOfBool() }, { required: ["certFile", "keyFile"] }),
  adminTokenFile: str({ nonEmpty: true }),
  clientCert: obj(
    {
      subjectHeader: str({ test: (s) => /^[A-Za-z0-9-]+$/.test(s), expect: "an HTTP header name" }),
      trustedProxies: list(str({ test: isProxyAddress, expect: "an IPv4 address or CIDR (10.0.0.0/8) or an IPv6 address" })),
    },
    { required: ["subjectHeader", "trustedProxies"] },
  ),
  limits: obj({
    maxDecompressedBytes: positiveInt,
    maxSeriesPerRequest: positiveInt,
    maxLabelNameBytes: positiveInt,
    maxLabelValueBytes: positiveInt,
    capacitySamplesPerSec: nonNegative,
    seriesCacheEntries: num({ int: true, min: 1000 }),
    paceBacklogBytes: num({ int: true, min: 0 }),
  }),
  policy: obj({ forbid: list(str({ nonEmpty: true })), rejectPiiValues: oneOfBool(), piiExemptLabels: list(str({ nonEmpty: true })) }),
  maxTenantLabels: positiveInt,
  dedupe: obj({ windowSec: num({ min: 10, max: 7 * 24 * 3600 }), maxIds: positiveInt }),
  pricing: obj({ perSeriesHourUsd: nonNegative }),
  budget: obj({ evaluateEverySec: num({ min: 1, max: 3600 }), throttleWithinSec: num({ min: 1, max: 24 * 3600 }), critical: list(str({ nonEmpty: true })) }),
  freshness: obj({ intervalSec: num({ min: 1, max: 3600 }), upstream: name }),
  upstreams: list(
    obj(
      {
        name,
        url,
        residency: name,
        sigv4: obj({ region: str({ nonEmpty: true }), service: str({ nonEmpty: true }), profile: str({ nonEmpty: true }) }, { required: ["region"] }),
        bearerTokenFile: str({ nonEmpty: true }),
        basicAuth: obj({ username: str({ nonEmpty: true }), passwordFile: str({ nonEmpty: true }) }, { required: ["username", "passwordFile"] }),
        tenantHeader: str({ test: (s) => /^[A-Za-z0-9-]+$/.test(s), expect: "an HTTP header name" }),
        queryUrl: url,
        shards: num({ int: true, min: 1, max: 64 }),
        maxRequestsPerSec: num({ min: 0.1 }),
        queueMaxBytes: positiveInt,
        fsync: oneOf(FSYNC_POLICIES),
        fsyncIntervalMs: num({ min: 0, max: MAX_SYNC_INTERVAL_MS }),
      },
      { required: ["name", "url"] },
    ),
  ),
  tenants: list(
    obj(
      {
        id: name,
        tokenFile: str({ nonEmpty: true }),
        clientCertSubject: str({ nonEmpty: true }),
        residency: name,
        upstream: name,
        upstreams: list(name),
        limits: limitsSchema,
        budget: obj({ monthlyUsd: num({ min: 0 }) }, { required: ["monthlyUsd"] }),
      },
      { required: ["id"] },
    ),
  ),
  log: obj({ level: oneOf(["debug", "info", "warn", "error"]) }),
});

function oneOfBool() {
  return (v: unknown, path: string) => (typeof v === "boolean" ? undefined : `${path} must be true or false (got ${JSON.stringify(v)})`);
}

function isProxyAddress(s: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/.exec(s);
  if (v4) return v4.slice(1, 5).every((o) => Number(o) <= 255) && (v4[6] === undefined || Number(v4[6]) <= 32);
  return s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s);
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token.trim()).digest("hex");
}

/** Reads a token file; the token is its content without surrounding whitespace. */
export type ReadText = (file: string) => string;
const readTextFile: ReadText = (file) => readFileSync(file, "utf8");

interface RawTenant {
  id: string;
  tokenFile?: string;
  clientCertSubject?: string;
  residency?: string;
  upstream?: string;
  upstreams?: string[];
  limits?: Partial<TenantLimits>;
  budget?: { monthlyUsd: number };
}

type RawHub = Partial<Omit<HubConfig, "tenants" | "upstreams" | "limits" | "tls">> & {
  tls?: { certFile: string; keyFile: string; clientCaFile?: string; requireClientCert?: boolean };
  adminTokenFile?: string;
  clientCert?: { subjectHeader: string; trustedProxies: string[] };
  limits?: Partial<HubConfig["limits"]>;
  upstreams?: (Partial<UpstreamConfig> & { name: string; url: string; sigv4?: { region: string; service?: string; profile?: string } })[];
  tenants?: RawTenant[];
};

export async function parseHubConfig(yamlText: string, source = "config", readText: ReadText = readTextFile): Promise<Result<HubConfig, string>> {
  let raw: unknown;
  try {
    raw = (await parseYamlText(yamlText)) ?? {};
  } catch (e) {
    return err(`${source}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  return validateHubConfig(raw, readText);
}

export function validateHubConfig(raw: unknown, readText: ReadText = readTextFile): Result<HubConfig, string> {
  const problem = schema(raw, "");
  if (problem !== undefined) return err(problem);
  const c = raw as RawHub;
  const d = defaultHubConfig();
  const config: HubConfig = {
    ...d,
    listen: c.listen ?? d.listen,
    dataDir: c.dataDir ?? d.dataDir,
    hubId: c.hubId ?? d.hubId,
    limits: { ...d.limits, ...c.limits },
    policy: { ...d.policy, ...c.policy },
    maxTenantLabels: c.maxTenantLabels ?? d.maxTenantLabels,
    dedupe: { ...d.dedupe, ...c.dedupe },
    pricing: { ...d.pricing, ...c.pricing },
    budget: { ...d.budget, ...c.budget },
    freshness: { ...d.freshness, ...c.freshness },
    log: { ...d.log, ...c.log },
    upstreams: (c.upstreams ?? []).map((u) => ({
      name: u.name,
      url: u.url,
      residency: u.residency,
      sigv4: u.sigv4 ? { region: u.sigv4.region, service: u.sigv4.service ?? "aps", profile: u.sigv4.profile } : undefined,
      bearerTokenFile: u.bearerTokenFile,
      basicAuth: u.basicAuth,
      tenantHeader: u.tenantHeader,
      queryUrl: u.queryUrl,
      shards: u.shards ?? UPSTREAM_DEFAULTS.shards,
      maxRequestsPerSec: u.maxRequestsPerSec ?? UPSTREAM_DEFAULTS.maxRequestsPerSec,
      queueMaxBytes: u.queueMaxBytes ?? UPSTREAM_DEFAULTS.queueMaxBytes,
      fsync: u.fsync ?? UPSTREAM_DEFAULTS.fsync,
      fsyncIntervalMs: u.fsyncIntervalMs ?? UPSTREAM_DEFAULTS.fsyncIntervalMs,
    })),
    tenants: [],
  };
  if (c.tls) config.tls = { ...c.tls, requireClientCert: c.tls.requireClientCert ?? false };
  if (c.clientCert) config.clientCert = { subjectHeader: c.clientCert.subjectHeader, trustedProxies: [...c.clientCert.trustedProxies] };
  if (c.adminTokenFile) {
    const t = readToken(c.adminTokenFile, "adminTokenFile", readText);
    if (!t.ok) return t;
    config.adminTokenHash = hashToken(t.value);
  }
  for (let i = 0; i < (c.tenants ?? []).length; i++) {
    const t = c.tenants![i];
    const tokenHashes: string[] = [];
    if (t.tokenFile) {
      const tok = readToken(t.tokenFile, `tenants[${i}].tokenFile`, readText);
      if (!tok.ok) return tok;
      tokenHashes.push(hashToken(tok.value));
    }
    if (t.upstream && t.upstreams) return err(`tenants[${i}]: give upstream or upstreams, not both`);
    config.tenants.push({
      id: t.id,
      tokenHashes,
      clientCertSubject: t.clientCertSubject,
      residency: t.residency,
      upstreams: t.upstreams ?? (t.upstream ? [t.upstream] : []),
      limits: { ...DEFAULT_TENANT_LIMITS, ...t.limits },
      budget: t.budget,
    });
  }
  const checked = checkHubConfig(config);
  return checked ? err(checked) : ok(config);
}

function readToken(file: string, field: string, readText: ReadText): Result<string, string> {
  let text: string;
  try {
    text = readText(file).trim();
  } catch (e) {
    return err(`${field}: cannot read ${file}: ${(e as Error).message}`);
  }
  if (text.length < 16) return err(`${field}: the token in ${file} is shorter than 16 characters; use a long random token`);
  return ok(text);
}

export interface HubFlags {
  config?: string;
  listen?: string;
  dataDir?: string;
  upstream?: string[];
  tenant?: string[];
  adminTokenFile?: string;
  hubId?: string;
}

/**
 * Quick start: `--upstream URL` adds upstreams named default, upstream1, …; `--tenant NAME:TOKEN`
 * adds a tenant written to the first upstream. For demos and tests; production uses token files.
 */
export function applyHubFlags(base: HubConfig, flags: HubFlags, readText: ReadText = readTextFile): Result<HubConfig, string> {
  const c = structuredClone(base);
  if (flags.listen !== undefined) {
    if (!isListenAddress(flags.listen)) return err(`--listen must be host:port (got ${JSON.stringify(flags.listen)})`);
    c.listen = flags.listen;
  }
  if (flags.dataDir) c.dataDir = flags.dataDir;
  if (flags.hubId) c.hubId = flags.hubId;
  for (const u of flags.upstream ?? []) {
    if (!isHttpUrl(u)) return err(`--upstream must be an http(s) URL (got ${JSON.stringify(u)})`);
    const n = c.upstreams.length === 0 ? "default" : `upstream${c.upstreams.length}`;
    c.upstreams.push({ name: n, url: u, ...UPSTREAM_DEFAULTS });
  }
  for (const spec of flags.tenant ?? []) {
    const colon = spec.indexOf(":");
    const id = colon > 0 ? spec.slice(0, colon) : "";
    const token = colon > 0 ? spec.slice(colon + 1) : "";
    if (!NAME.test(id) || token.length === 0) return err(`--tenant must be NAME:TOKEN (got ${JSON.stringify(spec.replace(/:.*/, ":…"))})`);
    if (c.upstreams.length === 0) return err("--tenant needs an --upstream (or upstreams in the config)");
    c.tenants.push({
      id,
      tokenHashes: [hashToken(token)],
      upstreams: [c.upstreams[0].name],
      limits: { ...DEFAULT_TENANT_LIMITS },
    });
  }
  if (flags.adminTokenFile) {
    const t = readToken(flags.adminTokenFile, "--admin-token-file", readText);
    if (!t.ok) return t;
    c.adminTokenHash = hashToken(t.value);
  }
  const checked = checkHubConfig(c);
  return checked ? err(checked) : ok(c);
}

/** Cross-field rules. Returns the first problem, or undefined. */
export function checkHubConfig(c: HubConfig): string | undefined {
  const upstreams = new Map<string, UpstreamConfig>();
  for (let i = 0; i < c.upstreams.length; i++) {
    const u = c.upstreams[i];
    if (upstreams.has(u.name)) return `upstreams[${i}].name ${JSON.stringify(u.name)} is used twice`;
    if (u.sigv4 && (u.bearerTokenFile || u.basicAuth)) return `upstreams[${i}]: sigv4 signs the request itself; drop bearerTokenFile/basicAuth`;
    if (u.bearerTokenFile && u.basicAuth) return `upstreams[${i}]: give bearerTokenFile or basicAuth, not both`;
    upstreams.set(u.name, u);
  }
  const ids = new Set<string>();
  const tokens = new Map<string, string>();
  const subjects = new Map<string, string>();
  for (let i = 0; i < c.tenants.length; i++) {
    const t = c.tenants[i];
    if (ids.has(t.id)) return `tenants[${i}].id ${JSON.stringify(t.id)} is used twice`;
    ids.add(t.id);
    if (t.tokenHashes.length === 0 && !t.clientCertSubject) return `tenants[${i}] (${t.id}) needs a tokenFile or a clientCertSubject`;
    if (t.clientCertSubject) {
      const subject = normalizeSubject(t.clientCertSubject);
      const other = subjects.get(subject);
      if (other !== undefined) return `tenants[${i}] (${t.id}) uses the same clientCertSubject as tenant ${JSON.stringify(other)}`;
      subjects.set(subject, t.id);
    }
    if (t.clientCertSubject && !c.clientCert && !c.tls?.clientCaFile) {
      return `tenants[${i}] (${t.id}).clientCertSubject needs tls.clientCaFile (the hub verifies client certificates itself) or clientCert.subjectHeader and clientCert.trustedProxies (a TLS-terminating proxy verifies them, e.g. an ALB with mTLS)`;
    }
    for (const h of t.tokenHashes) {
      const other = tokens.get(h);
      if (other !== undefined) return `tenants[${i}] (${t.id}) uses the same token as tenant ${JSON.stringify(other)}`;
      tokens.set(h, t.id);
    }
    if (t.upstreams.length === 0) {
      if (c.upstreams.length === 0) return `tenants[${i}] (${t.id}): no upstream configured`;
      t.upstreams = [c.upstreams[0].name];
    }
    for (const n of t.upstreams) {
      const u = upstreams.get(n);
      if (!u) return `tenants[${i}] (${t.id}).upstream ${JSON.stringify(n)} is not in upstreams (have ${[...upstreams.keys()].join(", ") || "none"})`;
      if (t.residency !== undefined && u.residency !== t.residency) {
        return `tenants[${i}] (${t.id}).upstream ${JSON.stringify(n)} breaks residency: tenant is ${JSON.stringify(t.residency)}, upstream is ${JSON.stringify(u.residency ?? "unset")}`;
      }
    }
  }
  if (c.budget.evaluateEverySec > c.budget.throttleWithinSec) {
    return `budget.evaluateEverySec (${c.budget.evaluateEverySec}) must be <= budget.throttleWithinSec (${c.budget.throttleWithinSec})`;
  }
  if (c.freshness.upstream !== undefined && !upstreams.has(c.freshness.upstream)) {
    return `freshness.upstream ${JSON.stringify(c.freshness.upstream)} is not in upstreams`;
  }
  if (c.tls?.requireClientCert && !c.tls.clientCaFile) return "tls.requireClientCert needs tls.clientCaFile";
  return undefined;
}

/**
 * "CN=a, O=b", "CN=a,O=b" and "O=b,CN=a" are the same subject: proxies and TLS libraries print
 * the attributes in different orders (RFC 4514 reverses the certificate's). Escaped commas ("\,")
 * stay inside their value.
 */
export function normalizeSubject(s: string): string {
  return s
    .split(/(?<!\\),/)
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .sort()
    .join(",");
}
