/**
 * The orchestrator's side of the fleet generator: bundles fleet-generator-main.ts for Node once,
 * starts it as a child process (so its CPU is its own and measurable), and sends it commands.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { FleetConfig, FleetSummary, WindowStats } from "./fleet-generator";
import { NODE, ROOT, bundleForNode } from "./common";

let bundle: Promise<string> | undefined;

interface Reply {
  ok: boolean;
  error?: string;
  window?: WindowStats;
  summary?: FleetSummary;
  t0Ms?: number;
  bodyBytes?: { compressed: number; raw: number };
}

export class FleetProcess {
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];
  private stderr = "";
  t0Ms = 0;
  bodyBytes = { compressed: 0, raw: 0 };

  private constructor(readonly proc: ChildProcess) {
    let buf = "";
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.startsWith("GEN ")) continue;
        const w = this.waiters.shift();
        if (w) w(line.slice(4));
        else this.lines.push(line.slice(4));
      }
    });
    proc.stderr!.on("data", (d) => (this.stderr = (this.stderr + d).slice(-4000)));
  }

  static async start(config: FleetConfig): Promise<FleetProcess> {
    bundle ??= bundleForNode(join(ROOT, "bench", "lib", "fleet-generator-main.ts"));
    const file = await bundle;
    const json = JSON.stringify(config, (_k, v) => (v === Infinity ? null : v));
    const proc = spawn(NODE, [file], { env: { ...process.env, FLEET_CONFIG: json }, stdio: ["pipe", "pipe", "pipe"] });
    const g = new FleetProcess(proc);
    const ready = await g.next(60_000);
    g.t0Ms = ready.t0Ms ?? 0;
    g.bodyBytes = ready.bodyBytes ?? g.bodyBytes;
    return g;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private next(timeoutMs: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const parse = (l: string) => JSON.parse(l, (_k, v) => (v === "Infinity" ? Infinity : v)) as Reply;
      const queued = this.lines.shift();
      if (queued !== undefined) return resolve(parse(queued));
      const timer = setTimeout(() => reject(new Error(`fleet generator: no answer in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const onExit = () => reject(new Error(`fleet generator exited (${this.proc.exitCode}); stderr: ${this.stderr}`));
      this.proc.once("exit", onExit);
      this.waiters.push((l) => {
        clearTimeout(timer);
        this.proc.off("exit", onExit);
        resolve(parse(l));
      });
    });
  }

  async command(cmd: Record<string, unknown>, timeoutMs = 30_000): Promise<Reply> {
    this.proc.stdin!.write(JSON.stringify(cmd, (_k, v) => (v === Infinity ? null : v)) + "\n");
    const r = await this.next(timeoutMs);
    if (!r.ok) throw new Error(`fleet generator: ${cmd.cmd} failed: ${r.error}`);
    return r;
  }

  start(): Promise<Reply> {
    return this.command({ cmd: "start" });
  }
  setRate(samplesPerSec: number): Promise<Reply> {
    return this.command({ cmd: "rate", samplesPerSec });
  }
  async window(): Promise<WindowStats> {
    return (await this.command({ cmd: "window" })).window!;
  }
  async stop(timeoutMs = 120_000): Promise<{ window: WindowStats; summary: FleetSummary }> {
    const r = await this.command({ cmd: "stop" }, timeoutMs);
    return { window: r.window!, summary: r.summary! };
  }
  async exit(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.proc.stdin!.write(JSON.stringify({ cmd: "exit" }) + "\n");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(t);
  }
}
