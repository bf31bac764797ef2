#!/usr/bin/env node
/**
 * Regenerates agent/sinks/remote-write/prompb/prompb.js (+ prompb.d.ts) from the .proto subset
 * beside it (Prometheus remote write 1.0: WriteRequest, TimeSeries, Label, Sample, Histogram,
 * BucketSpan, plus Exemplar and MetricMetadata so the reference decoder knows every field).
 *
 * Same recipe as gen-otlp-proto.mjs: static module, ES6 wrapper, protobufjs/minimal at runtime;
 * the .d.ts comes from a commented build in a temp dir, the committed .js is built without
 * comments. verify/convert/delimited helpers are left out; encode and decode stay.
 *
 * This module is the REFERENCE codec for tests and benches. The agent never imports it: its
 * requests are written by hand (write-request-encoder.ts) to keep protobufjs out of the binary.
 *
 * Usage: npm run gen:prompb   — the output is committed; rerun after editing a .proto file.
 */
import { generateStaticProto } from "./lib/gen-static-proto.mjs";

generateStaticProto({
  protoDir: "agent/sinks/remote-write/prompb",
  outName: "prompb",
  protoFiles: ["remote.proto", "types.proto"],
});
