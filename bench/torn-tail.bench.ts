/**
 * Chaos: a damaged remote-write queue on disk. Only the damaged record may be lost; it must be
 * counted, and everything else must reach the store.
 *
 *   node_modules/bun/bin/bun.exe bench/torn-tail.bench.ts
 *   (or: npm run bench -- --only torn-tail;  AGENT_BIN=… runs another build)
 *
 * 1. Build a backlog: dist/agent with `remoteWrite: [{ url: <a closed 127.0.0.1 port>, name: prom }]`
 *    and `steadyIntervalSec: 1`, fed by StatsD (5 counters + a gauge that changes every 200 ms,
 *    so every flush record holds distinct values), until ≥ 12 flush records are queued; then
 *    SIGKILL it half-way between two flushes. Every frame of <dataDir>/queues/prom/*.seg is
 *    parsed (layout: agent/queue/frame.ts) and every record's WriteRequest decoded (snappyjs +
 *    the prompb reference codec), so the bench knows each record's exact samples.
 * 2. For each case, on a fresh copy of that data dir, damage the last segment by script:
 *      truncate        cut the last 5 bytes (a torn tail: the last record is incomplete)
 *      corrupt-last    flip 4 bytes inside the last record's payload (its CRC no longer matches)
 *      corrupt-middle  (extra) flip 4 bytes inside the payload of a record in the middle
 *      bad-length      (extra) set a middle record's payloadBytes to 16 MiB (a damaged header:
 *                      the reader has to resynchronise on the next intact frame)
 *      zero-tail       (extra) overwrite the whole last record with zeros (power loss after the
 *                      file size was updated but before its data reached the disk)
 *    then restart the agent on it, pointed at a fresh Prometheus 2.42, and read back every raw
 *    sample of the host.
 * Per case: PASS when exactly the damaged record's samples are missing, every other queued
 * record's samples are stored with their exact values, agent_queue_dropped_records_total
 * {reason="corrupt"} = 1, no 4xx, and the queue drains. TORN-TAIL: PASS when the two cases
 * the issue names (truncate, corrupt-last) pass; the extra cases are reported beside them.
 */
import { createSocket } from "node:dgram";
import { cpSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, closeSync, writeSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as snappyjs from "snappyjs";
import { isFrameIntact, parseFrameHeader, KIND_RECORD, FRAME_HEADER_BYTES } from "../agent/queue/frame";
import { prometheus } from "../agent/sinks/remote-write/prompb/prompb.js";
import { AgentRun, agentDescription, Prometheus, agentPorts, labelKey, logSummary, requireBinaries, sumOf, writeAgentConfig } from "./lib/chaos";
import { freeTcpPort, sleep, table, runIfMain } from "./lib/common";

const HOST = "torn-host";
const MIN_RECORDS = 12;
const CASES = ["truncate", "corrupt-last", "corrupt-middle", "bad-length", "zero-tail"] as const;
const REQUIRED: readonly string[] = ["truncate", "corrupt-last"];
type CaseName = (typeof CASES)[number];

interface QueuedRecord {
  index: number;
  position: number;
  frameBytes: number;
  payloadAt: number;
  payloadBytes: number;
  id: string;
  /** "labelKey|tsMs" → value */
  samples: Map<string, number>;
}

function segmentFiles(queueDir: string): string[] {
  return readdirSync(queueDir)
    .filter((f) => /^\d{20}\.seg$/.test(f))
    .sort();
}

/** Every frame of the last segment; throws on any damage (the pristine copy must be intact). */
function readQueue(queueDir: string): { lastSegment: string; records: QueuedRecord[]; segments: number } {
  const segs = segmentFiles(queueDir);
  if (segs.length === 0) throw new Error(`no segment in ${queueDir}`);
  const records: QueuedRecord[] = [];
  for (const seg of segs) {
    const buf = new Uint8Array(readFileSync(join(queueDir, seg)));
    let at = 0;
    while (at < buf.length) {
      const h = parseFrameHeader(buf, at);
      if (!h || !isFrameIntact(buf, at, h)) throw new Error(`${seg}: damaged frame at ${at} in the pristine queue`);
      if (h.kind === KIND_RECORD) {
        const id = new TextDecoder().decode(buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + h.idBytes));
        const payloadAt = at + FRAME_HEADER_BYTES + h.idBytes;
        const payload = buf.slice(payloadAt, payloadAt + h.payloadBytes);
        const wr = prometheus.WriteRequest.decode(snappyjs.uncompress(payload)) as unknown as {
          timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: unknown }[] }[];
        };
        const samples = new Map<string, number>();
        for (const ts of wr.timeseries) {
          const labels = Object.fromEntries(ts.labels.map((l) => [l.name, l.value]));
          for (const s of ts.samples) samples.set(`${labelKey(labels)}|${Number(String(s.timestamp))}`, s.value);
        }
        if (seg === segs[segs.length - 1]) records.push({ index: records.length, position: at, frameBytes: h.frameBytes, payloadAt, payloadBytes: h.payloadBytes, id, samples });
        else records.push({ index: records.length, position: -1, frameBytes: h.frameBytes, payloadAt: -1, payloadBytes: h.payloadBytes, id, samples });
      }
      at += h.frameBytes;
    }
  }
  return { lastSegment: segs[segs.length - 1], records, segments: segs.length };
}

