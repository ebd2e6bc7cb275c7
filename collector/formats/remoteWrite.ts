import { badRequest } from '../errors.js';
import { ClientSeries } from '../series.js';
import { hashKey, SeriesCache } from '../seriesCache.js';
import { uncompressSnappyBlock } from './snappy.js';
import { cachedString } from './stringCache.js';
import { emptyColumns, reject, type SampleColumns } from './types.js';
import {
  enter,
  expectWireType,
  int64,
  leave,
  reader,
  rethrowIn,
  skipField,
  string,
  toWireError,
  unknownField,
  WIRE_FIXED64,
  WIRE_LENGTH_DELIMITED,
  WIRE_VARINT,
  type Reader,
} from './wire.js';

export interface RemoteWriteOptions {
  /** Bytes the body may decompress to; a snappy block declaring more is refused with 413. */
  maxDecodedBytes: number;
}

// prometheus.WriteRequest and its parts (prompb/remote.proto, prompb/types.proto): field numbers.
const WRITE_REQUEST_TIMESERIES = 1;
const WRITE_REQUEST_METADATA = 3;
const SERIES_LABELS = 1;
const SERIES_SAMPLES = 2;
const SERIES_HISTOGRAMS = 4;
// Tags (field number << 3 | wire type) of the small messages, read in tight loops.
const LABEL_NAME_TAG = (1 << 3) | WIRE_LENGTH_DELIMITED;
const LABEL_VALUE_TAG = (2 << 3) | WIRE_LENGTH_DELIMITED;
const SAMPLE_VALUE_TAG = (1 << 3) | WIRE_FIXED64;
const SAMPLE_TIMESTAMP_TAG = (2 << 3) | WIRE_VARINT;
const METADATA_TYPE_TAG = (1 << 3) | WIRE_VARINT;
const METADATA_FAMILY_NAME_TAG = (2 << 3) | WIRE_LENGTH_DELIMITED;
const METRIC_TYPE_COUNTER = 1;

/** Suffixes of cumulative series: counters, and the parts of histograms and summaries. */
const CUMULATIVE_SUFFIX = /_(total|bucket|count|sum)$/;

/** The first byte of a TimeSeries' labels field (field 1, length-delimited). */
const SERIES_LABELS_TAG = (SERIES_LABELS << 3) | WIRE_LENGTH_DELIMITED;

const STALENESS_MARKER = 'staleness marker';
const NO_NAME = 'series without __name__';
const NATIVE_HISTOGRAMS = 'native histograms are not supported';

/** The labels of a TimeSeries, as decoded: its name (`__name__`) and the others. */
interface Labelled {
  name: string | undefined;
  labels: Record<string, string>;
  /** Undefined without a name. */
  series: ClientSeries | undefined;
  /** Whether the name says counter (see CUMULATIVE_SUFFIX). */
  counter: boolean;
  /** Label fields it was decoded from. */
  fields: number;
}

/**
 * Series by the bytes of their label fields. A series' labels come first in its TimeSeries,
 * one field after the other, and the same series comes with every scrape: looking the bytes up
 * spares decoding the labels (and lets the collector reuse what it made of the series).
 */
const seriesCache = new SeriesCache<Labelled>(100_000);

/**
 * Decodes a Prometheus remote_write 1.0 body: a snappy block holding a `prometheus.WriteRequest`.
 * Each sample of each series becomes one sample, named by its `__name__` label and labelled
 * by the others; the samples of one series share one `ClientSeries` (and so do later requests
 * with the same label bytes). A series is a counter when the request's metadata says its
 * family is a COUNTER or its name ends in `_total`, `_bucket`, `_count` or `_sum`, a gauge
 * otherwise. Staleness markers, series without a name and native histograms are counted in
 * `rejected`; exemplars are ignored.
 *
 * A zero-byte body is not a snappy block and is refused; an empty WriteRequest (the block
 * `00`) decodes to no samples. Throws a 413 `HttpError` when the block declares more than
 * `maxDecodedBytes`, a 400 for a broken block or message.
 */
