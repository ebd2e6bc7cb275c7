import type { Sample, SampleKind } from '../schemas/index.js';

/** Limits on what a sample may look like; defaults follow Prometheus and Mimir. */
export interface ValidationLimits {
  maxLabels: number;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
  maxMetricNameLength: number;
  /** How far behind now an event time may be, in ms. */
  maxPastMs: number;
  /** How far ahead of now an event time may be, in ms. */
  maxFutureMs: number;
}

export const defaultLimits: ValidationLimits = {
  maxLabels: 30,
  maxLabelNameLength: 1024,
  maxLabelValueLength: 2048,
  maxMetricNameLength: 1024,
  maxPastMs: 7 * 24 * 3600_000,
  maxFutureMs: 10 * 60_000,
};

/** A sample after validation: labels sorted by name, empty label values dropped. */
export interface NormalizedSample {
  name: string;
  labels: Array<[string, string]>;
  timestamp: number;
  value: number;
  kind: SampleKind;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Names that passed their check: the same few names come with every sample. Bounded. */
const validMetricNames = new Set<string>();
const validLabelNames = new Set<string>();
const NAME_CACHE_LIMIT = 100_000;

function remember(set: Set<string>, name: string): void {
  if (set.size >= NAME_CACHE_LIMIT) set.clear();
  set.add(name);
}

/** By code unit: the order ClickHouse and every process agree on. */
const byName = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * Validates and normalizes one sample: Prometheus metric and label names, finite value,
 * event time within [now - maxPast, now + maxFuture], label count and lengths. Returns the
 * normalized sample, or a reason string (for the dead-letter topic) when it is rejected.
 * The checks run in this order (the reason names the first that fails): the metric name
 * (`checkMetricName`), the value and event time (`checkPoint`), the labels (`normalizeLabels`).
 */
export function normalizeSample(
  sample: Sample,
  limits: ValidationLimits,
  now: number,
): NormalizedSample | string {
  const { name, value, timestamp } = sample;
  const problem = metricNameProblem(name, limits) ?? pointProblem(name, value, timestamp, limits, now);
  if (problem !== undefined) return problem;
  const labels = normalizeLabels(name, sample.labels, limits);
  if (typeof labels === 'string') return labels;
  return { name, labels, timestamp, value, kind: sample.kind === 'counter' ? 'counter' : 'gauge' };
}

/** Why a metric name is refused (empty, too long, not a Prometheus name), or undefined. Checked first. */
export function metricNameProblem(name: string, limits: ValidationLimits): string | undefined {
  if (name.length === 0) return 'empty metric name';
  if (name.length > limits.maxMetricNameLength)
    return `metric name longer than ${limits.maxMetricNameLength}`;
  if (!validMetricNames.has(name)) {
    if (!METRIC_NAME.test(name)) return `invalid metric name ${JSON.stringify(name)}`;
    remember(validMetricNames, name);
  }
  return undefined;
}

/**
 * Why a value or event time is refused (not finite; not whole ms; outside [now - maxPast,
 * now + maxFuture]), or undefined. Checked after the name, before the labels.
 */
export function pointProblem(
  name: string,
  value: number,
  timestamp: number,
  limits: ValidationLimits,
  now: number,
): string | undefined {
  if (!Number.isFinite(value)) return `value ${value} of ${name} is not finite`;
  if (!Number.isSafeInteger(timestamp)) return `timestamp ${timestamp} of ${name} is not an integer of ms`;
  if (timestamp < now - limits.maxPastMs) {
    return `timestamp ${new Date(timestamp).toISOString()} of ${name} is older than the accepted ${limits.maxPastMs} ms`;
  }
  if (timestamp > now + limits.maxFutureMs) {
    return `timestamp ${new Date(timestamp).toISOString()} of ${name} is more than ${limits.maxFutureMs} ms ahead`;
  }
  return undefined;
}

/**
 * The labels of a sample of metric `name` as pairs sorted by name, empty values dropped; or why
 * they are refused (a label name invalid or reserved, a name or value too long, too many labels).
 */
export function normalizeLabels(
  name: string,
  input: Readonly<Record<string, string>>,
  limits: ValidationLimits,
): Array<[string, string]> | string {
  const labels: Array<[string, string]> = [];
  for (const key in input) {
    const v = input[key] as string;
    // An empty value means "no such label" in Prometheus; keeping it would split one series in two.
    if (v === '') continue;
    if (!validLabelNames.has(key)) {
      if (!LABEL_NAME.test(key)) return `invalid label name ${JSON.stringify(key)} on ${name}`;
      if (key.startsWith('__')) return `label name ${key} on ${name} is reserved (starts with __)`;
      remember(validLabelNames, key);
    }
    if (key.length > limits.maxLabelNameLength)
      return `label name on ${name} longer than ${limits.maxLabelNameLength}`;
    if (v.length > limits.maxLabelValueLength) {
      return `value of label ${key} on ${name} longer than ${limits.maxLabelValueLength}`;
    }
    labels.push([key, v]);
  }
  if (labels.length > limits.maxLabels)
    return `${labels.length} labels on ${name}, more than ${limits.maxLabels}`;
  // Labels usually come sorted already (JSON objects, remote_write); sorting is then skipped.
  for (let i = 1; i < labels.length; i++) {
    if ((labels[i - 1] as [string, string])[0] > (labels[i] as [string, string])[0]) {
      labels.sort(byName);
      break;
    }
  }
  return labels;
}
