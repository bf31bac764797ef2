/**
 * The synthetic fleet's wire bytes: one Prometheus remote-write 1.0 request per agent flush,
 * encoded ONCE per agent with "holes" where the sample values and timestamps go, so a flush only
 * patches 14 bytes per sample in the already-compressed body instead of encoding and compressing
 * it again (BASELINES: a generator that encodes live in Node tops out near 290k samples/s).
 *
 * Uncompressed layout (prometheus.WriteRequest, hand-written protobuf):
 *
 *   0a len TimeSeries {                       one per series, labels sorted by name
 *     0a len Label { 0a len name  12 len value }  × 8   (__name__ az build_id cluster host
 *                                                        instance_type region shard_id)
 *     12 10 Sample { 09 <8-byte LE double>  10 <6-byte varint timestamp ms> }  × samplesPerSeries
 *   }
 *
 * The timestamp is always written as a 6-byte varint (valid for 2^35 ≤ ms < 2^42, i.e. 1971 to
 * 2109), so every flush has the same length and the same offsets.
 *
 * Compressed layout: a Snappy block (raw format, as PRW uses) made by `compressWithHoles`: label
 * bytes are compressed with ordinary back-references (the 8 labels repeat heavily across the 300
 * series), while every value/timestamp byte is emitted inside a literal and is never the source
 * of a back-reference. Overwriting those literal bytes therefore yields a valid Snappy block of
 * the patched WriteRequest. `dstValueOffset[i]` / `dstTimestampOffset[i]` locate sample i (series
 * order, then sample order) in the compressed body.
 */

// ---------------------------------------------------------------------------------------------
// The fleet's label space

export const FLEET_REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"];
export const FLEET_INSTANCE_TYPES = ["c6i.2xlarge", "c6i.4xlarge", "c7g.2xlarge", "m6i.2xlarge", "c6a.4xlarge", "c7i.4xlarge"];
export const FLEET_BUILDS = ["2026.11.3-7f3a9c", "2026.11.3-b21e04", "2026.11.4-0c9d1a", "2026.11.5-e4f2b8"];

/** ~30 game-server metrics; counters end in _total and only ever grow. */
export const FLEET_METRICS: { name: string; counter: boolean }[] = [
  { name: "gameserver_players_connected", counter: false },
  { name: "gameserver_matches_active", counter: false },
  { name: "gameserver_tick_duration_seconds", counter: false },
  { name: "gameserver_tick_overruns_total", counter: true },
  { name: "gameserver_matches_started_total", counter: true },
  { name: "gameserver_matches_finished_total", counter: true },
  { name: "gameserver_player_joins_total", counter: true },
  { name: "gameserver_player_leaves_total", counter: true },
  { name: "gameserver_network_bytes_sent_total", counter: true },
  { name: "gameserver_network_bytes_received_total", counter: true },
  { name: "gameserver_packets_dropped_total", counter: true },
  { name: "gameserver_rpc_calls_total", counter: true },
  { name: "gameserver_rpc_errors_total", counter: true },
  { name: "gameserver_rpc_latency_seconds_sum", counter: true },
  { name: "gameserver_rpc_latency_seconds_count", counter: true },
  { name: "gameserver_matchmaking_queue_length", counter: false },
  { name: "gameserver_matchmaking_wait_seconds", counter: false },
  { name: "gameserver_anticheat_flags_total", counter: true },
  { name: "gameserver_chat_messages_total", counter: true },
  { name: "gameserver_inventory_writes_total", counter: true },
  { name: "gameserver_db_queries_total", counter: true },
  { name: "gameserver_db_query_errors_total", counter: true },
  { name: "gameserver_cache_hits_total", counter: true },
  { name: "gameserver_cache_misses_total", counter: true },
  { name: "process_cpu_seconds_total", counter: true },
  { name: "process_resident_memory_bytes", counter: false },
  { name: "process_open_fds", counter: false },
  { name: "node_load1", counter: false },
  { name: "node_memory_available_bytes", counter: false },
  { name: "gameplay_crashes_total", counter: true },
];

