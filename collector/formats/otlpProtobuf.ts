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
  type SummaryPoint,
} from './otlpSamples.js';
import type { Decoded } from './types.js';
import {
  enter,
  expectWireType,
  fixed64,
  fixed64NanosToMillis,
  int64,
  leave,
  reader,
  rethrowIn,
  sfixed64,
  skipField,
  string,
  toWireError,
  unknownField,
  WIRE_FIXED64,
  WIRE_LENGTH_DELIMITED,
  WIRE_VARINT,
  WireError,
  type Reader,
} from './wire.js';

// Metric.data, the oneof: field numbers (opentelemetry/proto/metrics/v1/metrics.proto).
const GAUGE = 5;
const SUM = 7;
const HISTOGRAM = 9;
const EXPONENTIAL_HISTOGRAM = 10;
const SUMMARY = 11;
/** A field of a message: its tag (field number << 3 | wire type) and name. */
type Field = [tag: number, name: string];
const DATA_POINTS: Field = [(1 << 3) | WIRE_LENGTH_DELIMITED, 'data_points'];
const TEMPORALITY: Field = [(2 << 3) | WIRE_VARINT, 'aggregation_temporality'];
const MONOTONIC: Field = [(3 << 3) | WIRE_VARINT, 'is_monotonic'];
const QUANTILE_TAG = (1 << 3) | WIRE_FIXED64;
const QUANTILE_VALUE_TAG = (2 << 3) | WIRE_FIXED64;
const KEY_TAG = (1 << 3) | WIRE_LENGTH_DELIMITED;
const VALUE_TAG = (2 << 3) | WIRE_LENGTH_DELIMITED;
const VALUES_TAG = (1 << 3) | WIRE_LENGTH_DELIMITED;
const DATA_NAMES = new Map([
  [GAUGE, 'gauge'],
  [SUM, 'sum'],
  [HISTOGRAM, 'histogram'],
  [EXPONENTIAL_HISTOGRAM, 'exponential_histogram'],
  [SUMMARY, 'summary'],
]);

/**
 * Decodes an OTLP/HTTP protobuf body, an `ExportMetricsServiceRequest`, into samples (see
 * otlpSamples.ts for the mapping). A hand-written decode loop on protobufjs' Reader over the
 * fields the mapping needs; others are skipped. Throws a 400 `HttpError` for a malformed
 * message, with the field path (proto field names) and the byte.
 */
export function decodeOtlpProtobuf(body: Buffer): Decoded {
  const decoded: Decoded = { samples: [], rejected: new Map() };
  const r = reader(body);
  let i = 0;
  try {
    while (r.pos < r.len) {
      const tag = r.tag();
      if (tag >>> 3 !== 1) {
        skipField(r, tag);
        continue;
      }
      expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'resource_metrics');
      try {
        decodeResourceMetrics(r, decoded);
      } catch (err) {
        rethrowIn(err, `.resource_metrics[${i}]`, r);
      }
      i++;
    }
  } catch (err) {
    const wire = toWireError(err, r);
    throw badRequest(`protobuf: ExportMetricsServiceRequest${wire.path}: ${wire.message}`);
  }
  return decoded;
}

/** ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }. */
function decodeResourceMetrics(r: Reader, decoded: Decoded): void {
  const outer = enter(r);
  let resource: Attributes = [];
  // The resource may come after its metrics: they are mapped once it is known.
  const metrics: Metric[] = [];
  let scopes = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    const field = tag >>> 3;
    if (field === 1) {
      expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'resource');
      try {
        resource = decodeResource(r);
      } catch (err) {
        rethrowIn(err, '.resource', r);
      }
    } else if (field === 2) {
      expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'scope_metrics');
      try {
        decodeScopeMetrics(r, metrics);
      } catch (err) {
        rethrowIn(err, `.scope_metrics[${scopes}]`, r);
      }
      scopes++;
    } else skipField(r, tag);
  }
  leave(r, outer);
  const labels = resourceLabels(resource);
  for (const metric of metrics) addMetric(decoded, labels, metric);
}

/** ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }: the scope is not used. */
function decodeScopeMetrics(r: Reader, metrics: Metric[]): void {
  const outer = enter(r);
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag >>> 3 !== 2) {
      skipField(r, tag);
      continue;
    }
    expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'metrics');
    try {
      metrics.push(decodeMetric(r));
    } catch (err) {
      rethrowIn(err, `.metrics[${metrics.length}]`, r);
    }
  }
  leave(r, outer);
}

/**
 * Metric { string name = 1; string unit = 3; oneof data { gauge 5, sum 7, histogram 9,
 * exponential_histogram 10, summary 11 } }.
 */
function decodeMetric(r: Reader): Metric {
  const outer = enter(r);
  let name = '';
  let unit = '';
  let data: MetricData | undefined;
  while (r.pos < r.len) {
    const tag = r.tag();
    const field = tag >>> 3;
    if (field === 1) {
      expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'name');
      name = string(r);
    } else if (field === 3) {
      expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'unit');
      unit = string(r);
    } else if (DATA_NAMES.has(field)) {
      const dataName = DATA_NAMES.get(field) as string;
      expectWireType(r, tag, WIRE_LENGTH_DELIMITED, dataName);
      // A oneof: the last one on the wire wins.
      try {
        data = decodeData(r, field);
      } catch (err) {
        rethrowIn(err, `.${dataName}`, r);
      }
    } else skipField(r, tag);
  }
  leave(r, outer);
  return { name, unit, data };
}

/**
 * Gauge, Sum, Histogram, ExponentialHistogram or Summary: data_points = 1,
 * aggregation_temporality = 2 (not in Gauge and Summary), is_monotonic = 3 (only in Sum).
 */
function decodeData(r: Reader, field: number): MetricData {
  switch (field) {
    case GAUGE:
      return { type: 'gauge', points: decodePoints(r, decodeNumberPoint).points };
    case SUM: {
      const { points, temporality, monotonic } = decodePoints(r, decodeNumberPoint, TEMPORALITY, MONOTONIC);
      return { type: 'sum', temporality, monotonic, points };
    }
    case HISTOGRAM: {
      const { points, temporality } = decodePoints(r, decodeHistogramPoint, TEMPORALITY);
      return { type: 'histogram', temporality, points };
    }
    case EXPONENTIAL_HISTOGRAM:
      return { type: 'exponentialHistogram', points: decodePoints(r, skipPoint, TEMPORALITY).points.length };
    default:
      return { type: 'summary', points: decodePoints(r, decodeSummaryPoint).points };
  }
}

/** The data_points of a Gauge, Sum, Histogram, …, and those of `fields` the message has. */
function decodePoints<P>(
  r: Reader,
  decodePoint: (r: Reader) => P,
  ...fields: Field[]
): { points: P[]; temporality: number; monotonic: boolean } {
  const outer = enter(r);
  const points: P[] = [];
  let temporality = 0;
  let monotonic = false;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === DATA_POINTS[0]) {
      try {
        points.push(decodePoint(r));
      } catch (err) {
        rethrowIn(err, `.data_points[${points.length}]`, r);
      }
    } else if (tag === TEMPORALITY[0] && fields.includes(TEMPORALITY)) temporality = r.int32();
    else if (tag === MONOTONIC[0] && fields.includes(MONOTONIC)) monotonic = r.bool();
    else unknownField(r, tag, DATA_POINTS, ...fields);
  }
  leave(r, outer);
  return { points, temporality, monotonic };
}

function skipPoint(r: Reader): null {
  r.skipType(WIRE_LENGTH_DELIMITED);
  return null;
}

/** NumberDataPoint { attributes = 7; time_unix_nano = 3; as_double = 4; as_int = 6; flags = 8 }. */
function decodeNumberPoint(r: Reader): NumberPoint {
  const outer = enter(r);
  const point: NumberPoint = { attributes: [], timestamp: 0, flags: 0, value: undefined };
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 7:
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'attributes');
        decodeAttribute(r, point.attributes);
        break;
      case 3:
        expectWireType(r, tag, WIRE_FIXED64, 'time_unix_nano');
        point.timestamp = fixed64NanosToMillis(r);
        break;
      case 4:
        expectWireType(r, tag, WIRE_FIXED64, 'as_double');
        point.value = r.double();
        break;
      case 6:
        expectWireType(r, tag, WIRE_FIXED64, 'as_int');
        point.value = sfixed64(r);
        break;
      case 8:
        expectWireType(r, tag, WIRE_VARINT, 'flags');
        point.flags = r.uint32();
        break;
      default:
        skipField(r, tag);
    }
  }
  leave(r, outer);
  return point;
}