function flipBytes(file: string, at: number, n: number): void {
  const fd = openSync(file, "r+");
  try {
    const b = Buffer.alloc(n);
    const cur = readFileSync(file).subarray(at, at + n);
    for (let i = 0; i < n; i++) b[i] = cur[i] ^ 0xff;
    writeSync(fd, b, 0, n, at);
  } finally {
    closeSync(fd);
  }
}

function writeU32(file: string, at: number, v: number): void {
  const fd = openSync(file, "r+");
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v, 0);
    writeSync(fd, b, 0, 4, at);
  } finally {
    closeSync(fd);
  }
}

/** Damages the copy; returns the index of the record that should be lost and a description. */
function damage(name: CaseName, segFile: string, records: QueuedRecord[]): { lost: number; what: string } {
  const inLast = records.filter((r) => r.position >= 0);
  const last = inLast[inLast.length - 1];
  const middle = inLast[Math.floor(inLast.length / 2)];
  const size = statSync(segFile).size;
  switch (name) {
    case "truncate":
      truncateSync(segFile, size - 5);
      return { lost: last.index, what: `${size} → ${size - 5} bytes (record ${last.index}, ${last.frameBytes} B frame at ${last.position}, loses its last 5 bytes)` };
    case "corrupt-last": {
      const at = last.payloadAt + Math.floor(last.payloadBytes / 2);
      flipBytes(segFile, at, 4);
      return { lost: last.index, what: `4 bytes flipped at ${at}, inside record ${last.index}'s payload` };
    }
    case "corrupt-middle": {
      const at = middle.payloadAt + Math.floor(middle.payloadBytes / 2);
      flipBytes(segFile, at, 4);
      return { lost: middle.index, what: `4 bytes flipped at ${at}, inside record ${middle.index}'s payload (of ${records.length})` };
    }
    case "bad-length":
      writeU32(segFile, middle.position + 8, 16 * 1024 * 1024);
      return { lost: middle.index, what: `payloadBytes of record ${middle.index} (at ${middle.position}) set to 16 MiB` };
    case "zero-tail": {
      const fd = openSync(segFile, "r+");
      try {
        writeSync(fd, Buffer.alloc(last.frameBytes), 0, last.frameBytes, last.position);
      } finally {
        closeSync(fd);
      }
      return { lost: last.index, what: `record ${last.index} (${last.frameBytes} B at ${last.position}) overwritten with zeros` };
    }
  }
}

interface CaseResult {
  name: CaseName;
  what: string;
  lostExpected: number;
  lostRecords: number[];
  partial: number[];
  delivered: number;
  corrupt: number;
  otherDropped: number;
  pendingEnd: number;
  rejected4xx: number;
  valuesWrong: number;
  damageLog: string[];
  pass: boolean;
}

