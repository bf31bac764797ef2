/** Loopback helpers for the StatsD source tests: a plain node:dgram sender and a log recorder. */
import { createSocket, type Socket } from "node:dgram";
import type { LogFields, Logger } from "../../../../agent/core/deps";

export interface LoggedLine {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  fields?: LogFields;
}

export function recordingLogger(lines: LoggedLine[]): Logger {
  return {
    debug: (msg, fields) => lines.push({ level: "debug", msg, fields }),
    info: (msg, fields) => lines.push({ level: "info", msg, fields }),
    warn: (msg, fields) => lines.push({ level: "warn", msg, fields }),
    error: (msg, fields) => lines.push({ level: "error", msg, fields }),
  };
}

export interface UdpSender {
  send(datagram: string | Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function createUdpSender(port: number, host = "127.0.0.1"): UdpSender {
  const socket: Socket = createSocket(host.includes(":") ? "udp6" : "udp4");
  socket.on("error", () => {}); // a failed send surfaces through send()'s callback
  return {
    send: (datagram) =>
      new Promise((resolve, reject) => socket.send(datagram, port, host, (error) => (error ? reject(error) : resolve()))),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

/** Waits for datagrams already sent on loopback to be received; fails after timeoutMs. */
export async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error("waitUntil: condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
