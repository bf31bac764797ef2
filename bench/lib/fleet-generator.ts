/**
 * Synthetic fleet generator: N agents × 300 series (fleet-wire.ts), each agent sending one snappy
 * Prometheus remote-write 1.0 request per flush with its own `X-Edge-Agent-Batch-Id: host:seq`
 * and the headers a real agent sends (X-Edge-Agent-Labels, -Version, -Config, -Cadence, -Series).
 * Runs under Node. HTTP is node:http with one keep-alive Agent (`maxInFlight` sockets): undici is
 * not a dependency of this repo, and node:http already pushes ~3.5M samples/s (11.6k requests/s of
 * 300 samples) into a null sink at ~60 % of one core here. The generator is cheap because each
 * agent's body is compressed once and only 14 bytes per sample are patched per flush.
 *
 * One request in flight per agent (as the agent's sink), at most `maxInFlight` in total over at
 * most `maxInFlight` keep-alive connections. Two ways to pace:
 *
 *   paced     offered samples/s set by setRate() (Infinity = as fast as maxInFlight allows). A
 *             token bucket releases whole requests; each goes to the next idle agent (round
 *             robin), as its next flush. Simulated time: flush k of an agent carries the samples
 *             n = k·S … k·S+S−1 at t0 + n·cadence, however fast flushes come (t0 in the past).
 *   realtime  every agent flushes every `cadenceMs · S` of wall time (phase-spread), timestamps
 *             as above with t0 = start: a real fleet. Behind schedule (retrying), an agent sends
 *             its missed flushes back to back, oldest first, like an agent draining its queue.
 *
 * Retries (`retry: true`): a connection error, a timeout, a 5xx or a 429 is retried with the same
 * body and batch id after 50–250 ms (Retry-After honoured up to `maxRetryAfterMs`); a request
 * that failed other than by "connection refused" may have reached the receiver ("ambiguous").
 * Without retry a failed flush is counted and the agent moves on.
 *
 * Figures: per window (reset by takeWindow()): requests by class (2xx, 429, 5xx, other 4xx,
 * network error), samples acknowledged, latency p50/p90/p99/max of requests answered (connection
 * errors excluded), the generator's own CPU. Acknowledged flushes are recorded per agent (a 2xx
 * for seq k means samples k·S … k·S+S−1 of all 300 series were accepted).
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { AgentBody, SERIES_PER_AGENT, agentIdentity, type AgentIdentity } from "./fleet-wire";

export interface FleetConfig {
  /** Remote-write URL, e.g. http://127.0.0.1:9201/api/v1/write. */
  url: string;
  agents: number;
  /** Samples per series per request (flush); 1 = a 10 s agent flush of a 10 s cadence. */
  samplesPerSeries: number;
  /** Spacing of consecutive samples of a series (simulated time in paced mode). */
  cadenceMs: number;
  /** Timestamp of sample 0; default: now (realtime) or now − 12 h (paced). */
  t0Ms?: number;
  mode: "paced" | "realtime";
  /** Offered samples/s in paced mode (Infinity: as fast as maxInFlight allows). */
  rateSamplesPerSec?: number;
  maxInFlight: number;
  bearerToken?: string;
  retry: boolean;
  timeoutMs?: number;
  maxRetryAfterMs?: number;
  /** Prefix of the host label; different per run so runs into one store stay apart. */
  runTag?: string;
  /** Agents 0..agents−1 are this process's; `agentOffset` shifts the indices (several generators). */
  agentOffset?: number;
}

/** Paced mode: how many seconds of offered flushes may wait for a free slot before being dropped. */
const TOKEN_BUCKET_SEC = 1;

export interface WindowStats {
  seconds: number;
  requests: number;
  ok2xx: number;
  r429: number;
  r5xx: number;
  r4xx: number;
  netErrors: number;
  samplesAcked: number;
  samplesOffered: number;
  ackedSamplesPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; n: number };
  cpuPct: number;
  rssMiB: number;
  inFlight: number;
  /** Paced: flushes dropped because every slot stayed busy for over 1 s of offered load. */
  deferred: number;
  errors: Record<string, number>;
}

