/** Listen addresses: "host:port" or "[v6]:port". */
const LISTEN_RE = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function isListenAddress(s: string): boolean {
  const m = LISTEN_RE.exec(s);
  return m !== null && Number(m[2]) <= 65_535;
}

/** Splits "host:port" / "[::1]:port" into parts (the caller validated it). */
export function splitListen(s: string): { host: string; port: number } {
  const m = LISTEN_RE.exec(s);
  if (!m) throw new Error(`BUG: unvalidated listen address ${s}`);
  return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}