async function buildBacklog(work: string): Promise<{ dataDir: string }> {
  const dataDir = join(work, "pristine");
  const closedPort = await freeTcpPort(); // nothing listens there
  const ports = await agentPorts();
  const config = writeAgentConfig(
    dataDir,
    ports,
    HOST,
    [`cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }`, `remoteWrite: [{ url: "http://127.0.0.1:${closedPort}/api/v1/write", name: prom, histograms: native }]`].join("\n"),
  );
  const agent = new AgentRun(config, ports, join(work, "agent-build.log"));
  const udp = createSocket("udp4");
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    const lines = [...Array.from({ length: 5 }, (_, i) => `torn.c:${i + 1}|c|#shard_id:${i + 1}`), `torn.tick:${tick}|g`];
    udp.send(Buffer.from(lines.join("\n")), ports.statsd, "127.0.0.1");
  }, 200);
  try {
    await agent.waitReady();
    const deadline = Date.now() + 40_000;
    for (;;) {
      const m = await agent.metrics();
      const pending = sumOf(m, "agent_queue_records_pending", { sink: "prom" });
      const sinceFlush = Date.now() - sumOf(m, "agent_last_flush_timestamp_seconds") * 1000;
      if (pending >= MIN_RECORDS && sinceFlush >= 350 && sinceFlush <= 650) break;
      if (Date.now() > deadline) throw new Error(`backlog did not reach ${MIN_RECORDS} records (pending ${pending})`);
      await sleep(25);
    }
    await agent.kill("SIGKILL");
  } finally {
    clearInterval(timer);
    udp.close();
    if (agent.alive) await agent.kill("SIGKILL");
  }
  return { dataDir };
}

async function runCase(name: CaseName, work: string, pristine: string, records: QueuedRecord[], lastSegment: string): Promise<CaseResult> {
  const dataDir = join(work, name);
  cpSync(pristine, dataDir, { recursive: true });
  const segFile = join(dataDir, "queues", "prom", lastSegment);
  const { lost, what } = damage(name, segFile, records);
  const prom = await Prometheus.start(join(work, `prometheus-${name}`));
  const ports = await agentPorts();
  const config = writeAgentConfig(
    dataDir,
    ports,
    HOST,
    [`cadence: { steadyIntervalSec: 1, incidentIntervalSec: 1 }`, `remoteWrite: [{ url: "${prom.writeUrl}", name: prom, histograms: native }]`].join("\n"),
  );
  const logFile = join(work, `agent-${name}.log`);
  const agent = new AgentRun(config, ports, logFile);
  try {
    await agent.waitReady();
    // Wait until every record that should survive is in Prometheus (or 30 s).
    const expectedKeys = records.filter((r) => r.index !== lost).flatMap((r) => [...r.samples.keys()]);
    let stored = new Map<string, number>();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const raw = await prom.raw(`{host="${HOST}"}`, 600);
      stored = new Map(raw.flatMap((r) => r.samples.map(([t, v]) => [`${labelKey(r.labels)}|${t}`, v] as [string, number])));
      if (expectedKeys.every((k) => stored.has(k)) || Date.now() > deadline) break;
      await sleep(500);
    }
    await sleep(1500); // let a later (wrong) delivery of the damaged record show up too
    const raw = await prom.raw(`{host="${HOST}"}`, 600);
    stored = new Map(raw.flatMap((r) => r.samples.map(([t, v]) => [`${labelKey(r.labels)}|${t}`, v] as [string, number])));
    const m = await agent.metrics();
    const lostRecords: number[] = [];
    const partial: number[] = [];
    let valuesWrong = 0;
    for (const r of records) {
      let present = 0;
      for (const [k, v] of r.samples) {
        if (stored.has(k)) {
          present++;
          if (stored.get(k) !== v) valuesWrong++;
        }
      }
      if (present === 0) lostRecords.push(r.index);
      else if (present < r.samples.size) partial.push(r.index);
    }
    const corrupt = sumOf(m, "agent_queue_dropped_records_total", { sink: "prom", reason: "corrupt" });
    const otherDropped = sumOf(m, "agent_queue_dropped_records_total", { sink: "prom" }) - corrupt;
    const pendingEnd = sumOf(m, "agent_queue_records_pending", { sink: "prom" });
    const rejected4xx = m.filter((s) => s.name === "agent_sink_requests_total" && /^4\d\d$/.test(s.labels.status)).reduce((n, s) => n + s.value, 0);
    const damageLog = readFileSync(logFile, "utf8")
      .split("\n")
      .filter((l) => /level=(warn|error)/.test(l) && /corrupt|damage|torn|truncat/i.test(l));
    const pass =
      lostRecords.length === 1 && lostRecords[0] === lost && partial.length === 0 && valuesWrong === 0 && corrupt === 1 && otherDropped === 0 && pendingEnd <= 1 && rejected4xx === 0;
    return { name, what, lostExpected: lost, lostRecords, partial, delivered: records.length - lostRecords.length, corrupt, otherDropped, pendingEnd, rejected4xx, valuesWrong, damageLog, pass };
  } finally {
    if (agent.alive) await agent.stop();
    await prom.kill("SIGTERM");
  }
}

