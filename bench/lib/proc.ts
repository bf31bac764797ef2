/**
 * A benchmarked child process: its stdout+stderr appended to `logFile` (one file across restarts,
 * each start and signal marked), its CPU and RSS from /proc, kill and graceful stop.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import { procCpuSec, procStatus } from "./common";

/** A child process whose output is appended to `logFile`, with /proc figures. */
export class Proc {
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    readonly logFile: string,
    env: Record<string, string> = {},
  ) {
    appendFileSync(logFile, `--- bench: start ${new Date().toISOString()} ${cmd} ${args.join(" ")}\n`);
    this.proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    const write = (d: Buffer) => appendFileSync(logFile, d);
    this.proc.stdout!.on("data", write);
    this.proc.stderr!.on("data", write);
    this.exited = new Promise((r) => this.proc.once("exit", () => r()));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  cpuSec(): number {
    return procCpuSec(this.pid) ?? 0;
  }

  rssMiB(): number {
    return (procStatus(this.pid).VmRSS ?? 0) / 1024;
  }

  peakRssMiB(): number {
    return (procStatus(this.pid).VmHWM ?? 0) / 1024;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.alive) this.proc.kill(signal);
    await this.exited;
    appendFileSync(this.logFile, `--- bench: ${signal} ${new Date().toISOString()}\n`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.alive && this.proc.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