export function decodeRemoteWrite(body: Buffer, options: RemoteWriteOptions): SampleColumns {
  const message = uncompressSnappyBlock(body, options.maxDecodedBytes);
  const decoded = emptyColumns();
  const r = reader(message);
  const scratch: Scratch = { name: '', value: '', values: [], timestamps: [] };
  let counterFamilies: Set<string> | undefined;
  let series = 0;
  let metadata = 0;
  try {
    while (r.pos < r.len) {
      const tag = r.tag();
      const field = tag >>> 3;
      if (field === WRITE_REQUEST_TIMESERIES) {
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'timeseries');
        try {
          decodeSeries(r, decoded, scratch);
        } catch (err) {
          rethrowIn(err, `.timeseries[${series}]`, r);
        }
        series++;
      } else if (field === WRITE_REQUEST_METADATA) {
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'metadata');
        try {
          const family = decodeCounterFamily(r);
          if (family !== undefined) (counterFamilies ??= new Set()).add(family);
        } catch (err) {
          rethrowIn(err, `.metadata[${metadata}]`, r);
        }
        metadata++;
      } else {
        skipField(r, tag);
      }
    }
  } catch (err) {
    const wire = toWireError(err, r);
    throw badRequest(`protobuf: WriteRequest${wire.path}: ${wire.message}`);
  }
  // Metadata may follow the series it describes, so counters are marked once all is read.
  if (counterFamilies !== undefined) markCounters(decoded, counterFamilies);
  return decoded;
}

/** What is being read, reused from series to series: the label, the series' samples. */
interface Scratch {
  name: string;
  value: string;
  values: number[];
  timestamps: number[];
}

/** Reads one TimeSeries and appends its samples (or counts them as rejected). */
function decodeSeries(r: Reader, decoded: SampleColumns, scratch: Scratch): void {
  const outer = enter(r);
  const { values, timestamps } = scratch;
  values.length = 0;
  timestamps.length = 0;
  const leading = leadingLabels(r, scratch);
  // Labels after another field (unusual): the series is the leading labels and these.
  let later: { name: string | undefined; labels: Record<string, string> } | undefined;
  let nLabels = leading.fields;
  let nSamples = 0;
  let histograms = 0;
  // Where an error happened, for its path: one try block for the whole series is cheaper.
  let inLabel = false;
  let inSample = false;
  try {
    while (r.pos < r.len) {
      const tag = r.tag();
      const field = tag >>> 3;
      if (field === SERIES_LABELS) {
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'labels');
        inLabel = true;
        decodeLabel(r, scratch);
        later ??= { name: leading.name, labels: { ...leading.labels } };
        if (scratch.name === '__name__') later.name = scratch.value;
        else later.labels[scratch.name] = scratch.value;
        inLabel = false;
        nLabels++;
      } else if (field === SERIES_SAMPLES) {
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'samples');
        inSample = true;
        decodeSample(r, decoded, scratch);
        inSample = false;
        nSamples++;
      } else if (field === SERIES_HISTOGRAMS) {
        expectWireType(r, tag, WIRE_LENGTH_DELIMITED, 'histograms');
        r.skipType(WIRE_LENGTH_DELIMITED);
        histograms++;
      } else {
        skipField(r, tag);
      }
    }
  } catch (err) {
    rethrowIn(err, inLabel ? `.labels[${nLabels}]` : inSample ? `.samples[${nSamples}]` : '', r);
  }
  leave(r, outer);

  if (histograms > 0) reject(decoded, NATIVE_HISTOGRAMS, histograms);
  if (values.length === 0) return;
  const { series, counter } = later === undefined ? leading : labelled(later.name, later.labels, nLabels);
  if (series === undefined) {
    reject(decoded, NO_NAME, values.length);
    return;
  }
  for (let i = 0; i < values.length; i++) {
    decoded.series.push(series);
    decoded.timestamps.push(timestamps[i] as number);
    decoded.values.push(values[i] as number);
    decoded.counters.push(counter);
  }
}

/**
 * The label fields at the start of a TimeSeries, up to its first other field: from the cache
 * by their bytes, or decoded (with the errors and paths of any label) and cached. Leaves the
 * reader after them.
 */
function leadingLabels(r: Reader, scratch: Scratch): Labelled {
  const buf = r.buf;
  const start = r.pos;
  let pos = start;
  let count = 0;
  // Field by field without decoding: tag, length (one or two bytes), bytes. A longer length or
  // a field running past the series ends the run; the loop of decodeSeries reads it then.
  while (pos + 1 < r.len && buf[pos] === SERIES_LABELS_TAG) {
    let length = buf[pos + 1] as number;
    let at = pos + 2;
    if (length >= 0x80) {
      const high = buf[at] as number;
      if (at >= r.len || high >= 0x80) break;
      length = (length & 0x7f) | (high << 7);
      at++;
    }
    if (at + length > r.len) break;
    pos = at + length;
    count++;
  }
  const hash = hashKey(buf, start, start, buf, start, pos);
  const known = seriesCache.get(hash, buf, start, start, buf, start, pos);
  if (known !== undefined) {
    r.pos = pos;
    return known;
  }
  let name: string | undefined;
  const labels: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    try {
      r.tag();
      decodeLabel(r, scratch);
    } catch (err) {
      rethrowIn(err, `.labels[${i}]`, r);
    }
    if (scratch.name === '__name__') name = scratch.value;
    else labels[scratch.name] = scratch.value;
  }
  const decoded = labelled(name, labels, count);
  seriesCache.set(hash, buf, start, start, buf, start, pos, decoded);
  return decoded;
}