/** 30 metrics × 10 shard ids = 300 series per agent. */
export const SHARD_IDS_PER_AGENT = 10;
export const SERIES_PER_AGENT = FLEET_METRICS.length * SHARD_IDS_PER_AGENT;

export interface AgentIdentity {
  host: string;
  region: string;
  az: string;
  cluster: string;
  instance_type: string;
  build_id: string;
}

/** Deterministic identity of agent `i` (the `host` label is unique per agent; `runTag` keeps runs apart). */
export function agentIdentity(i: number, runTag = "gs"): AgentIdentity {
  const region = FLEET_REGIONS[i % FLEET_REGIONS.length];
  const az = `${region}${"abc"[Math.floor(i / FLEET_REGIONS.length) % 3]}`;
  return {
    host: `${runTag}-${region.replace(/-\d$/, "")}-${String(i).padStart(5, "0")}`,
    region,
    az,
    cluster: `gs-${region}-${1 + (Math.floor(i / 15) % 4)}`,
    instance_type: FLEET_INSTANCE_TYPES[(i * 7) % FLEET_INSTANCE_TYPES.length],
    build_id: FLEET_BUILDS[(i * 3) % FLEET_BUILDS.length],
  };
}

export interface SeriesLabels {
  metric: string;
  shardId: string;
}

/** Series `s` of an agent: metric s mod 30, shard_id ⌊s / 30⌋ + 1. */
export function seriesLabels(s: number): SeriesLabels {
  return { metric: FLEET_METRICS[s % FLEET_METRICS.length].name, shardId: String(1 + Math.floor(s / FLEET_METRICS.length)) };
}

/**
 * The value of sample n (0-based, per series) of series s of agent a: counters grow by a fixed
 * integer step per sample (so a gap or a replay shows), gauges cycle; all exact in a double.
 */
export function expectedValue(agent: number, s: number, n: number): number {
  if (FLEET_METRICS[s % FLEET_METRICS.length].counter) return (n + 1) * (1 + ((agent * 7 + s) % 13));
  return ((agent * 131 + s * 31 + n * 17) % 1000) + 0.5;
}

/** Timestamp of sample n of every series of a run. */
export function sampleTimestampMs(t0Ms: number, cadenceMs: number, n: number): number {
  return t0Ms + n * cadenceMs;
}

// ---------------------------------------------------------------------------------------------
// Protobuf with holes

