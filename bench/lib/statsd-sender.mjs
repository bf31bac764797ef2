// StatsD load sender (run under Node): node:dgram, pre-built datagrams, paced so the receiver's
// kernel buffer never overflows. Bounded in count and time; 127.0.0.1 only.
//
//   node bench/lib/statsd-sender.mjs --port 8125 --datagrams 400000 --lines 10 --rate 50000
//
// Prints `RESULT {"datagrams":…,"lines":…,"bytes":…,"seconds":…}`.
import { createSocket } from "node:dgram";
import { buildDatagrams, statsdSeries } from "./statsd-lines.mjs";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const port = Number(args.port);
const total = Number(args.datagrams ?? 100000);
const linesPer = Number(args.lines ?? 10);
const rate = Number(args.rate ?? 50000); // datagrams/s
const seriesCount = Number(args.series ?? 300);
const maxSeconds = Number(args["max-seconds"] ?? 60);
if (!(port > 0)) throw new Error("--port is required");

const { buffers } = buildDatagrams({ series: statsdSeries(seriesCount), linesPerDatagram: linesPer, pool: 2048, seed: 11 });
const sock = createSocket("udp4");
sock.connect(port, "127.0.0.1", () => {
  let sent = 0;
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
  const pump = () => {
    const t = elapsed();
    if (t > maxSeconds) return finish(); // bounded in time, whatever happens
    const due = Math.min(total, Math.floor(rate * t) + 1);
    // Keep libuv's send queue short: pacing is the point, not queueing.
    while (sent < due && sock.getSendQueueCount() < 256) {
      const b = buffers[sent % buffers.length];
      sock.send(b);
      bytes += b.length;
      sent++;
    }
    if (sent >= total) return finish();
    setImmediate(pump);
  };
  const finish = () => {
    const wait = () => {
      if (sock.getSendQueueCount() > 0) return setImmediate(wait);
      const seconds = elapsed();
      sock.close();
      process.stdout.write(`RESULT ${JSON.stringify({ datagrams: sent, lines: sent * linesPer, bytes, seconds })}\n`);
    };
    wait();
  };
  pump();
});
