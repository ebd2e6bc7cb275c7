import type { Sample, SampleKind } from '../../schemas/index.js';
import { formatFloat, labelName, metricName } from './promNames.js';
import { reject, type Decoded } from './types.js';

/**
 * The part of an OTLP ExportMetricsServiceRequest the mapping to samples needs, as both the
 * protobuf and the JSON decoder produce it, and the mapping itself: OpenTelemetry's
 * "Prometheus and OpenMetrics compatibility" specification (metric points to Prometheus),
 * with these choices:
 *
 * - Gauge: a gauge. Sum: cumulative and monotonic, a counter named `…_total`; cumulative and
 *   not monotonic, a gauge. Histogram (cumulative): counters `…_bucket{le}` (cumulative
 *   counts, the last `le="+Inf"` = count), `…_sum` (when the point has a sum), `…_count`.
 *   Summary: gauges `…{quantile}`, counters `…_sum` and `…_count`.
 * - Rejected, counted per data point: delta (and unspecified) temporality, since the
 *   pipeline stores cumulative values and does not accumulate deltas; exponential histograms
 *   (they map to native histograms, which the pipeline does not store); points flagged
 *   NO_RECORDED_VALUE; number points without a value; metrics without a name.
 * - Labels: the data point's attributes (names made valid, values as strings; attributes
 *   whose names collide are joined with `;` in the order of the original keys), plus `job`
 *   (`service.namespace/service.name`, or `service.name`) and `instance` (`service.instance.id`)
 *   from the resource, which win over attributes of the same name. Other resource attributes
 *   are not copied onto every series (the specification's default: they would belong in a
 *   `target_info` series, which is not produced), nor are scope name and version.
 * - Timestamp: `time_unix_nano` in whole milliseconds, rounded down.
 */

/** Attributes as the decoders read them: original key and value as a string, in order. */
export type Attributes = Array<[key: string, value: string]>;

/**
 * An attribute value (AnyValue) as JSON: ints beyond 2^53 as decimal strings, bytes as base64,
 * arrays and key-value lists as arrays and objects, an unset value as null.
 */
export type AnyValue = string | number | boolean | null | AnyValue[] | { [key: string]: AnyValue };

/** How deep arrays and key-value lists may nest in an attribute value. */
export const MAX_VALUE_DEPTH = 32;

/**
 * An attribute value as a label value, after OpenTelemetry's attribute specification: a
 * string as it is, another scalar in its usual form, an array or map as JSON, unset as empty.
 */
