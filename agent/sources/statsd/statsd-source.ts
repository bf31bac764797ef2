/**
 * UDP listener for StatsD / DogStatsD datagrams (PROTOCOLS.md §4, BUN.md §4).
 *
 * One datagram in → one `onPacket(text)` call out, synchronously, in arrival order; parsing is
 * the caller's (see statsd-parse.ts). The socket gets a 4 MiB receive buffer because bursts
 * larger than the default SO_RCVBUF (~208 KiB) are lost in both Node and Bun, binds
 * explicitly, and always has an 'error' listener: an error before bind fails start(), one after
 * is logged and the socket keeps listening.
 *
 * Datagrams are decoded as UTF-8. A datagram that is not valid UTF-8 is counted (invalidUtf8)
 * and only its broken lines are dropped: UTF-8 never uses byte 0x0A inside a multi-byte
 * sequence, so splitting the bytes on '\n' and checking each line is exact, and it only runs
 * for the rare broken datagram. Datagrams longer than maxDatagramBytes are counted (oversized)
 * and dropped whole: a sender that ignores the size limit is misconfigured, and a truncated
 * line must never be read as a different value.
 */

import { isUtf8 } from "node:buffer";
import { createSocket, type Socket } from "node:dgram";
import type { Logger } from "../../core/deps";
import { err, ok, type Result } from "../../core/result";

export interface StatsdSourceConfig {
  /** "127.0.0.1:8125", "0.0.0.0:8125", "[::1]:8125"; port 0 picks a free port. */
  listen: string;
  /** Larger datagrams are dropped and counted. Default 65507 (the largest IPv4 UDP payload). */
  maxDatagramBytes?: number;
}

export interface StatsdSourceStats {
  datagrams: number;
  bytes: number;
  oversized: number;
  /** Datagrams with broken UTF-8 (their valid lines are still delivered). */
  invalidUtf8: number;
}

export type StatsdListenError = { code: "LISTEN_FAILED"; message: string };

export interface StatsdSource {
  readonly id: "source.statsd";
  start(): Promise<Result<void, StatsdListenError>>;
  stop(): Promise<void>;
  isListening(): boolean;
  address(): { address: string; port: number } | undefined;
  readonly stats: StatsdSourceStats;
}

export const DEFAULT_MAX_DATAGRAM_BYTES = 65507;
/** BUN.md §4: no loss on 2000-datagram bursts with this, heavy loss with the default. */
export const RECV_BUFFER_BYTES = 4 * 1024 * 1024;

export interface ListenAddress {
  host: string;
  port: number;
  family: "udp4" | "udp6";
}

/** "host:port" or "[ipv6]:port" → bind address; the error message names the field and value. */
export function parseListenAddress(listen: string): Result<ListenAddress, string> {
  const invalid = `statsd.listen must be "host:port" or "[ipv6]:port" (got ${JSON.stringify(listen)})`;
  let host: string;
  let portText: string;
  if (listen.startsWith("[")) {
    const close = listen.indexOf("]");
    if (close === -1 || listen.charAt(close + 1) !== ":") return err(invalid);
    host = listen.slice(1, close);
    portText = listen.slice(close + 2);
  } else {
    const colon = listen.lastIndexOf(":");
    if (colon === -1 || listen.indexOf(":") !== colon) return err(invalid); // bare IPv6 needs []
    host = listen.slice(0, colon);
    portText = listen.slice(colon + 1);
  }
  if (host.length === 0 || !/^[0-9]{1,5}$/.test(portText)) return err(invalid);
  const port = Number(portText);
  if (port > 65535) return err(`statsd.listen port must be 0..65535 (got ${portText})`);
  return ok({ host, port, family: host.includes(":") ? "udp6" : "udp4" });
}