class ByteWriter {
  buf = new Uint8Array(1 << 16);
  len = 0;
  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number): void {
    this.grow(1);
    this.buf[this.len++] = b;
  }
  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.byte(v);
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  zeros(n: number): void {
    this.grow(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

const utf8 = new TextEncoder();

function labelBytes(name: string, value: string): Uint8Array {
  const n = utf8.encode(name);
  const v = utf8.encode(value);
  const w = new ByteWriter();
  w.byte(0x0a);
  w.varint(n.length);
  w.bytes(n);
  w.byte(0x12);
  w.varint(v.length);
  w.bytes(v);
  return w.buf.slice(0, w.len);
}

const SAMPLE_BYTES = 1 + 8 + 1 + 6; // 09 double 10 varint(6)

export interface AgentTemplate {
  /** Uncompressed WriteRequest with zeroed holes. */
  raw: Uint8Array;
  /** Offsets in `raw` of each sample's 8 value bytes and 6 timestamp bytes (series-major). */
  valueOffset: Int32Array;
  timestampOffset: Int32Array;
  series: number;
  samplesPerSeries: number;
}

/** The WriteRequest of one flush of agent `agent` (300 series × samplesPerSeries samples). */
export function encodeAgentTemplate(id: AgentIdentity, samplesPerSeries: number, series = SERIES_PER_AGENT): AgentTemplate {
  const w = new ByteWriter();
  const valueOffset = new Int32Array(series * samplesPerSeries);
  const timestampOffset = new Int32Array(series * samplesPerSeries);
  const common = [
    labelBytes("az", id.az),
    labelBytes("build_id", id.build_id),
    labelBytes("cluster", id.cluster),
    labelBytes("host", id.host),
    labelBytes("instance_type", id.instance_type),
    labelBytes("region", id.region),
  ];
  let i = 0;
  for (let s = 0; s < series; s++) {
    const l = seriesLabels(s);
    const labels = [labelBytes("__name__", l.metric), ...common, labelBytes("shard_id", l.shardId)];
    let tsLen = 0;
    for (const lb of labels) tsLen += 1 + varintSize(lb.length) + lb.length;
    tsLen += samplesPerSeries * (1 + varintSize(SAMPLE_BYTES) + SAMPLE_BYTES);
    w.byte(0x0a);
    w.varint(tsLen);
    for (const lb of labels) {
      w.byte(0x0a);
      w.varint(lb.length);
      w.bytes(lb);
    }
    for (let j = 0; j < samplesPerSeries; j++) {
      w.byte(0x12);
      w.varint(SAMPLE_BYTES);
      w.byte(0x09);
      valueOffset[i] = w.len;
      w.zeros(8);
      w.byte(0x10);
      timestampOffset[i] = w.len;
      w.zeros(6);
      i++;
    }
  }
  return { raw: w.buf.slice(0, w.len), valueOffset, timestampOffset, series, samplesPerSeries };
}

// ---------------------------------------------------------------------------------------------
// Snappy with holes

/**
 * Snappy-compresses `src`; bytes with `isHole[i] = 1` are emitted in literals and never used as
 * the source or the target of a copy. Returns the block and, for each source byte, where it lands
 * in the block (-1 for bytes inside copies).
 */
export function compressWithHoles(src: Uint8Array, isHole: Uint8Array): { block: Uint8Array; dstOf: Int32Array } {
  const n = src.length;
  // nextHole[i]: first hole at or after i (n when none).
  const nextHole = new Int32Array(n + 1);
  nextHole[n] = n;
  for (let i = n - 1; i >= 0; i--) nextHole[i] = isHole[i] ? i : nextHole[i + 1];
  const out = new ByteWriter();
  out.varint(n);
  const dstOf = new Int32Array(n).fill(-1);
  const TABLE_BITS = 14;
  const table = new Int32Array(1 << TABLE_BITS).fill(-1);
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const hash = (p: number) => Math.imul(dv.getUint32(p, true), 0x1e35a7bd) >>> (32 - TABLE_BITS);

  const emitLiteral = (from: number, to: number) => {
    while (from < to) {
      const len = Math.min(to - from, 65536);
      const l = len - 1;
      if (l < 60) out.byte(l << 2);
      else if (l < 256) {
        out.byte(60 << 2);
        out.byte(l);
      } else {
        out.byte(61 << 2);
        out.byte(l & 0xff);
        out.byte(l >>> 8);
      }
      for (let k = 0; k < len; k++) {
        dstOf[from + k] = out.len;
        out.byte(src[from + k]);
      }
      from += len;
    }
  };
  const emitCopy2 = (offset: number, len: number) => {
    out.byte(2 | ((len - 1) << 2));
    out.byte(offset & 0xff);
    out.byte(offset >>> 8);
  };
  const emitCopy = (offset: number, len: number) => {
    while (len >= 68) {
      emitCopy2(offset, 64);
      len -= 64;
    }
    if (len > 64) {
      emitCopy2(offset, 60);
      len -= 60;
    }
    if (len >= 12 || offset >= 2048) emitCopy2(offset, len);
    else {
      out.byte(1 | ((len - 4) << 2) | ((offset >>> 8) << 5));
      out.byte(offset & 0xff);
    }
  };

  let s = 0;
  let lit = 0;
  while (s + 4 <= n) {
    if (nextHole[s] < s + 4) {
      s = nextHole[s] + 1;
      continue;
    }
    const h = hash(s);
    const cand = table[h];
    table[h] = s;
    if (cand >= 0 && s - cand <= 65535 && nextHole[cand] >= cand + 4 && dv.getUint32(cand, true) === dv.getUint32(s, true)) {
      // Extend while neither side reaches a hole (a copy must not read or cover patched bytes).
      let len = 4;
      const maxLen = Math.min(nextHole[s] - s, nextHole[cand] - cand);
      while (len < maxLen && src[cand + len] === src[s + len]) len++;
      emitLiteral(lit, s);
      emitCopy(s - cand, len);
      s += len;
      lit = s;
      if (s - 1 >= 0 && s + 3 <= n && nextHole[s - 1] >= s + 3) table[hash(s - 1)] = s - 1;
    } else {
      s++;
    }
  }
  emitLiteral(lit, n);
  return { block: out.buf.slice(0, out.len), dstOf };
}

// ---------------------------------------------------------------------------------------------
// One agent's pre-encoded request

/** An agent's request body: compressed once, patched per flush. */
export class AgentBody {
  readonly body: Uint8Array;
  private readonly dv: DataView;
  private readonly valueAt: Int32Array;
  private readonly timestampAt: Int32Array;
  readonly samples: number;
  readonly rawBytes: number;

  constructor(
    readonly agent: number,
    readonly identity: AgentIdentity,
    readonly samplesPerSeries: number,
    readonly series = SERIES_PER_AGENT,
  ) {
    const t = encodeAgentTemplate(identity, samplesPerSeries, series);
    const isHole = new Uint8Array(t.raw.length);
    for (let i = 0; i < t.valueOffset.length; i++) {
      isHole.fill(1, t.valueOffset[i], t.valueOffset[i] + 8);
      isHole.fill(1, t.timestampOffset[i], t.timestampOffset[i] + 6);
    }
    const { block, dstOf } = compressWithHoles(t.raw, isHole);
    this.body = block;
    this.dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
    this.valueAt = new Int32Array(t.valueOffset.length);
    this.timestampAt = new Int32Array(t.timestampOffset.length);
    for (let i = 0; i < t.valueOffset.length; i++) {
      this.valueAt[i] = dstOf[t.valueOffset[i]];
      this.timestampAt[i] = dstOf[t.timestampOffset[i]];
      for (let k = 0; k < 8; k++) if (dstOf[t.valueOffset[i] + k] !== this.valueAt[i] + k) throw new Error("BUG: value hole not contiguous in a literal");
      for (let k = 0; k < 6; k++) if (dstOf[t.timestampOffset[i] + k] !== this.timestampAt[i] + k) throw new Error("BUG: timestamp hole not contiguous in a literal");
    }
    this.samples = series * samplesPerSeries;
    this.rawBytes = t.raw.length;
  }

  /** Writes the values and timestamps of flush `seq` (samples n = seq·S … seq·S + S − 1). */
  patch(seq: number, t0Ms: number, cadenceMs: number): void {
    const S = this.samplesPerSeries;
    const tsBytes = new Uint8Array(6 * S);
    for (let j = 0; j < S; j++) writeVarint6(tsBytes, 6 * j, sampleTimestampMs(t0Ms, cadenceMs, seq * S + j));
    const body = this.body;
    let i = 0;
    for (let s = 0; s < this.series; s++) {
      for (let j = 0; j < S; j++) {
        this.dv.setFloat64(this.valueAt[i], expectedValue(this.agent, s, seq * S + j), true);
        const at = this.timestampAt[i];
        const b = 6 * j;
        body[at] = tsBytes[b];
        body[at + 1] = tsBytes[b + 1];
        body[at + 2] = tsBytes[b + 2];
        body[at + 3] = tsBytes[b + 3];
        body[at + 4] = tsBytes[b + 4];
        body[at + 5] = tsBytes[b + 5];
        i++;
      }
    }
  }
}

/** A 6-byte varint (non-minimal encodings are valid protobuf; ms timestamps of this era need 6 anyway). */
export function writeVarint6(out: Uint8Array, at: number, v: number): void {
  if (!(v >= 0 && v < 2 ** 42)) throw new Error(`BUG: timestamp ${v} does not fit a 6-byte varint`);
  for (let k = 0; k < 5; k++) {
    out[at + k] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at + 5] = v;
}
