/**
 * What the disk queue can fail with, as values (STYLE §5). `code` is stable; messages are for logs.
 */
export type QueueError =
  | { code: "QUEUE_CONFIG"; message: string }
  | { code: "QUEUE_INVALID_RECORD"; message: string }
  | { code: "QUEUE_RECORD_TOO_LARGE"; frameBytes: number; maxFrameBytes: number }
  /** Bounded and everything queued is more important than the record offered. */
  | { code: "QUEUE_FULL"; message: string }
  /** ENOSPC / EDQUOT from the filesystem. */
  | { code: "QUEUE_DISK_FULL"; op: string; path: string; message: string }
  /** Any other filesystem failure: EIO, EROFS, EACCES … `errno` is the runtime's code. */
  | { code: "QUEUE_IO"; op: string; path: string; errno: string; message: string }
  /** ack()/peek() given an offset that is not a record boundary the queue handed out. */
  | { code: "QUEUE_BAD_OFFSET"; message: string }
  | { code: "QUEUE_CLOSED" };

/** Turns a thrown filesystem error into QUEUE_DISK_FULL or QUEUE_IO. */
export function fsError(op: string, path: string, cause: unknown): QueueError {
  const errno = (cause as { code?: unknown } | null)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (errno === "ENOSPC" || errno === "EDQUOT") return { code: "QUEUE_DISK_FULL", op, path, message };
  return { code: "QUEUE_IO", op, path, errno: typeof errno === "string" ? errno : "UNKNOWN", message };
}

/** One line for logs and health reasons. */
export function describeQueueError(e: QueueError): string {
  switch (e.code) {
    case "QUEUE_DISK_FULL":
      return `disk full during ${e.op} of ${e.path}`;
    case "QUEUE_IO":
      return `${e.errno} during ${e.op} of ${e.path}`;
    case "QUEUE_RECORD_TOO_LARGE":
      return `record frame of ${e.frameBytes} bytes exceeds ${e.maxFrameBytes}`;
    case "QUEUE_CLOSED":
      return "queue is closed";
    default:
      return e.message;
  }
}