/**
 * HistogramDataPoint { attributes = 9; time_unix_nano = 3; count = 4; sum = 5;
 * bucket_counts = 6; explicit_bounds = 7; flags = 10 }.
 */
function decodeHistogramPoint(r: Reader): HistogramPoint {
  const outer = enter(r);
  const point: HistogramPoint = {
    attributes: [],
    timestamp: 0,
    flags: 0,
    count: 0,
    sum: undefined,
    bucketCounts: [],
    explicitBounds: [],
  };
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 9:
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'attributes');
        decodeAttribute(r, point.attributes);
        break;
      case 3:
        expectWireType(r, tag, WIRE_FIXED64, 'time_unix_nano');
        point.timestamp = fixed64NanosToMillis(r);
        break;
      case 4:
        expectWireType(r, tag, WIRE_FIXED64, 'count');
        point.count = fixed64(r);
        break;
      case 5:
        expectWireType(r, tag, WIRE_FIXED64, 'sum');
        point.sum = r.double();
        break;
      case 6:
        repeated64(r, tag, 'bucket_counts', () => point.bucketCounts.push(fixed64(r)));
        break;
      case 7:
        repeated64(r, tag, 'explicit_bounds', () => point.explicitBounds.push(r.double()));
        break;
      case 10:
        expectWireType(r, tag, WIRE_VARINT, 'flags');
        point.flags = r.uint32();
        break;
      default:
        skipField(r, tag);
    }
  }
  leave(r, outer);
  const problem = histogramProblem(point);
  if (problem !== undefined) throw new WireError(problem);
  return point;
}

/**
 * SummaryDataPoint { attributes = 7; time_unix_nano = 3; count = 4; sum = 5;
 * quantile_values = 6; flags = 8 }.
 */
function decodeSummaryPoint(r: Reader): SummaryPoint {
  const outer = enter(r);
  const point: SummaryPoint = { attributes: [], timestamp: 0, flags: 0, count: 0, sum: 0, quantiles: [] };
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag >>> 3) {
      case 7:
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'attributes');
        decodeAttribute(r, point.attributes);
        break;
      case 3:
        expectWireType(r, tag, WIRE_FIXED64, 'time_unix_nano');
        point.timestamp = fixed64NanosToMillis(r);
        break;
      case 4:
        expectWireType(r, tag, WIRE_FIXED64, 'count');
        point.count = fixed64(r);
        break;
      case 5:
        expectWireType(r, tag, WIRE_FIXED64, 'sum');
        point.sum = r.double();
        break;
      case 6:
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'quantile_values');
        try {
          point.quantiles.push(decodeQuantile(r));
        } catch (err) {
          rethrowIn(err, `.quantile_values[${point.quantiles.length}]`, r);
        }
        break;
      case 8:
        expectWireType(r, tag, WIRE_VARINT, 'flags');
        point.flags = r.uint32();
        break;
      default:
        skipField(r, tag);
    }
  }
  leave(r, outer);
  return point;
}

/** ValueAtQuantile { double quantile = 1; double value = 2; }. */
function decodeQuantile(r: Reader): [number, number] {
  const outer = enter(r);
  let quantile = 0;
  let value = 0;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === QUANTILE_TAG) quantile = r.double();
    else if (tag === QUANTILE_VALUE_TAG) value = r.double();
    else unknownField(r, tag, [QUANTILE_TAG, 'quantile'], [QUANTILE_VALUE_TAG, 'value']);
  }
  leave(r, outer);
  return [quantile, value];
}

