/**
 * The SDK applications use to push metrics to the collector's JSON endpoint: prom-client
 * style instruments, periodic pushes in batches, a bounded buffer, retries. Dependency-free
 * (global fetch, Node timers).
 */
export { createMetricsClient, MetricsClient } from './client.js';
export type { DropReason, MetricsClientOptions, PushStats, RetryOptions } from './client.js';
export type { Counter, Gauge, Histogram, HistogramOptions, MetricOptions } from './instruments.js';
export { DEFAULT_BUCKETS } from './instruments.js';
export { defaultHostLabels } from './sample.js';
export type { LabelValues, Sample, SampleKind } from './sample.js';
export type { ExitSignalOptions } from './signals.js';
export { PushError } from './transport.js';
export type { PushReceipt } from './transport.js';
export { ConfigError, PipelineError } from '../core/errors.js';