export function createStatsdSource(
  config: StatsdSourceConfig,
  deps: { log: Logger },
  onPacket: (text: string) => void,
): StatsdSource {
  const { log } = deps;
  const maxDatagramBytes = config.maxDatagramBytes ?? DEFAULT_MAX_DATAGRAM_BYTES;
  const stats: StatsdSourceStats = { datagrams: 0, bytes: 0, oversized: 0, invalidUtf8: 0 };
  let socket: Socket | undefined;
  let listening = false;
  let handlerFailures = 0;

  function receiveDatagram(datagram: Buffer): void {
    stats.datagrams++;
    stats.bytes += datagram.length;
    if (datagram.length > maxDatagramBytes) {
      stats.oversized++;
      return;
    }
    let text: string;
    if (isUtf8(datagram)) {
      text = datagram.toString("utf8");
    } else {
      stats.invalidUtf8++;
      text = decodeValidUtf8Lines(datagram);
    }
    if (text.length === 0) return;
    try {
      onPacket(text);
    } catch (error) {
      // A throwing handler is a bug elsewhere; keep receiving, log sparsely (1st, 10th, 100th…).
      handlerFailures++;
      if (isPowerOfTen(handlerFailures)) {
        log.error("BUG: StatsD packet handler threw.", { failures: handlerFailures, error: String(error) });
      }
    }
  }

  async function start(): Promise<Result<void, StatsdListenError>> {
    if (socket !== undefined) return ok(undefined);
    const address = parseListenAddress(config.listen);
    if (!address.ok) return err({ code: "LISTEN_FAILED", message: address.error });
    if (!Number.isInteger(maxDatagramBytes) || maxDatagramBytes < 1 || maxDatagramBytes > 65535) {
      return err({
        code: "LISTEN_FAILED",
        message: `statsd.maxDatagramBytes must be an integer in 1..65535 (got ${maxDatagramBytes})`,
      });
    }
    const { host, port, family } = address.value;
    const candidate = createSocket({ type: family, recvBufferSize: RECV_BUFFER_BYTES });
    socket = candidate;
    return new Promise((resolve) => {
      candidate.on("error", (error: NodeJS.ErrnoException) => {
        if (listening || socket !== candidate) {
          log.warn("StatsD socket error; still listening.", { code: error.code, error: error.message });
          return;
        }
        socket = undefined;
        closeQuietly(candidate);
        resolve(err({ code: "LISTEN_FAILED", message: `statsd: cannot listen on ${config.listen}: ${error.message}` }));
      });
      candidate.on("message", receiveDatagram);
      candidate.bind({ address: host, port }, () => {
        if (socket !== candidate) {
          resolve(err({ code: "LISTEN_FAILED", message: "statsd: stopped before the socket was bound" }));
          return;
        }
        listening = true;
        const bound = candidate.address();
        log.info("StatsD source listening.", {
          address: bound.address,
          port: bound.port,
          recvBufferBytes: readRecvBufferSize(candidate),
        });
        resolve(ok(undefined));
      });
    });
  }

  async function stop(): Promise<void> {
    const current = socket;
    if (current === undefined) return;
    socket = undefined;
    listening = false;
    await new Promise<void>((resolve) => {
      try {
        current.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  return {
    id: "source.statsd",
    start,
    stop,
    isListening: () => listening,
    address() {
      if (!listening || socket === undefined) return undefined;
      const { address, port } = socket.address();
      return { address, port };
    },
    stats,
  };
}

/** The valid UTF-8 lines of a datagram that is not valid UTF-8 as a whole, "\n"-joined. */
function decodeValidUtf8Lines(datagram: Buffer): string {
  const lines: string[] = [];
  let start = 0;
  while (start < datagram.length) {
    let end = datagram.indexOf(0x0a, start);
    if (end === -1) end = datagram.length;
    const line = datagram.subarray(start, end);
    if (line.length > 0 && isUtf8(line)) lines.push(line.toString("utf8"));
    start = end + 1;
  }
  return lines.join("\n");
}

function readRecvBufferSize(socket: Socket): number | undefined {
  try {
    return socket.getRecvBufferSize();
  } catch {
    return undefined;
  }
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // never bound or already closed
  }
}

function isPowerOfTen(n: number): boolean {
  while (n >= 10 && n % 10 === 0) n /= 10;
  return n === 1;
}