/** A repeated 64-bit scalar: packed (one length-delimited run) or one value per tag; parsers take both. */
function repeated64(r: Reader, tag: number, field: string, readOne: () => void): void {
  if ((tag & 7) === WIRE_FIXED64) {
    readOne();
    return;
  }
  expectWireType(r, tag, WIRE_LENGTH_DELIMITED, field);
  const outer = enter(r);
  if ((r.len - r.pos) % 8 !== 0) {
    throw new WireError(
      `${field}: packed run of ${r.len - r.pos} bytes is not a whole number of 8-byte values`,
    );
  }
  while (r.pos < r.len) readOne();
  leave(r, outer);
}

/** Resource { repeated KeyValue attributes = 1; }. */
function decodeResource(r: Reader): Attributes {
  const outer = enter(r);
  const attributes: Attributes = [];
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag >>> 3 !== 1) {
      skipField(r, tag);
      continue;
    }
    expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'attributes');
    decodeAttribute(r, attributes);
  }
  leave(r, outer);
  return attributes;
}

/** KeyValue { string key = 1; AnyValue value = 2; }, appended to `attributes` with the value as a string. */
function decodeAttribute(r: Reader, attributes: Attributes): void {
  try {
    const outer = enter(r);
    let key = '';
    let value: AnyValue = null;
    while (r.pos < r.len) {
      const tag = r.tag();
      if (tag === KEY_TAG) key = string(r);
      else if (tag === VALUE_TAG) value = decodeAnyValue(r, 1);
      else unknownField(r, tag, [KEY_TAG, 'key'], [VALUE_TAG, 'value']);
    }
    leave(r, outer);
    attributes.push([key, attributeString(value)]);
  } catch (err) {
    rethrowIn(err, `.attributes[${attributes.length}]`, r);
  }
}

/**
 * AnyValue { oneof { string_value 1, bool_value 2, int_value 3, double_value 4,
 * array_value 5, kvlist_value 6, bytes_value 7 } }, as a JSON value (null when unset).
 */
function decodeAnyValue(r: Reader, depth: number): AnyValue {
  if (depth > MAX_VALUE_DEPTH)
    throw new WireError(`attribute value nested deeper than ${MAX_VALUE_DEPTH} levels`);
  const outer = enter(r);
  let value: AnyValue = null;
  while (r.pos < r.len) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | WIRE_LENGTH_DELIMITED:
        value = string(r);
        break;
      case (2 << 3) | WIRE_VARINT:
        value = r.bool();
        break;
      case (3 << 3) | WIRE_VARINT: {
        const at = r.pos;
        value = int64(r);
        // Beyond 2^53 a number is rounded: keep the exact decimal instead.
        if (!Number.isSafeInteger(value)) {
          r.pos = at;
          value = r.int64().toString();
        }
        break;
      }
      case (4 << 3) | WIRE_FIXED64:
        value = r.double();
        break;
      case (5 << 3) | WIRE_LENGTH_DELIMITED:
      case (6 << 3) | WIRE_LENGTH_DELIMITED:
        value = decodeValueList(r, tag >>> 3 === 6, depth + 1);
        break;
      case (7 << 3) | WIRE_LENGTH_DELIMITED: {
        const bytes = r.bytes();
        value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
        break;
      }
      default:
        skipField(r, tag);
    }
  }
  leave(r, outer);
  return value;
}

/** ArrayValue { repeated AnyValue values = 1; } or KeyValueList { repeated KeyValue values = 1; }. */
function decodeValueList(r: Reader, keyed: boolean, depth: number): AnyValue {
  const outer = enter(r);
  const list: AnyValue[] = [];
  // No prototype: a key like `__proto__` is just a key.
  const map = Object.create(null) as Record<string, AnyValue>;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag !== VALUES_TAG) {
      unknownField(r, tag, [VALUES_TAG, 'values']);
      continue;
    }
    if (!keyed) {
      list.push(decodeAnyValue(r, depth));
      continue;
    }
    const pairOuter = enter(r);
    let key = '';
    let value: AnyValue = null;
    while (r.pos < r.len) {
      const pairTag = r.tag();
      if (pairTag === KEY_TAG) key = string(r);
      else if (pairTag === VALUE_TAG) value = decodeAnyValue(r, depth);
      else unknownField(r, pairTag, [KEY_TAG, 'key'], [VALUE_TAG, 'value']);
    }
    leave(r, pairOuter);
    map[key] = value;
  }
  leave(r, outer);
  return keyed ? map : list;
}
