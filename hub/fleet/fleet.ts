/**
 * The hub's fleet view and the fleet-wide cadence switch.
 *
 * Agents describe themselves on every remote-write request (headers below); the hub keeps the
 * latest per (tenant, host) and answers `GET /api/v1/fleet`. A cadence rule
 * (`agent hub cadence incident --selector region=eu-west-1 --for 30m`) is matched against each
 * agent's identity labels on every request, and the answer carries
 *
 *   X-Edge-Hub-Cadence: incident; ttl=1742      (seconds left of the rule)
 *   X-Edge-Hub-Cadence: steady                  (rule removed while the agent still runs incident)
 *
 * so every matching agent switches at its next flush, and reverts on its own when the TTL ends
 * even if it never hears from this hub again. Rules are saved to `<dataDir>/fleet-cadence.json`
 * and survive a hub restart.
 *
 * Request headers an edge agent sends:
 *   X-Edge-Agent-Labels:   host=gs-0042,region=eu-west-1,az=eu-west-1a   (its identity labels)
 *   X-Edge-Agent-Version:  0.1.0
 *   X-Edge-Agent-Config:   sha256 prefix of its effective config
 *   X-Edge-Agent-Cadence:  steady | incident
 *   X-Edge-Agent-Series:   active series on the host
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Clock, Logger } from "../../agent/core/deps";
import { err, ok, type Result } from "../../agent/core/result";

export interface AgentSeen {
  tenant: string;
  host: string;
  labels: Record<string, string>;
  version: string;
  configHash: string;
  cadence: string;
  series: number;
  lastSeenMs: number;
  firstSeenMs: number;
  requests: number;
}

export interface CadenceRule {
  selector: Record<string, string>;
  mode: "incident";
  untilMs: number;
  createdMs: number;
}

export type Selector = Record<string, string>;

/** `region=eu-west-1,az=eu-west-1a` → { region: "eu-west-1", az: "eu-west-1a" }. Empty = every agent. */
export function parseSelector(text: string): Result<Selector, string> {
  const out: Selector = {};
  if (text.trim() === "" || text.trim() === "*") return ok(out);
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(key) || value === "") {
      return err(`selector part ${JSON.stringify(part)} must be label=value (e.g. region=eu-west-1)`);
    }
    out[key] = value;
  }
  return ok(out);
}

export function formatSelector(s: Selector): string {
  const parts = Object.entries(s).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(",") : "*";
}

export function matches(selector: Selector, labels: Record<string, string>): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** Parses `host=a,region=b`; malformed parts are skipped (the header is informational). */
export function parseAgentLabels(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

export function formatAgentLabels(labels: [string, string][] | Record<string, string>): string {
  const pairs = Array.isArray(labels) ? labels : Object.entries(labels);
  return pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",");
}

export interface AgentHeaders {
  labels?: string;
  version?: string;
  config?: string;
  cadence?: string;
  series?: string;
}

const MAX_AGENTS = 200_000;
const FORGET_AFTER_MS = 24 * 3600_000;

export class Fleet {
  private readonly agents = new Map<string, AgentSeen>();
  private rules: CadenceRule[] = [];
  private readonly file: string;

  constructor(
    dataDir: string,
    private readonly deps: { clock: Clock; log: Logger },
  ) {
    this.file = join(dataDir, "fleet-cadence.json");
    this.rules = this.load();
  }

  /** Records an agent's request; returns the cadence header to answer with, if any. */
  observe(tenant: string, h: AgentHeaders): string | undefined {
    if (h.labels === undefined) return undefined;
    const now = this.deps.clock.nowMs();
    const labels = this.parsed(h.labels);
    const host = labels.host ?? "?";
    const key = `${tenant}\u0000${host}`;
    let a = this.agents.get(key);
    if (a === undefined) {
      if (this.agents.size >= MAX_AGENTS) this.forgetOldest();
      a = { tenant, host, labels, version: "", configHash: "", cadence: "", series: 0, lastSeenMs: now, firstSeenMs: now, requests: 0 };
      this.agents.set(key, a);
    }
    a.labels = labels;
    a.version = h.version ?? a.version;
    a.configHash = h.config ?? a.configHash;
    a.cadence = h.cadence ?? a.cadence;
    const series = Number(h.series);
    if (Number.isFinite(series)) a.series = series;
    a.lastSeenMs = now;
    a.requests++;
    const rule = this.ruleFor(labels, now);
    if (rule) return `incident; ttl=${Math.max(1, Math.ceil((rule.untilMs - now) / 1000))}`;
    if (a.cadence === "incident" && this.hadRuleFor(labels)) return "steady";
    return undefined;
  }

  private readonly revoked: Selector[] = [];

  /** Parsed X-Edge-Agent-Labels by header text: an agent sends the same text every flush. */
  private readonly parsedLabels = new Map<string, Record<string, string>>();

