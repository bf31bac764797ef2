/**
 * Which finished segment to delete when the queue is over its byte budget.
 *
 * Priority classes: 0 is the most important (normal metrics), higher numbers are less important
 * (1 verbose metrics, 2 logs). Shedding works on whole segments, so a segment is as important as
 * the most important record in it (its minPriority). The victim is the oldest segment among those
 * whose most important record is least important; "full_low_priority" when that segment holds no
 * class-0 data, "full" when every segment does and the oldest goes.
 *
 * A record is never let in by deleting data more important than itself: if every finished
 * segment holds something more important than the record offered, the record is refused
 * ("full_rejected") and the queued data stays.
 */
import type { SegmentInfo } from "./segment-info";

export type ShedReason = "full_low_priority" | "full" | "disk_full";

export type ShedDecision =
  | { kind: "shed"; segment: SegmentInfo; reason: ShedReason }
  | { kind: "reject" }
  | { kind: "nothing_to_shed" };

/**
 * `segments` in offset order; only sealed ones are candidates (the active segment is being
 * written). `incomingPriority` null means "make room whatever it costs" (the disk is full).
 */
export function pickSegmentToShed(segments: readonly SegmentInfo[], incomingPriority: number | null): ShedDecision {
  let victim: SegmentInfo | undefined;
  for (const segment of segments) {
    if (!segment.sealed) continue;
    if (!victim || mostImportantClass(segment) > mostImportantClass(victim)) victim = segment;
  }
  if (!victim) return { kind: "nothing_to_shed" };
  if (incomingPriority === null) return { kind: "shed", segment: victim, reason: "disk_full" };
  if (mostImportantClass(victim) < incomingPriority) return { kind: "reject" };
  return { kind: "shed", segment: victim, reason: mostImportantClass(victim) > 0 ? "full_low_priority" : "full" };
}

/** The class a segment protects: that of its most important record (empty segments: none, 255). */
function mostImportantClass(segment: SegmentInfo): number {
  return segment.records === 0 ? 255 : segment.minPriority;
}
