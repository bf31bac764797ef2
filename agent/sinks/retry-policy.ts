/**
 * When to try a failed delivery again.
 *
 * Capped exponential backoff with full jitter (AWS architecture blog "Exponential Backoff And
 * Jitter"): delay = random(0, min(cap, base · 2^attempt)). Full jitter spreads 5,000 agents that
 * failed together, so they do not come back together. A server's Retry-After (seconds or an
 * HTTP date) wins when it asks for longer, capped at `maxRetryAfterMs` so a bogus header cannot
 * park a sink for a day.
 */
export interface RetryPolicyConfig {
  baseMs: number;
  capMs: number;
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicyConfig = { baseMs: 250, capMs: 30_000, maxRetryAfterMs: 5 * 60_000 };

/** Delay before retry number `attempt` (0 = first retry). `random` returns [0, 1). */
export function backoffMs(config: RetryPolicyConfig, attempt: number, random: () => number, retryAfterMs?: number): number {
  const ceiling = Math.min(config.capMs, config.baseMs * 2 ** Math.min(attempt, 30));
  const jittered = Math.floor(random() * ceiling);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, config.maxRetryAfterMs));
}

/**
 * Parses a Retry-After header: delay-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"). Returns milliseconds from `nowMs`, or undefined.
 */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-zA-Z]/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
