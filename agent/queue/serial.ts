/**
 * Runs async tasks one at a time in submission order. The queue's appends, reads, acks and
 * sheds all go through one of these, so no task ever sees another's half-done file changes.
 */
export type Serial = <T>(task: () => Promise<T>) => Promise<T>;

export function createSerial(): Serial {
  let tail: Promise<unknown> = Promise.resolve();
  return (task) => {
    const run = tail.then(task);
    tail = run.catch(() => {});
    return run;
  };
}
