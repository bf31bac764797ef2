/**
 * Classic-histogram `le` label values, spelled the way Prometheus' own OTLP → remote-write
 * translator spells them: Go's `strconv.FormatFloat(bound, 'f', -1, 64)` (shortest round-trip
 * digits, never an exponent), plus "+Inf" for the last bucket. So 0.5 → "0.5", 1 → "1",
 * 1e-7 → "0.0000001", 2^20 → "1048576", -2 → "-2".
 *
 * The spelling is part of the series identity (`le="1"` and `le="1.0"` are different series), so
 * it must never change between releases: the golden tests pin it.
 */

/** `le` value of an upper bound. */
export function formatLe(bound: number): string {
  if (bound === Number.POSITIVE_INFINITY) return "+Inf";
  if (bound === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(bound)) return "NaN";
  if (bound === 0) return Object.is(bound, -0) ? "-0" : "0";
  const magnitude = Math.abs(bound);
  // Here JS prints fixed notation with the shortest round-trip digits, as Go does.
  if (magnitude >= 1e-6 && magnitude < 1e21) return String(bound);
  return expandExponent(bound.toExponential());
}

/** "d.ddddde±x" (shortest digits) → the same number in fixed notation. */
function expandExponent(text: string): string {
  const negative = text.startsWith("-");
  const body = negative ? text.slice(1) : text;
  const e = body.indexOf("e");
  const mantissa = body.slice(0, e).replace(".", "");
  const exponent = Number(body.slice(e + 1));
  // The decimal point sits after digit number exponent + 1.
  const point = exponent + 1;
  let fixed: string;
  if (point <= 0) fixed = `0.${"0".repeat(-point)}${mantissa}`;
  else if (point >= mantissa.length) fixed = mantissa + "0".repeat(point - mantissa.length);
  else fixed = `${mantissa.slice(0, point)}.${mantissa.slice(point)}`;
  return negative ? `-${fixed}` : fixed;
}
