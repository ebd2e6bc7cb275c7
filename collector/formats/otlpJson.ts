import { badRequest } from '../errors.js';
import {
  addMetric,
  attributeString,
  histogramProblem,
  MAX_VALUE_DEPTH,
  resourceLabels,
  type AnyValue,
  type Attributes,
  type HistogramPoint,
  type Metric,
  type MetricData,
  type NumberPoint,
  type PointBase,
  type SummaryPoint,
} from './otlpSamples.js';
import type { Decoded } from './types.js';

type JsonObject = Record<string, unknown>;

const DATA_KEYS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;
const TEMPORALITIES = [
  'AGGREGATION_TEMPORALITY_UNSPECIFIED',
  'AGGREGATION_TEMPORALITY_DELTA',
  'AGGREGATION_TEMPORALITY_CUMULATIVE',
];

/**
 * Decodes an OTLP/HTTP JSON body, an `ExportMetricsServiceRequest` in the OTLP JSON mapping,
 * into samples (see otlpSamples.ts for the mapping). Keys are lowerCamelCase; 64-bit integers
 * are decimal strings or numbers; doubles are numbers or "NaN", "Infinity", "-Infinity";
 * enums are integers (their names are taken too); an absent or null field has its default;
 * unknown keys are ignored. Throws a 400 `HttpError` for a body of the wrong shape, with the
 * path of the first problem.
 */
export function decodeOtlpJson(body: Buffer | string): Decoded {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (error) {
    throw badRequest(`OTLP JSON: invalid JSON: ${(error as Error).message}`);
  }
  const decoded: Decoded = { samples: [], rejected: new Map() };
  const request = object(parsed, 'the body');
  const resources = array(request.resourceMetrics, 'resourceMetrics');
  for (let i = 0; i < resources.length; i++) {
    const at = `resourceMetrics[${i}]`;
    const resourceMetrics = object(resources[i], at);
    const resource = optionalObject(resourceMetrics.resource, `${at}.resource`);
    const labels = resourceLabels(attributes(resource?.attributes, `${at}.resource.attributes`));
    const scopes = array(resourceMetrics.scopeMetrics, `${at}.scopeMetrics`);
    for (let j = 0; j < scopes.length; j++) {
      const scopeAt = `${at}.scopeMetrics[${j}]`;
      const metrics = array(object(scopes[j], scopeAt).metrics, `${scopeAt}.metrics`);
      for (let k = 0; k < metrics.length; k++) {
        addMetric(decoded, labels, metric(metrics[k], `${scopeAt}.metrics[${k}]`));
      }
    }
  }
  return decoded;
}

function metric(raw: unknown, at: string): Metric {
  const m = object(raw, at);
  const name = string(m.name, `${at}.name`);
  const unit = string(m.unit, `${at}.unit`);
  const present = DATA_KEYS.filter((key) => m[key] !== undefined && m[key] !== null);
  if (present.length > 1) throw bad(`${at}: has ${present.join(' and ')}, a metric has one kind of data`);
  const key = present[0];
  if (key === undefined) return { name, unit, data: undefined };
  const dataAt = `${at}.${key}`;
  return { name, unit, data: data(key, object(m[key], dataAt), dataAt) };
}

function data(key: (typeof DATA_KEYS)[number], d: JsonObject, at: string): MetricData {
  const points = array(d.dataPoints, `${at}.dataPoints`);
  const pointAt = (i: number) => `${at}.dataPoints[${i}]`;
  switch (key) {
    case 'gauge':
      return { type: 'gauge', points: points.map((p, i) => numberPoint(p, pointAt(i))) };
    case 'sum':
      return {
        type: 'sum',
        temporality: temporality(d.aggregationTemporality, `${at}.aggregationTemporality`),
        monotonic: boolean(d.isMonotonic, `${at}.isMonotonic`),
        points: points.map((p, i) => numberPoint(p, pointAt(i))),
      };
    case 'histogram':
      return {
        type: 'histogram',
        temporality: temporality(d.aggregationTemporality, `${at}.aggregationTemporality`),
        points: points.map((p, i) => histogramPoint(p, pointAt(i))),
      };
    case 'exponentialHistogram':
      return { type: 'exponentialHistogram', points: points.length };
    case 'summary':
      return { type: 'summary', points: points.map((p, i) => summaryPoint(p, pointAt(i))) };
  }
}

function pointBase(p: JsonObject, at: string): PointBase {
  return {
    attributes: attributes(p.attributes, `${at}.attributes`),
    timestamp: nanosToMillis(p.timeUnixNano, `${at}.timeUnixNano`),
    flags: uint32(p.flags, `${at}.flags`),
  };
}

function numberPoint(raw: unknown, at: string): NumberPoint {
  const p = object(raw, at);
  const point: NumberPoint = { ...pointBase(p, at), value: undefined };
  if (p.asDouble !== undefined && p.asDouble !== null) point.value = double(p.asDouble, `${at}.asDouble`);
  else if (p.asInt !== undefined && p.asInt !== null) point.value = int64(p.asInt, `${at}.asInt`);
  return point;
}

function histogramPoint(raw: unknown, at: string): HistogramPoint {
  const p = object(raw, at);
  const point: HistogramPoint = {
    ...pointBase(p, at),
    count: int64(p.count, `${at}.count`),
    sum: p.sum === undefined || p.sum === null ? undefined : double(p.sum, `${at}.sum`),
    bucketCounts: array(p.bucketCounts, `${at}.bucketCounts`).map((v, i) =>
      int64(v, `${at}.bucketCounts[${i}]`),
    ),
    explicitBounds: array(p.explicitBounds, `${at}.explicitBounds`).map((v, i) =>
      double(v, `${at}.explicitBounds[${i}]`),
    ),
  };
  const problem = histogramProblem(point);
  if (problem !== undefined) throw bad(`${at}: ${problem}`);
  return point;
}

