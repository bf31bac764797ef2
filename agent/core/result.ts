/**
 * Errors are values at boundaries (STYLE §5): parsing, disk, network and config return a Result.
 * `throw` is reserved for bugs, with a message starting "BUG:".
 */
export type Result<T, E> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function err<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}