  private parsed(header: string): Record<string, string> {
    let labels = this.parsedLabels.get(header);
    if (labels === undefined) {
      if (this.parsedLabels.size >= MAX_AGENTS) this.parsedLabels.clear();
      labels = Object.freeze(parseAgentLabels(header));
      this.parsedLabels.set(header, labels);
    }
    return labels;
  }

  private ruleFor(labels: Record<string, string>, now: number): CadenceRule | undefined {
    let best: CadenceRule | undefined;
    for (const r of this.rules) {
      if (r.untilMs > now && matches(r.selector, labels) && (!best || r.untilMs > best.untilMs)) best = r;
    }
    return best;
  }

  /** An agent still in incident mode that a removed rule had switched: tell it to go back. */
  private hadRuleFor(labels: Record<string, string>): boolean {
    return this.revoked.some((s) => matches(s, labels));
  }

  setCadence(selector: Selector, mode: "incident" | "steady", ttlSec: number): Result<CadenceRule[], string> {
    const now = this.deps.clock.nowMs();
    const key = formatSelector(selector);
    const before = this.rules.filter((r) => formatSelector(r.selector) === key);
    this.rules = this.rules.filter((r) => r.untilMs > now && formatSelector(r.selector) !== key);
    if (mode === "incident") {
      this.rules.push({ selector, mode, untilMs: now + ttlSec * 1000, createdMs: now });
      const i = this.revoked.findIndex((s) => formatSelector(s) === key);
      if (i >= 0) this.revoked.splice(i, 1);
    } else if (before.length > 0 || key === "*") {
      this.revoked.push(selector);
      if (this.revoked.length > 100) this.revoked.shift();
    }
    const saved = this.save();
    if (!saved.ok) return saved;
    this.deps.log.info("Fleet cadence changed.", { selector: key, mode, ttl_sec: mode === "incident" ? ttlSec : 0, matching_agents: this.count(selector) });
    return ok(this.activeRules());
  }

  activeRules(): CadenceRule[] {
    const now = this.deps.clock.nowMs();
    return this.rules.filter((r) => r.untilMs > now);
  }

  count(selector: Selector): number {
    let n = 0;
    for (const a of this.agents.values()) if (matches(selector, a.labels)) n++;
    return n;
  }

  view(selector: Selector = {}): { agents: (AgentSeen & { lastSeenAgoSec: number })[]; rules: CadenceRule[]; total: number } {
    const now = this.deps.clock.nowMs();
    const agents: (AgentSeen & { lastSeenAgoSec: number })[] = [];
    for (const a of this.agents.values()) {
      if (now - a.lastSeenMs > FORGET_AFTER_MS) {
        this.agents.delete(`${a.tenant}\u0000${a.host}`);
        continue;
      }
      if (matches(selector, a.labels)) agents.push({ ...a, lastSeenAgoSec: Math.round((now - a.lastSeenMs) / 1000) });
    }
    agents.sort((x, y) => (x.tenant === y.tenant ? x.host.localeCompare(y.host) : x.tenant.localeCompare(y.tenant)));
    return { agents, rules: this.activeRules(), total: this.agents.size };
  }

  /** Agents seen in the last `withinMs`, by cadence they reported. */
  cadenceCounts(withinMs: number): Record<string, number> {
    const now = this.deps.clock.nowMs();
    const out: Record<string, number> = {};
    for (const a of this.agents.values()) {
      if (now - a.lastSeenMs > withinMs) continue;
      const c = a.cadence || "unknown";
      out[c] = (out[c] ?? 0) + 1;
    }
    return out;
  }

  private forgetOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [k, a] of this.agents) {
      if (a.lastSeenMs < at) {
        at = a.lastSeenMs;
        oldest = k;
      }
    }
    if (oldest !== undefined) this.agents.delete(oldest);
  }

  private load(): CadenceRule[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch {
      return [];
    }
    try {
      const parsed = JSON.parse(text) as { rules?: CadenceRule[] };
      const now = this.deps.clock.nowMs();
      return (parsed.rules ?? []).filter(
        (r) => r && r.mode === "incident" && typeof r.untilMs === "number" && r.untilMs > now && typeof r.selector === "object" && r.selector !== null,
      );
    } catch (e) {
      this.deps.log.warn("Ignoring an unreadable fleet cadence file.", { file: this.file, error: (e as Error).message });
      return [];
    }
  }

  private save(): Result<void, string> {
    try {
      mkdirSync(join(this.file, ".."), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ rules: this.activeRules() }, null, 2));
      renameSync(tmp, this.file);
      return ok(undefined);
    } catch (e) {
      return err(`cannot save ${this.file}: ${(e as Error).message}`);
    }
  }
}
