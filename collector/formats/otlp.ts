/**
 * OTLP/HTTP metrics (`POST /v1/metrics`): an `ExportMetricsServiceRequest` as protobuf
 * (`application/x-protobuf`) or in the OTLP JSON mapping (`application/json`), decoded into
 * samples after OpenTelemetry's Prometheus compatibility specification. The mapping, and
 * what is rejected, is described in otlpSamples.ts; names and units in promNames.ts.
 */
export { decodeOtlpProtobuf } from './otlpProtobuf.js';
export { decodeOtlpJson } from './otlpJson.js';
