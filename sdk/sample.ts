import { hostname } from 'node:os';
import { ConfigError } from '../core/errors.js';

/** How a value is meant: a gauge is a level, a counter only goes up (and resets on restart). */
export type SampleKind = 'gauge' | 'counter';

/** One sample as the collector's JSON endpoint takes it; `timestamp` is epoch ms. */
export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  timestamp: number;
  value: number;
  kind: SampleKind;
}

/** Label values as callers pass them; numbers are sent as their decimal string. */
export type LabelValues<T extends string = string> = Partial<Record<T, string | number>>;

// The Prometheus rules, the same the collector applies (core/validate.ts).
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws a ConfigError unless `name` is a valid Prometheus metric name. */
export function checkMetricName(name: string): void {
  if (!METRIC_NAME.test(name)) {
    throw new ConfigError(`invalid metric name ${JSON.stringify(name)}`, {
      hint: 'metric names match [a-zA-Z_:][a-zA-Z0-9_:]*',
    });
  }
}

/** Throws a ConfigError unless `label` is a valid label name, not reserved (`__*`), for `metric`. */
export function checkLabelName(label: string, metric: string): void {
  if (!LABEL_NAME.test(label)) {
    throw new ConfigError(`invalid label name ${JSON.stringify(label)} on ${metric}`, {
      hint: 'label names match [a-zA-Z_][a-zA-Z0-9_]*',
    });
  }
  if (label.startsWith('__')) {
    throw new ConfigError(`label name ${label} on ${metric} is reserved (starts with __)`);
  }
}

/** Throws a RangeError unless `value` is a finite number. */
export function checkFinite(value: number, metric: string): void {
  if (!Number.isFinite(value)) throw new RangeError(`value ${value} of ${metric} is not finite`);
}

/** Labels that identify this process: `{ host: os.hostname(), service }`, for `defaultLabels`. */
export function defaultHostLabels(service: string): Record<string, string> {
  return { host: hostname(), service };
}
