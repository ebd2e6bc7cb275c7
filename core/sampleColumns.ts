import type { SampleOrigin, SampleRow } from './records.js';
import { grownTo } from './typedArrays.js';

/** A series of a batch, described once however many of the batch's samples belong to it. */
export interface BatchSeries {
  id: bigint;
  /** `id` as decimal text, the key of the series in window stores and topics. */
  key: string;
  name: string;
  /** Sorted by name, empty values dropped. */
  labels: Array<[string, string]>;
  /**
   * The `uid` of the last stream task that found the series in its series store
   * (streams/task.ts): its next records skip the lookup. A series belongs to one partition, so
   * this changes only when the partition moves to another task. A number, not the task: the
   * batch's series objects outlive a revoked task, which must not stay reachable through them.
   */
  recordedBy?: number;
  /**
   * The `uid` of the window table (core/sampleTable.ts) that last numbered the series, and its
   * number there: the first tier's operator skips the table's lookup for the series' next records.
   */
  numberedBy?: number;
  number?: number;
  /**
   * The samples sink's series upsert (sinks/samplesSink.ts) that last listed the series, and the
   * entry it got there: its next runs of samples in that write skip the lookup by id.
   */
  upsertWrite?: number;
  upsertSeen?: object;
}

/**
 * Validated samples of one partition batch as columns: the distinct series once, then per
 * sample the index of its series, its event time, value and kind, and the offset of its record
 * (behind a repartition topic also its origin in the input). The sinks and the window tier read
 * the typed arrays; no object is made per sample. `rowAt` gives one sample as a `SampleRow`
 * where an object is wanted (a late record, the alert rules, the repartition topic).
 */
export interface SampleColumns {
  readonly length: number;
  readonly series: ReadonlyArray<BatchSeries>;
  readonly seriesIndex: Int32Array;
  readonly ts: Float64Array;
  readonly value: Float64Array;
  /** 1 for a counter, 0 for a gauge. */
  readonly counter: Uint8Array;
  readonly offset: Float64Array;
  /** Behind a repartition topic: per sample, its input partition and the offset of its record there. */
  readonly origin?: { partition: Int32Array; offset: Float64Array };
}

/** Builds `SampleColumns` a sample at a time, growing its arrays as needed. */
export class SampleColumnsBuilder {
  private length = 0;
  private capacity: number;
  private readonly series: BatchSeries[] = [];
  /** By series key: series described by several equal objects are still one. */
  private readonly indexOf = new Map<string, number>();
  // The series of the last sample: samples of one series come together.
  private last: BatchSeries | undefined;
  private lastIndex = -1;
  private seriesIndex: Int32Array;
  private ts: Float64Array;
  private value: Float64Array;
  private counter: Uint8Array;
  private offset: Float64Array;
  private originPartition: Int32Array | undefined;
  private originOffset: Float64Array | undefined;

  constructor(capacity = 64) {
    this.capacity = Math.max(1, capacity);
    this.seriesIndex = new Int32Array(this.capacity);
    this.ts = new Float64Array(this.capacity);
    this.value = new Float64Array(this.capacity);
    this.counter = new Uint8Array(this.capacity);
    this.offset = new Float64Array(this.capacity);
  }

  push(
    series: BatchSeries,
    ts: number,
    value: number,
    counter: boolean,
    offset: number,
    origin?: SampleOrigin,
  ): void {
    if (this.length === this.capacity) this.grow();
    const i = this.length++;
    if (series !== this.last) {
      let index = this.indexOf.get(series.key);
      if (index === undefined) {
        index = this.series.length;
        this.series.push(series);
        this.indexOf.set(series.key, index);
      }
      this.last = series;
      this.lastIndex = index;
    }
    this.seriesIndex[i] = this.lastIndex;
    this.ts[i] = ts;
    this.value[i] = value;
    this.counter[i] = counter ? 1 : 0;
    this.offset[i] = offset;
    if (origin !== undefined) {
      if (this.originPartition === undefined || this.originOffset === undefined) {
        if (i > 0) throw new Error('an origin for some samples of a batch but not for all');
        this.originPartition = new Int32Array(this.capacity);
        this.originOffset = new Float64Array(this.capacity);
      }
      this.originPartition[i] = origin.partition;
      this.originOffset[i] = origin.offset;
    } else if (this.originPartition !== undefined) throw new Error('a sample without origin after some with');
  }

  finish(): SampleColumns {
    const n = this.length;
    const columns = {
      length: n,
      series: this.series,
      seriesIndex: this.seriesIndex.subarray(0, n),
      ts: this.ts.subarray(0, n),
      value: this.value.subarray(0, n),
      counter: this.counter.subarray(0, n),
      offset: this.offset.subarray(0, n),
    };
    if (this.originPartition === undefined || this.originOffset === undefined) return columns;
    return {
      ...columns,
      origin: { partition: this.originPartition.subarray(0, n), offset: this.originOffset.subarray(0, n) },
    };
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    this.seriesIndex = grownTo(this.seriesIndex, capacity);
    this.ts = grownTo(this.ts, capacity);
    this.value = grownTo(this.value, capacity);
    this.counter = grownTo(this.counter, capacity);
    this.offset = grownTo(this.offset, capacity);
    if (this.originPartition) this.originPartition = grownTo(this.originPartition, capacity);
    if (this.originOffset) this.originOffset = grownTo(this.originOffset, capacity);
    this.capacity = capacity;
  }
}