export interface AgentAcks {
  host: string;
  agent: number;
  /** Acknowledged flush seqs as [from, to] inclusive ranges. */
  acked: [number, number][];
  /** Flushes given up on (paced mode without retry: the failed ones). */
  failed: number;
  /** Next flush seq (flushes 0..next−1 were attempted). */
  next: number;
  /** Seqs whose request failed at least once other than by "connection refused" (maybe stored twice). */
  ambiguous: number[];
}

export interface FleetSummary {
  config: FleetConfig & { t0Ms: number };
  bodyBytes: { compressed: number; raw: number };
  samplesPerRequest: number;
  totals: Omit<WindowStats, "seconds" | "ackedSamplesPerSec" | "latencyMs" | "cpuPct" | "rssMiB" | "inFlight"> & { retries: number };
  agents: AgentAcks[];
}

interface AgentState {
  index: number;
  id: AgentIdentity;
  body: AgentBody;
  headers: Record<string, string | number>;
  busy: boolean;
  next: number;
  acked: Uint8Array;
  failed: number;
  ambiguous: number[];
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class FleetGenerator {
  readonly t0Ms: number;
  private readonly agents: AgentState[] = [];
  private readonly http: HttpAgent;
  private readonly target: URL;
  private readonly samplesPerRequest: number;
  private rate: number;
  private running = false;
  private inFlight = 0;
  private rr = 0;
  private tokens = 0;
  private lastTick = 0;
  private ticker: NodeJS.Timeout | undefined;
  private realtimeLoops: Promise<void>[] = [];
  private slotWaiters: (() => void)[] = [];
  // window counters
  private w = this.emptyWindow();
  private wStart = performance.now();
  private wCpu = process.cpuUsage();
  private lat: number[] = [];
  private totals = { requests: 0, ok2xx: 0, r429: 0, r5xx: 0, r4xx: 0, netErrors: 0, samplesAcked: 0, samplesOffered: 0, deferred: 0, retries: 0, errors: {} as Record<string, number> };

  constructor(readonly config: FleetConfig) {
    const now = Date.now();
    this.t0Ms = config.t0Ms ?? (config.mode === "realtime" ? Math.floor(now / 1000) * 1000 : Math.floor((now - 12 * 3600_000) / 1000) * 1000);
    this.target = new URL(config.url);
    this.http = new HttpAgent({ keepAlive: true, maxSockets: config.maxInFlight, maxFreeSockets: config.maxInFlight, scheduling: "lifo" });
    this.rate = config.rateSamplesPerSec ?? Infinity;
    this.samplesPerRequest = SERIES_PER_AGENT * config.samplesPerSeries;
    const offset = config.agentOffset ?? 0;
    for (let i = 0; i < config.agents; i++) {
      const index = offset + i;
      const id = agentIdentity(index, config.runTag ?? "gs");
      const labels = Object.entries(id).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",");
      this.agents.push({
        index,
        id,
        body: new AgentBody(index, id, config.samplesPerSeries),
        headers: {
          "content-type": "application/x-protobuf",
          "content-encoding": "snappy",
          "x-prometheus-remote-write-version": "0.1.0",
          "user-agent": "edge-agent-fleet-generator/1",
          "x-edge-agent-labels": labels,
          "x-edge-agent-version": "0.1.0+bench",
          "x-edge-agent-config": "b3nchf1eet00",
          "x-edge-agent-cadence": "steady",
          "x-edge-agent-series": String(SERIES_PER_AGENT),
          ...(config.bearerToken ? { authorization: `Bearer ${config.bearerToken}` } : {}),
        },
        busy: false,
        next: 0,
        acked: new Uint8Array(1024),
        failed: 0,
        ambiguous: [],
      });
    }
  }

  get bodyBytes(): { compressed: number; raw: number } {
    const a = this.agents[0];
    return { compressed: a.body.body.length, raw: a.body.rawBytes };
  }

