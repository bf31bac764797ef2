#!/usr/bin/env node
/**
 * Regenerates agent/sources/otlp/proto/otlp.js (+ otlp.d.ts) from the .proto subset beside it.
 *
 * pbts reads the JSDoc that pbjs writes, so the .d.ts is made from a commented build in a temp
 * dir; the committed otlp.js is built without comments (177 KB instead of 330 KB).
 *
 * Static module, ES6 wrapper, protobufjs/minimal at runtime: no reflection and no runtime code
 * generation, so it works unchanged inside `bun build --compile` (docs BUN.md §1). verify,
 * convert (toObject/fromObject) and delimited helpers are left out to keep the file small;
 * encode and decode stay (responses, tests).
 *
 * Usage: npm run gen:otlp   — the output is committed; rerun after editing a .proto file.
 */
import { generateStaticProto } from "./lib/gen-static-proto.mjs";

generateStaticProto({
  protoDir: "agent/sources/otlp/proto",
  outName: "otlp",
  protoFiles: ["opentelemetry/proto/collector/metrics/v1/metrics_service.proto", "google/rpc/status.proto"],
});
