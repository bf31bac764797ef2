import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { crc32, crc32Table } from "../../../agent/queue/crc32";
import {
  FRAME_HEADER_BYTES,
  KIND_RECORD,
  KIND_SEAL,
  SEAL_FRAME_BYTES,
  decodeSealPayload,
  encodeRecordFrame,
  encodeSealFrame,
  frameId,
  framePayload,
  isFrameIntact,
  parseFrameHeader,
} from "../../../agent/queue/frame";

const GOLDEN = join(__dirname, "testdata/golden/frame.hex");

const FIXED_RECORD = {
  id: new TextEncoder().encode("host-a/42"),
  priority: 1,
  timestampMs: 1_700_000_000_123,
  payload: new TextEncoder().encode("hello, queue"),
};

/** The frame as annotated hex, one field per line, so a diff shows which field moved. */
function describeFrame(frame: Uint8Array): string {
  const fields: Array<[string, number]> = [
    ["magic", 2],
    ["version", 1],
    ["kind (1 = record)", 1],
    ["priority", 1],
    ["reserved", 1],
    ["idBytes u16le", 2],
    ["payloadBytes u32le", 4],
    ["timestampMs u64le", 8],
    ["crc32 u32le of [0,20) ++ id ++ payload", 4],
    ["id", FIXED_RECORD.id.length],
    ["payload", FIXED_RECORD.payload.length],
  ];
  const lines = ['# Queue record frame: id "host-a/42", priority 1, timestampMs 1700000000123, payload "hello, queue"'];
  let at = 0;
  for (const [name, length] of fields) {
    const hex = Buffer.from(frame.subarray(at, at + length)).toString("hex");
    lines.push(`${hex.padEnd(26)} ${name}`);
    at += length;
  }
  expect(at).toBe(frame.length);
  return lines.join("\n") + "\n";
}

describe("record frame", () => {
  test("matches the golden bytes for a fixed record", () => {
    const text = describeFrame(encodeRecordFrame(FIXED_RECORD));
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(GOLDEN, text);
    expect(existsSync(GOLDEN), "golden missing: run with UPDATE_GOLDEN=1").toBe(true);
    expect(text).toBe(readFileSync(GOLDEN, "utf8"));
  });

  test("decodes back to the fields it was built from", () => {
    const frame = encodeRecordFrame(FIXED_RECORD);
    const header = parseFrameHeader(frame, 0);
    expect(header).toMatchObject({ kind: KIND_RECORD, priority: 1, idBytes: 9, payloadBytes: 12, timestampMs: 1_700_000_000_123 });
    expect(header!.frameBytes).toBe(frame.length);
    expect(isFrameIntact(frame, 0, header!)).toBe(true);
    expect(new TextDecoder().decode(frameId(frame, 0, header!))).toBe("host-a/42");
    expect(new TextDecoder().decode(framePayload(frame, 0, header!))).toBe("hello, queue");
  });

  test("fails the CRC when any byte after the magic and version changes", () => {
    const frame = encodeRecordFrame(FIXED_RECORD);
    for (let i = 3; i < frame.length; i++) {
      const copy = frame.slice();
      copy[i] ^= 0x01;
      const header = parseFrameHeader(copy, 0);
      expect(header === null || !isFrameIntact(copy, 0, header), `byte ${i}`).toBe(true);
    }
  });

  test("is not intact when the buffer ends before the frame does", () => {
    const frame = encodeRecordFrame(FIXED_RECORD);
    const header = parseFrameHeader(frame, 0)!;
    expect(isFrameIntact(frame.subarray(0, frame.length - 1), 0, header)).toBe(false);
    expect(parseFrameHeader(frame.subarray(0, FRAME_HEADER_BYTES - 1), 0)).toBeNull();
  });

  test("round-trips a seal and its summary", () => {
    const summary = { records: 1234, minPriority: 0, maxPriority: 2, firstTimestampMs: 1_700_000_000_000, lastTimestampMs: 1_700_000_999_999 };
    const seal = encodeSealFrame(summary, 1_700_000_999_999);
    expect(seal.length).toBe(SEAL_FRAME_BYTES);
    const header = parseFrameHeader(seal, 0)!;
    expect(header.kind).toBe(KIND_SEAL);
    expect(isFrameIntact(seal, 0, header)).toBe(true);
    expect(decodeSealPayload(framePayload(seal, 0, header))).toEqual(summary);
  });
});

describe("crc32", () => {
  test("is the standard CRC-32 (check value of '123456789')", () => {
    const data = new TextEncoder().encode("123456789");
    expect(crc32(data)).toBe(0xcbf43926);
    expect(crc32Table(data)).toBe(0xcbf43926);
  });

  test("the table fallback agrees with the runtime's, also when continued", () => {
    const data = new Uint8Array(10_000).map((_, i) => (i * 7919) & 0xff);
    expect(crc32Table(data)).toBe(crc32(data));
    expect(crc32Table(data.subarray(5000), crc32Table(data.subarray(0, 5000)))).toBe(crc32(data));
  });
});