function summaryPoint(raw: unknown, at: string): SummaryPoint {
  const p = object(raw, at);
  return {
    ...pointBase(p, at),
    count: int64(p.count, `${at}.count`),
    sum: double(p.sum, `${at}.sum`),
    quantiles: array(p.quantileValues, `${at}.quantileValues`).map((raw, i): [number, number] => {
      const qAt = `${at}.quantileValues[${i}]`;
      const q = object(raw, qAt);
      return [double(q.quantile, `${qAt}.quantile`), double(q.value, `${qAt}.value`)];
    }),
  };
}

/** KeyValue[] as (key, value as a string) pairs. */
function attributes(raw: unknown, at: string): Attributes {
  return array(raw, at).map((entry, i): [string, string] => {
    const kvAt = `${at}[${i}]`;
    const kv = object(entry, kvAt);
    return [string(kv.key, `${kvAt}.key`), attributeString(anyValue(kv.value, `${kvAt}.value`, 1))];
  });
}

/**
 * AnyValue as a JSON value: `{"stringValue": …}`, `{"intValue": …}`, `{"arrayValue": {"values":
 * […]}}`, ….
 */
function anyValue(raw: unknown, at: string, depth: number): AnyValue {
  if (depth > MAX_VALUE_DEPTH) throw bad(`${at}: nested deeper than ${MAX_VALUE_DEPTH} levels`);
  if (raw === undefined || raw === null) return null;
  const v = object(raw, at);
  if (v.stringValue !== undefined && v.stringValue !== null)
    return string(v.stringValue, `${at}.stringValue`);
  if (v.boolValue !== undefined && v.boolValue !== null) return boolean(v.boolValue, `${at}.boolValue`);
  if (v.intValue !== undefined && v.intValue !== null) {
    const n = int64(v.intValue, `${at}.intValue`);
    // Beyond 2^53 a number is rounded: keep the exact decimal the sender wrote.
    return Number.isSafeInteger(n) || typeof v.intValue !== 'string' ? n : v.intValue;
  }
  if (v.doubleValue !== undefined && v.doubleValue !== null)
    return double(v.doubleValue, `${at}.doubleValue`);
  if (v.bytesValue !== undefined && v.bytesValue !== null) return string(v.bytesValue, `${at}.bytesValue`);
  if (v.arrayValue !== undefined && v.arrayValue !== null) {
    const listAt = `${at}.arrayValue.values`;
    const values = array(object(v.arrayValue, `${at}.arrayValue`).values, listAt);
    return values.map((item, i) => anyValue(item, `${listAt}[${i}]`, depth + 1));
  }
  if (v.kvlistValue !== undefined && v.kvlistValue !== null) {
    const listAt = `${at}.kvlistValue.values`;
    const values = array(object(v.kvlistValue, `${at}.kvlistValue`).values, listAt);
    // No prototype: a key like `__proto__` is just a key.
    const map = Object.create(null) as Record<string, AnyValue>;
    values.forEach((entry, i) => {
      const kv = object(entry, `${listAt}[${i}]`);
      map[string(kv.key, `${listAt}[${i}].key`)] = anyValue(kv.value, `${listAt}[${i}].value`, depth + 1);
    });
    return map;
  }
  return null;
}

function object(v: unknown, at: string): JsonObject {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as JsonObject;
  throw bad(`${at}: expected an object, got ${typeName(v)}`);
}

function optionalObject(v: unknown, at: string): JsonObject | undefined {
  return v === undefined || v === null ? undefined : object(v, at);
}

function array(v: unknown, at: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v;
  throw bad(`${at}: expected an array, got ${typeName(v)}`);
}

function string(v: unknown, at: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  throw bad(`${at}: expected a string, got ${typeName(v)}`);
}

function boolean(v: unknown, at: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  throw bad(`${at}: expected true or false, got ${typeName(v)}`);
}

const INTEGER = /^-?[0-9]+$/;

/** An int64 or uint64: a decimal string or an integral number (rounded beyond 2^53). */
function int64(v: unknown, at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && INTEGER.test(v)) return Number(v);
  throw bad(`${at}: expected an integer (a number or a decimal string), got ${describe(v)}`);
}

function uint32(v: unknown, at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  throw bad(`${at}: expected an unsigned 32-bit integer, got ${describe(v)}`);
}

/** Unsigned nanoseconds since the epoch as whole milliseconds, exactly for a decimal string. */
function nanosToMillis(v: unknown, at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return v.length <= 6 ? 0 : Number(v.slice(0, -6));
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return Math.floor(v / 1e6);
  throw bad(`${at}: expected nanoseconds since the epoch (a decimal string or a number), got ${describe(v)}`);
}

/** A double: a number, one of "NaN", "Infinity", "-Infinity", or a decimal string. */
function double(v: unknown, at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = v.trim() === '' ? NaN : Number(v);
    if (!Number.isNaN(n)) return n;
  }
  throw bad(`${at}: expected a number, got ${describe(v)}`);
}

function temporality(v: unknown, at: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && TEMPORALITIES.includes(v)) return TEMPORALITIES.indexOf(v);
  throw bad(`${at}: expected an AggregationTemporality (1 delta, 2 cumulative), got ${describe(v)}`);
}

function bad(message: string): Error {
  return badRequest(`OTLP JSON: ${message}`);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/** A short rendering of a wrong value: strings and numbers shown, other types named. */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number') return String(v);
  return typeName(v);
}