export function attributeString(value: AnyValue): string {
  if (typeof value === 'string') return value;
  if (value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const TEMPORALITY_DELTA = 1;
const TEMPORALITY_CUMULATIVE = 2;

/** DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK: the point marks a series gone, like a staleness marker. */
const FLAG_NO_RECORDED_VALUE = 1;

export interface PointBase {
  attributes: Attributes;
  /** `time_unix_nano` in epoch milliseconds. */
  timestamp: number;
  flags: number;
}

export interface NumberPoint extends PointBase {
  /** `as_double` or `as_int`; undefined when the point has neither. */
  value: number | undefined;
}

export interface HistogramPoint extends PointBase {
  count: number;
  sum: number | undefined;
  bucketCounts: number[];
  explicitBounds: number[];
}

export interface SummaryPoint extends PointBase {
  count: number;
  sum: number;
  quantiles: Array<[quantile: number, value: number]>;
}

export type MetricData =
  | { type: 'gauge'; points: NumberPoint[] }
  | { type: 'sum'; temporality: number; monotonic: boolean; points: NumberPoint[] }
  | { type: 'histogram'; temporality: number; points: HistogramPoint[] }
  | { type: 'exponentialHistogram'; points: number }
  | { type: 'summary'; points: SummaryPoint[] };

export interface Metric {
  name: string;
  unit: string;
  /** Undefined for a metric with no data. */
  data: MetricData | undefined;
}

const DELTA = 'delta temporality is not supported (configure cumulative temporality)';
const UNSPECIFIED_TEMPORALITY = 'unspecified aggregation temporality';
const EXPONENTIAL_HISTOGRAMS = 'exponential histograms are not supported';
const NO_RECORDED_VALUE = 'no recorded value';
const NO_VALUE = 'data point without a value';
const NO_NAME = 'metric without a name';

/** The labels a resource gives every series: `job` and `instance`, when it has the attributes for them. */
export function resourceLabels(attributes: Attributes): Record<string, string> {
  let name: string | undefined;
  let namespace: string | undefined;
  let instance: string | undefined;
  for (const [key, value] of attributes) {
    if (key === 'service.name') name = value;
    else if (key === 'service.namespace') namespace = value;
    else if (key === 'service.instance.id') instance = value;
  }
  const labels: Record<string, string> = {};
  if (name !== undefined) labels.job = namespace ? `${namespace}/${name}` : name;
  if (instance !== undefined) labels.instance = instance;
  return labels;
}

/**
 * Why a histogram point is malformed, or undefined: `bucket_counts` has one count more than
 * `explicit_bounds` (the last bucket is unbounded), or is empty.
 */
export function histogramProblem(point: HistogramPoint): string | undefined {
  const { bucketCounts, explicitBounds } = point;
  if (bucketCounts.length === 0 || bucketCounts.length === explicitBounds.length + 1) return undefined;
  const bounds = explicitBounds.length;
  return `${bucketCounts.length} bucket counts for ${bounds} explicit bounds (expected ${bounds + 1})`;
}

/** Appends the samples of one metric to `decoded` (or counts its points as rejected). */
export function addMetric(decoded: Decoded, resource: Record<string, string>, metric: Metric): void {
  const { data } = metric;
  if (data === undefined) return;
  if (data.type === 'exponentialHistogram') {
    if (data.points > 0) reject(decoded, EXPONENTIAL_HISTOGRAMS, data.points);
    return;
  }
  if (data.points.length === 0) return;
  if (metric.name === '') {
    reject(decoded, NO_NAME, data.points.length);
    return;
  }
  if (data.type === 'sum' || data.type === 'histogram') {
    if (data.temporality !== TEMPORALITY_CUMULATIVE) {
      const reason = data.temporality === TEMPORALITY_DELTA ? DELTA : UNSPECIFIED_TEMPORALITY;
      reject(decoded, reason, data.points.length);
      return;
    }
  }
  switch (data.type) {
    case 'gauge':
      return addNumbers(
        decoded,
        resource,
        metricName(metric.name, metric.unit, 'gauge'),
        'gauge',
        data.points,
      );
    case 'sum':
      return data.monotonic
        ? addNumbers(
            decoded,
            resource,
            metricName(metric.name, metric.unit, 'counter'),
            'counter',
            data.points,
          )
        : addNumbers(decoded, resource, metricName(metric.name, metric.unit, 'other'), 'gauge', data.points);
    case 'histogram':
      return addHistograms(decoded, resource, metricName(metric.name, metric.unit, 'other'), data.points);
    case 'summary':
      return addSummaries(decoded, resource, metricName(metric.name, metric.unit, 'other'), data.points);
  }
}

function addNumbers(
  decoded: Decoded,
  resource: Record<string, string>,
  name: string,
  kind: SampleKind,
  points: NumberPoint[],
): void {
  for (const point of points) {
    if (skipped(decoded, point)) continue;
    if (point.value === undefined) {
      reject(decoded, NO_VALUE);
      continue;
    }
    const labels = pointLabels(point.attributes, resource);
    decoded.samples.push({ name, labels, timestamp: point.timestamp, value: point.value, kind });
  }
}

function addHistograms(
  decoded: Decoded,
  resource: Record<string, string>,
  base: string,
  points: HistogramPoint[],
): void {
  const bucket = `${base}_bucket`;
  const sum = `${base}_sum`;
  const count = `${base}_count`;
  const out = decoded.samples;
  for (const point of points) {
    if (skipped(decoded, point)) continue;
    const { timestamp, bucketCounts, explicitBounds } = point;
    const labels = pointLabels(point.attributes, resource);
    let cumulative = 0;
    // Without bucket counts the histogram is its count and sum: only the +Inf bucket.
    if (bucketCounts.length > 0) {
      for (let i = 0; i < explicitBounds.length; i++) {
        cumulative += bucketCounts[i] as number;
        const le = formatFloat(explicitBounds[i] as number);
        out.push(sample(bucket, { ...labels, le }, timestamp, cumulative, 'counter'));
      }
    }
    out.push(sample(bucket, { ...labels, le: '+Inf' }, timestamp, point.count, 'counter'));
    if (point.sum !== undefined) out.push(sample(sum, labels, timestamp, point.sum, 'counter'));
    out.push(sample(count, labels, timestamp, point.count, 'counter'));
  }
}

function addSummaries(
  decoded: Decoded,
  resource: Record<string, string>,
  base: string,
  points: SummaryPoint[],
): void {
  const sum = `${base}_sum`;
  const count = `${base}_count`;
  const out = decoded.samples;
  for (const point of points) {
    if (skipped(decoded, point)) continue;
    const { timestamp } = point;
    const labels = pointLabels(point.attributes, resource);
    for (const [q, value] of point.quantiles) {
      out.push(sample(base, { ...labels, quantile: formatFloat(q) }, timestamp, value, 'gauge'));
    }
    out.push(sample(sum, labels, timestamp, point.sum, 'counter'));
    out.push(sample(count, labels, timestamp, point.count, 'counter'));
  }
}

/** True (and counted) for a point flagged NO_RECORDED_VALUE, which carries no sample. */
function skipped(decoded: Decoded, point: PointBase): boolean {
  if ((point.flags & FLAG_NO_RECORDED_VALUE) === 0) return false;
  reject(decoded, NO_RECORDED_VALUE);
  return true;
}

/**
 * The labels of a point: its attributes with names made valid, then the resource's `job` and
 * `instance`. Attributes whose names become the same are joined with `;`, ordered by their
 * original keys, as the specification says.
 */
function pointLabels(attributes: Attributes, resource: Record<string, string>): Record<string, string> {
  const labels: Record<string, string> = {};
  let collisions: Set<string> | undefined;
  for (const [key, value] of attributes) {
    const name = labelName(key);
    if (Object.hasOwn(labels, name)) (collisions ??= new Set()).add(name);
    labels[name] = value;
  }
  if (collisions !== undefined) {
    for (const name of collisions) {
      labels[name] = attributes
        .filter(([key]) => labelName(key) === name)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, value]) => value)
        .join(';');
    }
  }
  for (const name in resource) labels[name] = resource[name] as string;
  return labels;
}

function sample(
  name: string,
  labels: Record<string, string>,
  timestamp: number,
  value: number,
  kind: SampleKind,
): Sample {
  return { name, labels, timestamp, value, kind };
}