  setRate(samplesPerSec: number): void {
    this.rate = samplesPerSec;
    this.tokens = 0;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.takeWindow();
    if (this.config.mode === "paced") {
      this.lastTick = performance.now();
      this.ticker = setInterval(() => this.tick(), 2);
    } else {
      const flushMs = this.config.cadenceMs * this.config.samplesPerSeries;
      this.realtimeLoops = this.agents.map((a, i) => this.realtimeLoop(a, (i * flushMs) / this.agents.length));
    }
  }

  /** Stops new flushes; resolves when every request (and retry) in flight has finished. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    for (const w of this.slotWaiters.splice(0)) w();
    await Promise.all(this.realtimeLoops);
    while (this.inFlight > 0 || this.agents.some((a) => a.busy)) await sleep(10);
  }

  close(): void {
    this.http.destroy();
  }

  // ---- paced mode -------------------------------------------------------------------------

  private tick(): void {
    if (!this.running) return;
    const now = performance.now();
    const dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    const spr = this.samplesPerRequest;
    if (Number.isFinite(this.rate)) {
      // Flushes wait (as a real agent's queued flush does) while every slot is busy, up to 1 s of
      // them; beyond that they are dropped and counted as deferred. (Dropping them the moment
      // all slots were busy punished a relay for any brief stall it would have caught up on.)
      this.tokens += this.rate * dt;
      const cap = Math.max(spr, this.rate * TOKEN_BUCKET_SEC);
      if (this.tokens > cap) {
        const n = Math.floor((this.tokens - cap) / spr);
        this.w.deferred += n;
        this.totals.deferred += n;
        this.tokens -= n * spr;
      }
    }
    while (this.inFlight < this.config.maxInFlight && (!Number.isFinite(this.rate) || this.tokens >= spr)) {
      const a = this.nextIdleAgent();
      if (a === undefined) break;
      if (Number.isFinite(this.rate)) this.tokens -= spr;
      void this.flushPaced(a);
    }
  }

  private nextIdleAgent(): AgentState | undefined {
    const n = this.agents.length;
    for (let k = 0; k < n; k++) {
      const a = this.agents[this.rr];
      this.rr = (this.rr + 1) % n;
      if (!a.busy) return a;
    }
    return undefined;
  }

  private async flushPaced(a: AgentState): Promise<void> {
    a.busy = true;
    const seq = a.next++;
    a.body.patch(seq, this.t0Ms, this.config.cadenceMs);
    const ok = await this.sendWithRetries(a, seq);
    if (!ok) a.failed++;
    a.busy = false;
  }

  // ---- realtime mode ----------------------------------------------------------------------

  private async realtimeLoop(a: AgentState, phaseMs: number): Promise<void> {
    const flushMs = this.config.cadenceMs * this.config.samplesPerSeries;
    while (this.running) {
      // Flush k holds samples up to t0 + ((k+1)·S − 1)·cadence; it is due once that moment passed.
      const dueAt = this.t0Ms + (a.next + 1) * flushMs - this.config.cadenceMs + phaseMs;
      const wait = dueAt - Date.now();
      if (wait > 0) {
        await sleep(Math.min(wait, 200));
        continue;
      }
      await this.acquireSlot();
      if (!this.running) {
        this.releaseSlot();
        break;
      }
      a.busy = true;
      const seq = a.next++;
      a.body.patch(seq, this.t0Ms, this.config.cadenceMs);
      this.w.samplesOffered += this.samplesPerRequest;
      this.totals.samplesOffered += this.samplesPerRequest;
      const ok = await this.sendWithRetries(a, seq, true);
      if (!ok) a.failed++;
      a.busy = false;
      this.releaseSlot();
    }
  }

  private slotsUsed = 0;
  private async acquireSlot(): Promise<void> {
    while (this.slotsUsed >= this.config.maxInFlight && this.running) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.slotsUsed++;
  }
  private releaseSlot(): void {
    this.slotsUsed--;
    this.slotWaiters.shift()?.();
  }

  // ---- one request ------------------------------------------------------------------------

  /** Sends flush `seq` of agent `a` until a 2xx (or a final answer); true when acknowledged. */
  private async sendWithRetries(a: AgentState, seq: number, counted = false): Promise<boolean> {
    if (!counted) {
      this.w.samplesOffered += this.samplesPerRequest;
      this.totals.samplesOffered += this.samplesPerRequest;
    }
    let attempt = 0;
    let ambiguous = false;
    for (;;) {
      attempt++;
      if (attempt > 1) this.totals.retries++;
      const r = await this.post(a, seq);
      this.count(r.status, r.error);
      if (r.status >= 200 && r.status < 300) {
        this.markAcked(a, seq);
        this.w.samplesAcked += this.samplesPerRequest;
        this.totals.samplesAcked += this.samplesPerRequest;
        if (ambiguous) a.ambiguous.push(seq);
        return true;
      }
      if (r.status === 0 && r.error !== "ECONNREFUSED") ambiguous = true;
      const retryable = r.status === 0 || r.status === 429 || r.status >= 500;
      if (!this.config.retry || !retryable) {
        if (ambiguous) a.ambiguous.push(seq);
        return false;
      }
      // A real agent keeps retrying; so does this one, also after stop() (until acknowledged).
      let delay = 50 + Math.random() * 200;
      if (r.retryAfterSec !== undefined) delay = Math.max(delay, Math.min(r.retryAfterSec * 1000, this.config.maxRetryAfterMs ?? 1000));
      await sleep(delay);
    }
  }

