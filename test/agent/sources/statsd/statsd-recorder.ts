/** Records StatsdSink calls in the shape of testdata/parse-cases.json. */
import {
  parseStatsdPacket,
  type StatsdErrorReason,
  type StatsdSink,
  type StatsdType,
} from "../../../../agent/sources/statsd/statsd-parse";

export type RecordedCall =
  | { name: string; tags: string; type: StatsdType; value: number; rate: number; delta: boolean; member?: string }
  | { error: StatsdErrorReason; line: string };

/** A sink that appends to `calls`; it throws if the key is not name + NUL + raw tags. */
export function recordingSink(calls: RecordedCall[]): StatsdSink {
  return {
    line(key, name, rawTags, type, value, rate, isDelta, setMember) {
      if (key !== name + "\u0000" + rawTags) throw new Error(`key ${JSON.stringify(key)} does not match name/tags`);
      if ((type === "s") !== (setMember !== undefined)) throw new Error(`setMember ${setMember} with type ${type}`);
      const call: RecordedCall = { name, tags: rawTags, type, value, rate, delta: isDelta };
      if (setMember !== undefined) call.member = setMember;
      calls.push(call);
    },
    error(reason, line) {
      calls.push({ error: reason, line });
    },
  };
}

export function recordCalls(packet: string): RecordedCall[] {
  const calls: RecordedCall[] = [];
  parseStatsdPacket(packet, recordingSink(calls));
  return calls;
}
