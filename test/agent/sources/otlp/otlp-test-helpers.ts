/** Shared by the OTLP decoder tests: golden files, request builders, raw protobuf writing. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import $protobuf from "protobufjs/minimal.js";
import { opentelemetry } from "../../../../agent/sources/otlp/proto/otlp.js";
import { goldenChecker } from "../../../support/golden";
export { hexLines } from "../../../support/golden";

export const TESTDATA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata");
const GOLDEN_DIR = path.join(TESTDATA_DIR, "golden");

export const ExportMetricsServiceRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
export type RequestShape = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest.$Properties;

export const expectGolden = goldenChecker(GOLDEN_DIR);

export function readTestdataJson(name: string): unknown {
  return JSON.parse(readFileSync(path.join(TESTDATA_DIR, name), "utf8"));
}


/** JSON for golden files: non-finite numbers spelled out, as JSON cannot carry them. */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v !== "number" || Number.isFinite(v)) return v;
      return Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    },
    2,
  )}\n`;
}

/**
 * Protobuf encoding of a request given in OTLP/JSON shape: protobufjs' field names are the same
 * lowerCamelCase, and at runtime its writer takes 64-bit values as decimal strings too.
 */
export function encodeRequest(request: unknown): Uint8Array {
  // A plain Uint8Array copy: under Node the writer returns a Buffer, whose slice() is a view.
  return new Uint8Array(ExportMetricsServiceRequest.encode(request as RequestShape).finish());
}

export function encodeJsonRequest(request: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(request));
}

/** A request of `metrics` metrics × `pointsPerMetric` monotonic sums with 3 string attributes. */
export function buildSumRequest(metrics: number, pointsPerMetric: number): unknown {
  const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const metricList = [];
  for (let m = 0; m < metrics; m++) {
    const dataPoints = [];
    for (let i = 0; i < pointsPerMetric; i++) {
      dataPoints.push({
        attributes: [kv("route", `/api/v1/items/${i}`), kv("http.method", "GET"), kv("status", "200")],
        startTimeUnixNano: "1700000000000000000",
        timeUnixNano: "1700000010000000000",
        asDouble: i * 1.5,
      });
    }
    metricList.push({ name: `http.server.requests.${m}`, unit: "1", sum: { dataPoints, aggregationTemporality: 2, isMonotonic: true } });
  }
  return {
    resourceMetrics: [{ resource: { attributes: [kv("service.name", "game")] }, scopeMetrics: [{ scope: { name: "bench" }, metrics: metricList }] }],
  };
}

// --- raw protobuf, for what the generated encoder cannot express (field order, odd wire types) ---

export const WIRE = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

export type RawField =
  | { field: number; varint: number }
  | { field: number; double: number }
  | { field: number; fixed64: number }
  | { field: number; bytes: Uint8Array }
  | { field: number; message: RawField[] }
  | { field: number; string: string }
  | { field: number; fixed32: number };

/** Writes fields in exactly the given order. */
export function rawMessage(fields: RawField[]): Uint8Array {
  const w = $protobuf.Writer.create();
  for (const f of fields) {
    if ("varint" in f) w.uint32((f.field << 3) | WIRE.VARINT).uint64(f.varint);
    else if ("double" in f) w.uint32((f.field << 3) | WIRE.I64).double(f.double);
    else if ("fixed64" in f) w.uint32((f.field << 3) | WIRE.I64).fixed64(f.fixed64);
    else if ("fixed32" in f) w.uint32((f.field << 3) | WIRE.I32).fixed32(f.fixed32);
    else if ("string" in f) w.uint32((f.field << 3) | WIRE.LEN).string(f.string);
    else if ("bytes" in f) w.uint32((f.field << 3) | WIRE.LEN).bytes(f.bytes);
    else w.uint32((f.field << 3) | WIRE.LEN).bytes(rawMessage(f.message));
  }
  return w.finish();
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Overwrites the first occurrence of `marker` (ASCII) in `bytes` with `replacement` (same length). */
export function patchBytes(bytes: Uint8Array, marker: string, replacement: number[]): Uint8Array {
  const needle = Buffer.from(marker, "latin1");
  const at = Buffer.from(bytes).indexOf(needle);
  if (at < 0 || replacement.length !== needle.length) throw new Error(`BUG: cannot patch ${marker}`);
  const out = new Uint8Array(bytes);
  out.set(replacement, at);
  return out;
}