  private post(a: AgentState, seq: number): Promise<{ status: number; error?: string; retryAfterSec?: number }> {
    this.inFlight++;
    const body = a.body.body;
    const t0 = performance.now();
    return new Promise((resolve) => {
      let done = false;
      const finish = (status: number, error?: string, retryAfterSec?: number) => {
        if (done) return;
        done = true;
        this.inFlight--;
        if (status !== 0) this.lat.push(performance.now() - t0);
        resolve({ status, error, retryAfterSec });
      };
      const req = httpRequest(
        {
          agent: this.http,
          host: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname + this.target.search,
          method: "POST",
          headers: { ...a.headers, "x-edge-agent-batch-id": `${a.id.host}:${seq}`, "content-length": body.length },
        },
        (res) => {
          res.on("data", () => {});
          res.on("end", () => {
            const ra = res.headers["retry-after"];
            finish(res.statusCode ?? 0, undefined, ra !== undefined && /^\d+$/.test(String(ra)) ? Number(ra) : undefined);
          });
          res.on("error", (e: NodeJS.ErrnoException) => finish(0, e.code ?? "response_error"));
        },
      );
      req.setTimeout(this.config.timeoutMs ?? 30_000, () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
      req.on("error", (e: NodeJS.ErrnoException) => finish(0, e.code ?? e.message));
      req.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    });
  }

  private count(status: number, error?: string): void {
    for (const c of [this.w, this.totals]) {
      c.requests++;
      if (status >= 200 && status < 300) c.ok2xx++;
      else if (status === 429) c.r429++;
      else if (status >= 500) c.r5xx++;
      else if (status >= 400) c.r4xx++;
      else c.netErrors++;
      if (status === 0 || status >= 300) {
        const k = status === 0 ? (error ?? "error") : `HTTP ${status}`;
        c.errors[k] = (c.errors[k] ?? 0) + 1;
      }
    }
  }

  private markAcked(a: AgentState, seq: number): void {
    if (seq >= a.acked.length) {
      let size = a.acked.length * 2;
      while (size <= seq) size *= 2;
      const b = new Uint8Array(size);
      b.set(a.acked);
      a.acked = b;
    }
    a.acked[seq] = 1;
  }

  // ---- figures ----------------------------------------------------------------------------

  private emptyWindow() {
    return { requests: 0, ok2xx: 0, r429: 0, r5xx: 0, r4xx: 0, netErrors: 0, samplesAcked: 0, samplesOffered: 0, deferred: 0, errors: {} as Record<string, number> };
  }

  /** Figures since the last call (or start), then starts a new window. */
  takeWindow(): WindowStats {
    const now = performance.now();
    const seconds = (now - this.wStart) / 1000;
    const cpu = process.cpuUsage(this.wCpu);
    const lat = Float64Array.from(this.lat).sort();
    const w = this.w;
    const out: WindowStats = {
      seconds,
      ...w,
      ackedSamplesPerSec: seconds > 0 ? w.samplesAcked / seconds : 0,
      latencyMs: { p50: percentile(lat, 50), p90: percentile(lat, 90), p99: percentile(lat, 99), max: lat.length ? lat[lat.length - 1] : 0, n: lat.length },
      cpuPct: seconds > 0 ? ((cpu.user + cpu.system) / 1e6 / seconds) * 100 : 0,
      rssMiB: process.memoryUsage.rss() / 1048576,
      inFlight: this.inFlight,
    };
    this.w = this.emptyWindow();
    this.lat = [];
    this.wStart = now;
    this.wCpu = process.cpuUsage();
    return out;
  }

  summary(): FleetSummary {
    return {
      config: { ...this.config, t0Ms: this.t0Ms },
      bodyBytes: this.bodyBytes,
      samplesPerRequest: this.samplesPerRequest,
      totals: this.totals,
      agents: this.agents.map((a) => ({ host: a.id.host, agent: a.index, acked: ranges(a.acked, a.next), failed: a.failed, next: a.next, ambiguous: a.ambiguous })),
    };
  }
}

function ranges(bits: Uint8Array, n: number): [number, number][] {
  const out: [number, number][] = [];
  let from = -1;
  for (let i = 0; i <= n; i++) {
    const on = i < n && bits[i] === 1;
    if (on && from < 0) from = i;
    if (!on && from >= 0) {
      out.push([from, i - 1]);
      from = -1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child-process protocol (fleet-generator-main.ts runs it under Node; fleet-driver.ts talks to it)
//
//   stdin, one JSON command per line:  {"cmd":"start"} {"cmd":"rate","samplesPerSec":400000}
//                                      {"cmd":"window"} {"cmd":"stop"} {"cmd":"exit"}
//   stdout, one line per command:      GEN {"ok":true,...}

export async function runFleetGeneratorCli(): Promise<void> {
  const config = JSON.parse(process.env.FLEET_CONFIG ?? process.argv[2] ?? "{}") as FleetConfig;
  if (config.rateSamplesPerSec === null) config.rateSamplesPerSec = Infinity;
  const gen = new FleetGenerator(config);
  const reply = (o: unknown) => process.stdout.write(`GEN ${JSON.stringify(o, (_k, v) => (v === Infinity ? "Infinity" : v))}\n`);
  reply({ ok: true, ready: true, t0Ms: gen.t0Ms, bodyBytes: gen.bodyBytes, pid: process.pid });
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", async (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const c = JSON.parse(line) as { cmd: string; samplesPerSec?: number | null };
      try {
        if (c.cmd === "start") {
          gen.start();
          reply({ ok: true });
        } else if (c.cmd === "rate") {
          gen.setRate(c.samplesPerSec === null || c.samplesPerSec === undefined ? Infinity : c.samplesPerSec);
          reply({ ok: true });
        } else if (c.cmd === "window") {
          reply({ ok: true, window: gen.takeWindow() });
        } else if (c.cmd === "stop") {
          const w = gen.takeWindow();
          await gen.stop();
          reply({ ok: true, window: w, summary: gen.summary() });
        } else if (c.cmd === "exit") {
          gen.close();
          reply({ ok: true });
          process.exit(0);
        } else reply({ ok: false, error: `unknown command ${c.cmd}` });
      } catch (e) {
        reply({ ok: false, error: String((e as Error).stack ?? e) });
      }
    }
  });
}
