// Realistic DogStatsD traffic for the benches: fixed series (name, type, rate, tags) and
// pre-built datagrams. Plain JS so the Node sender can import it without a build step.
//
// Series i gets metric METRICS[i % METRICS.length] and label set i (region × shard_id × queue),
// so `count` series are `count` distinct name+tags pairs with mixed c / g / ms types.

const REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"];
const SHARDS = ["1", "2", "3", "4", "5", "6"];
const QUEUES = ["ranked", "casual", "arena", "coop", "duel", "br-solo", "br-duo", "br-squad", "custom", "training"];

/** name, StatsD type, sample rate. */
const METRICS = [
  ["game.matches.started", "c", 1],
  ["game.players.joined", "c", 1],
  ["game.net.bytes_sent", "c", 0.5],
  ["game.players.online", "g", 1],
  ["game.tick.lag", "g", 1],
  ["game.tick.duration", "ms", 1],
  ["game.matchmaking.wait", "ms", 1],
  ["game.db.query", "ms", 0.25],
  ["game.frame.encode", "ms", 1],
  ["game.sessions.ended", "c", 1],
];

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` (≤ 300) series; `prefix` keeps two sets of series apart (e.g. "game" vs "srv"). */
export function statsdSeries(count, prefix = "game") {
  const out = [];
  let i = 0;
  for (const region of REGIONS)
    for (const shard of SHARDS)
      for (const queue of QUEUES) {
        if (i >= count) return out;
        const [name, type, rate] = METRICS[i % METRICS.length];
        out.push({ name: name.replace(/^game/, prefix), type, rate, tags: `region:${region},shard_id:${shard},queue:${queue}` });
        i++;
      }
  if (out.length < count) throw new Error(`only ${out.length} series available`);
  return out;
}

function valueFor(type, r) {
  if (type === "c") return String(1 + Math.floor(r() * 5));
  if (type === "g") return String(Math.floor(r() * 1000));
  return (Math.round(0.05 * Math.pow(1e5, r()) * 100) / 100).toString();
}

export function statsdLine(s, r) {
  return `${s.name}:${valueFor(s.type, r)}|${s.type}${s.rate < 1 ? `|@${s.rate}` : ""}|#${s.tags}`;
}

/**
 * `pool` datagrams of `linesPerDatagram` lines; the series are visited in a shuffled cycle so
 * every series appears equally often. Returns the Buffers and the number of lines in each.
 */
export function buildDatagrams({ series, linesPerDatagram, pool, seed = 1 }) {
  const r = prng(seed);
  const order = series.map((_, i) => i);
  let pos = order.length;
  const next = () => {
    if (pos >= order.length) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      pos = 0;
    }
    return series[order[pos++]];
  };
  const buffers = [];
  for (let d = 0; d < pool; d++) {
    const lines = [];
    for (let l = 0; l < linesPerDatagram; l++) lines.push(statsdLine(next(), r));
    buffers.push(Buffer.from(lines.join("\n"), "utf8"));
  }
  return { buffers, linesPerDatagram };
}