function labelled(name: string | undefined, labels: Record<string, string>, fields: number): Labelled {
  return {
    name,
    labels,
    series: name === undefined ? undefined : new ClientSeries(name, labels),
    counter: name !== undefined && CUMULATIVE_SUFFIX.test(name),
    fields,
  };
}

/** Reads one Label into `scratch.name` and `scratch.value`. */
function decodeLabel(r: Reader, scratch: Scratch): void {
  const buf = r.buf;
  const at = r.pos;
  // The label as Prometheus writes it, straight from the bytes: its length, then name tag,
  // length, bytes, value tag, length, bytes, every length below 128. A tenth faster.
  const size = buf[at] as number;
  const nameLength = buf[at + 2] as number;
  const valueAt = at + 3 + nameLength;
  const valueLength = buf[valueAt + 1] as number;
  if (
    size < 0x80 &&
    at + 1 + size <= r.len &&
    buf[at + 1] === LABEL_NAME_TAG &&
    nameLength < 0x80 &&
    buf[valueAt] === LABEL_VALUE_TAG &&
    valueLength < 0x80 &&
    size === 4 + nameLength + valueLength
  ) {
    scratch.name = cachedString(buf, at + 3, nameLength);
    scratch.value = cachedString(buf, valueAt + 2, valueLength);
    r.pos = at + 1 + size;
    return;
  }
  const outer = enter(r);
  scratch.name = '';
  scratch.value = '';
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === LABEL_NAME_TAG) scratch.name = string(r);
    else if (tag === LABEL_VALUE_TAG) scratch.value = string(r);
    else unknownField(r, tag, [LABEL_NAME_TAG, 'name'], [LABEL_VALUE_TAG, 'value']);
  }
  leave(r, outer);
}

/** Reads one Sample into the scratch arrays, or counts it when it is a staleness marker. */
function decodeSample(r: Reader, decoded: SampleColumns, scratch: Scratch): void {
  const outer = enter(r);
  let value = 0;
  let timestamp = 0;
  let stale = false;
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === SAMPLE_VALUE_TAG) {
      const at = r.pos;
      value = r.double();
      stale = value !== value && isStalenessMarker(r.buf, at);
    } else if (tag === SAMPLE_TIMESTAMP_TAG) {
      timestamp = int64(r);
    } else {
      unknownField(r, tag, [SAMPLE_VALUE_TAG, 'value'], [SAMPLE_TIMESTAMP_TAG, 'timestamp']);
    }
  }
  leave(r, outer);
  if (stale) {
    reject(decoded, STALENESS_MARKER);
    return;
  }
  scratch.values.push(value);
  scratch.timestamps.push(timestamp);
}

/** Prometheus marks a series stale with one specific NaN: bits 0x7ff0000000000002 (little-endian here). */
function isStalenessMarker(buf: Uint8Array, at: number): boolean {
  return (
    buf[at] === 0x02 &&
    buf[at + 1] === 0 &&
    buf[at + 2] === 0 &&
    buf[at + 3] === 0 &&
    buf[at + 4] === 0 &&
    buf[at + 5] === 0 &&
    buf[at + 6] === 0xf0 &&
    buf[at + 7] === 0x7f
  );
}

/** Reads one MetricMetadata; returns its family name when its type is COUNTER. */
function decodeCounterFamily(r: Reader): string | undefined {
  const outer = enter(r);
  let type = 0;
  let family = '';
  while (r.pos < r.len) {
    const tag = r.tag();
    if (tag === METADATA_TYPE_TAG) type = r.int32();
    else if (tag === METADATA_FAMILY_NAME_TAG) family = string(r);
    else unknownField(r, tag, [METADATA_TYPE_TAG, 'type'], [METADATA_FAMILY_NAME_TAG, 'metric_family_name']);
  }
  leave(r, outer);
  return type === METRIC_TYPE_COUNTER && family !== '' ? family : undefined;
}

/**
 * Marks as counters the samples of the COUNTER families. A family is named as in its `# TYPE`
 * line: a Prometheus text-format counter family is the sample name (`http_requests_total`);
 * an OpenMetrics one (`http_requests`) names samples that end in `_total`, counters already.
 */
function markCounters(decoded: SampleColumns, families: Set<string>): void {
  const { series, counters } = decoded;
  for (let i = 0; i < series.length; i++) {
    if (!counters[i] && families.has((series[i] as ClientSeries).name)) counters[i] = true;
  }
}