/** Sample `i` as a row. */
export function rowAt(columns: SampleColumns, i: number): SampleRow {
  const series = columns.series[columns.seriesIndex[i] as number] as BatchSeries;
  const row: SampleRow = {
    name: series.name,
    labels: series.labels,
    timestamp: columns.ts[i] as number,
    value: columns.value[i] as number,
    kind: columns.counter[i] === 1 ? 'counter' : 'gauge',
    seriesId: series.id,
    seriesKey: series.key,
    offset: columns.offset[i] as number,
  };
  const origin = columns.origin;
  if (origin) row.origin = { partition: origin.partition[i] as number, offset: origin.offset[i] as number };
  return row;
}

/** Every sample as a row: for the paths that are not hot (alert rules, repartition, tests). */
export function rowsOf(columns: SampleColumns): SampleRow[] {
  return Array.from({ length: columns.length }, (_, i) => rowAt(columns, i));
}

/** What `columnsOf` needs of a row: without labels, key or offset they are none, the id's text and 0. */
export type RowLike = Pick<SampleRow, 'name' | 'seriesId' | 'timestamp' | 'value' | 'kind'> &
  Partial<Pick<SampleRow, 'labels' | 'seriesKey' | 'offset' | 'origin'>>;

/** Rows as columns (tests, benchmarks, the alert stage's selection); rows of one series id share one `BatchSeries`. */
export function columnsOf(rows: ReadonlyArray<RowLike>): SampleColumns {
  const builder = new SampleColumnsBuilder(rows.length);
  const series = new Map<bigint, BatchSeries>();
  for (const row of rows) {
    let s = series.get(row.seriesId);
    if (s === undefined) {
      const key = row.seriesKey ?? row.seriesId.toString();
      s = { id: row.seriesId, key, name: row.name, labels: row.labels ?? [] };
      series.set(row.seriesId, s);
    }
    builder.push(s, row.timestamp, row.value, row.kind === 'counter', row.offset ?? 0, row.origin);
  }
  return builder.finish();
}

/** Samples [from, to) of `columns`: views of its arrays, nothing copied. */
export function sliceColumns(columns: SampleColumns, from: number, to: number): SampleColumns {
  if (from === 0 && to === columns.length) return columns;
  const sliced = {
    length: to - from,
    series: columns.series,
    seriesIndex: columns.seriesIndex.subarray(from, to),
    ts: columns.ts.subarray(from, to),
    value: columns.value.subarray(from, to),
    counter: columns.counter.subarray(from, to),
    offset: columns.offset.subarray(from, to),
  };
  const origin = columns.origin;
  if (origin === undefined) return sliced;
  return {
    ...sliced,
    origin: { partition: origin.partition.subarray(from, to), offset: origin.offset.subarray(from, to) },
  };
}

/** The samples of several batches as one: their arrays copied one after the other, their series merged. */
export function concatColumns(parts: ReadonlyArray<SampleColumns>): SampleColumns {
  if (parts.length === 1) return parts[0] as SampleColumns;
  const n = parts.reduce((sum, p) => sum + p.length, 0);
  const series: BatchSeries[] = [];
  const indexOf = new Map<string, number>();
  const seriesIndex = new Int32Array(n);
  const ts = new Float64Array(n);
  const value = new Float64Array(n);
  const counter = new Uint8Array(n);
  const offset = new Float64Array(n);
  // Parts without samples say nothing about origins (a batch whose records were all rejected).
  const withOrigin =
    parts.some((p) => p.length > 0) && parts.every((p) => p.length === 0 || p.origin !== undefined);
  const originPartition = withOrigin ? new Int32Array(n) : undefined;
  const originOffset = withOrigin ? new Float64Array(n) : undefined;
  let at = 0;
  for (const part of parts) {
    // Where each of the part's series is in the merged list.
    const remap = part.series.map((s) => {
      let index = indexOf.get(s.key);
      if (index === undefined) {
        index = series.length;
        series.push(s);
        indexOf.set(s.key, index);
      }
      return index;
    });
    for (let i = 0; i < part.length; i++)
      seriesIndex[at + i] = remap[part.seriesIndex[i] as number] as number;
    ts.set(part.ts, at);
    value.set(part.value, at);
    counter.set(part.counter, at);
    offset.set(part.offset, at);
    if (part.origin && originPartition && originOffset) {
      originPartition.set(part.origin.partition, at);
      originOffset.set(part.origin.offset, at);
    }
    at += part.length;
  }
  const columns = { length: n, series, seriesIndex, ts, value, counter, offset };
  if (!originPartition || !originOffset) return columns;
  return { ...columns, origin: { partition: originPartition, offset: originOffset } };
}
