/**
 * A per-tenant samples/s limit with a burst allowance: the classic token bucket.
 *
 * The bucket holds up to `burst` tokens and refills at `ratePerSec`, lazily: each take() adds
 * what accrued since the previous call (monotonic clock), so an idle bucket costs nothing.
 * take(n) admits when n tokens are there. Otherwise it says how long the deficit takes to refill
 * (`retryAfterMs`), which the hub turns into HTTP 429 with `Retry-After: retryAfterSeconds(ms)`.
 *
 * A request larger than `burst` could never be admitted by that rule, so it is admitted when the
 * bucket is full and leaves the bucket in debt (negative tokens): the long-run rate still holds,
 * and senders whose batches are larger than the burst are slowed down, not starved.
 */
import type { Clock } from "../../agent/core/deps";
import { ok, type Result } from "../../agent/core/result";
import { configError, firstProblem, notPositive, type TenantConfigError } from "./config-checks";

export interface TokenBucketConfig {
  /** Sustained samples per second. */
  ratePerSec: number;
  /** Samples that may arrive at once after an idle spell. Default: one second of `ratePerSec`. */
  burst?: number;
}

export type ResolvedTokenBucketConfig = Required<TokenBucketConfig>;

export type TakeResult = { admitted: true } | { admitted: false; retryAfterMs: number };

export interface TokenBucket {
  /** Takes `n` tokens, or says when they will be there. */
  take(n: number): TakeResult;
  /** Tokens available now (negative while in debt). */
  available(): number;
  /** Changes the rate and burst, keeping the tokens held (capped at the new burst). */
  reconfigure(config: ResolvedTokenBucketConfig): void;
}

const ADMITTED: TakeResult = Object.freeze({ admitted: true });

export function parseTokenBucketConfig(input: TokenBucketConfig, field = "tokenBucket"): Result<ResolvedTokenBucketConfig, TenantConfigError> {
  const { ratePerSec, burst = ratePerSec } = input;
  const problem = firstProblem(notPositive(`${field}.ratePerSec`, ratePerSec), notPositive(`${field}.burst`, burst));
  if (problem !== undefined) return configError(problem);
  return ok({ ratePerSec, burst });
}

/** Seconds for an HTTP Retry-After header: rounded up, at least 1. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

export function createTokenBucket(config: ResolvedTokenBucketConfig, clock: Clock): TokenBucket {
  let ratePerMs = config.ratePerSec / 1000;
  let burst = config.burst;
  let tokens = burst;
  let lastMs = clock.monoMs();

  const refill = () => {
    const now = clock.monoMs();
    if (now > lastMs) {
      tokens = Math.min(burst, tokens + (now - lastMs) * ratePerMs);
      lastMs = now;
    }
  };

  return {
    take(n) {
      refill();
      if (n <= tokens || (n > burst && tokens >= burst)) {
        tokens -= n;
        return ADMITTED;
      }
      const needed = Math.min(n, burst) - tokens;
      return { admitted: false, retryAfterMs: Math.ceil(needed / ratePerMs) };
    },
    available() {
      refill();
      return tokens;
    },
    reconfigure(next) {
      refill();
      ratePerMs = next.ratePerSec / 1000;
      burst = next.burst;
      tokens = Math.min(tokens, burst);
    },
  };
}
