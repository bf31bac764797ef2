/** A real OpenTelemetry JS SDK pipeline pointed at an agent's OTLP port (proto or JSON exporter). */
import { AggregationTemporality, AggregationType, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { OTLPMetricExporter as ProtoExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { OTLPMetricExporter as JsonExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";

export interface OtelSender {
  provider: MeterProvider;
  meter: ReturnType<MeterProvider["getMeter"]>;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function createOtelSender(
  port: number,
  opts: { encoding: "proto" | "json"; temporality: "delta" | "cumulative"; serviceName?: string },
): OtelSender {
  const url = `http://127.0.0.1:${port}/v1/metrics`;
  const temporalityPreference = opts.temporality === "delta" ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
  const exporter = opts.encoding === "proto" ? new ProtoExporter({ url, temporalityPreference }) : new JsonExporter({ url, temporalityPreference });
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ "service.name": opts.serviceName ?? "game-server", region: "eu-west-1" }),
    readers: [reader],
    views: [{ instrumentName: "*latency*", aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  return {
    provider,
    meter: provider.getMeter("e2e"),
    flush: () => reader.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