async function main(): Promise<void> {
  requireBinaries();
  const watchdog = setTimeout(() => {
    console.error("torn-tail: watchdog: still running after 240 s; giving up");
    process.exit(1);
  }, 240_000);
  const work = mkdtempSync(join(tmpdir(), "torn-tail-"));
  let keep = false;
  try {
    console.log(`torn-tail: agent ${agentDescription()}, work dir ${work}`);
    const { dataDir } = await buildBacklog(work);
    const queueDir = join(dataDir, "queues", "prom");
    const { lastSegment, records, segments } = readQueue(queueDir);
    const samples = records.reduce((n, r) => n + r.samples.size, 0);
    console.log(
      `Backlog: ${records.length} records (${samples} samples) in ${segments} segment(s), last ${lastSegment} ${statSync(join(queueDir, lastSegment)).size} bytes; ids ${records[0].id} … ${records[records.length - 1].id}`,
    );
    const results: CaseResult[] = [];
    for (const c of CASES) {
      const r = await runCase(c, work, dataDir, records, lastSegment);
      results.push(r);
      console.log(`  ${c}: ${r.what}`);
      for (const l of r.damageLog.slice(0, 3)) console.log(`    agent: ${l.slice(0, 300)}`);
    }
    console.log("");
    console.log(
      table(
        ["case", "records", "delivered", "lost (expected)", "partly stored", "wrong values", "dropped corrupt", "other drops", "pending", "4xx", ""],
        results.map((r) => [
          r.name + (REQUIRED.includes(r.name) ? "" : " (extra)"),
          records.length,
          r.delivered,
          `${r.lostRecords.join(",") || "none"} (${r.lostExpected})`,
          r.partial.length,
          r.valuesWrong,
          r.corrupt,
          r.otherDropped,
          r.pendingEnd,
          r.rejected4xx,
          r.pass ? "PASS" : "FAIL",
        ]),
      ),
    );
    for (const r of results) {
      if (!r.pass) {
        const s = logSummary(readFileSync(join(work, `agent-${r.name}.log`), "utf8"));
        if (s.length) console.log(`${r.name}: agent warn/error lines: ${s.map((x) => `${x.level} "${x.msg}" ×${x.count}`).join("; ")}`);
      }
    }
    const pass = results.filter((r) => REQUIRED.includes(r.name)).every((r) => r.pass);
    const extras = results.filter((r) => !REQUIRED.includes(r.name));
    console.log(`Required cases (truncate, corrupt-last): only the damaged record lost, counted as corrupt, the rest delivered → ${pass ? "PASS" : "FAIL"}`);
    console.log(`Extra cases: ${extras.map((r) => `${r.name} ${r.pass ? "PASS" : "FAIL"}`).join(", ")}`);
    if (!pass || extras.some((r) => !r.pass)) keep = true;
    console.log(`TORN-TAIL: ${pass ? "PASS" : "FAIL"}`);
  } finally {
    clearTimeout(watchdog);
    if (keep || process.env.CHAOS_KEEP === "1") console.log(`(work dir kept: ${work})`);
    else rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
