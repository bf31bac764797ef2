/**
 * Dependencies come through the front door (STYLE §4). Component code never calls Date.now()
 * directly: it receives a Clock. main.ts builds the real deps once; tests pass fakes.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (sample timestamps). */
  nowMs(): number;
  /** Monotonic milliseconds (durations, timers). */
  monoMs(): number;
}

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
};

export function fakeClock(startMs = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let wall = startMs;
  let mono = 0;
  return {
    nowMs: () => wall,
    monoMs: () => mono,
    advance(ms: number) {
      wall += ms;
      mono += ms;
    },
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
