import type { IHeaders } from 'kafkajs';
import type { DecodedColumns, DecodedSamples } from '../schemas/decodedSamples.js';
import type { SampleColumns } from './sampleColumns.js';
import type { NormalizedSample } from './validate.js';

/** What the topology reads of a fetched Kafka record (the client's own record object, not a copy). */
export interface RecordData {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Shared and frozen when the record has none (the patched client's records). */
  readonly headers?: IHeaders | undefined;
  /**
   * The patched client's records: the buffer the record was read from, and where its value lies
   * in it (length -1 for null), so that the value can be read in place (`value` makes a Buffer
   * on each read).
   */
  readonly bytes?: Buffer;
  readonly valueStart?: number;
  readonly valueLength?: number;
}

/**
 * Where a record's value lies, written into `out` (no object per record): `[start, end)` of
 * `bytes`, read in place from the patched client's records (as `value` would cut it out: clamped
 * to the buffer), else the whole of `value`. False for a null value.
 */
export function valueBytes(record: RecordData, out: { bytes: Buffer; start: number; end: number }): boolean {
  const { bytes, valueStart, valueLength } = record;
  if (bytes === undefined || valueStart === undefined || valueLength === undefined) {
    const value = record.value;
    if (value === null) return false;
    out.bytes = value;
    out.start = 0;
    out.end = value.length;
    return true;
  }
  if (valueLength === -1) return false;
  const start = Math.min(valueStart, bytes.length);
  out.bytes = bytes;
  out.start = start;
  out.end = Math.max(start, Math.min(valueStart + valueLength, bytes.length));
  return true;
}

/** One Kafka record with its offset, as the dead-letter topic and the paths off the hot one take it. */
export interface SourceRecord extends RecordData {
  offset: number;
  headers: IHeaders | undefined;
}

/** Records fetched from one partition, in offset order. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  records: ReadonlyArray<RecordData>;
  /** Per record, its offset: as long as `records`. */
  offsets: Float64Array;
  /** Last offset of the fetched range (control records included): where the commit goes after it. */
  lastOffset: number;
  /** Consumer group generation it was fetched in: after a rebalance, older batches are fetched again. */
  generation: number;
}

/** A record that the topology could not (fully) process, with the reason, bound for the DLQ. */
export interface Rejected {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
  stage: 'decode' | 'validate';
  reason: string;
}

/** A decoded record: its samples, as written (a range of its batch's decoded columns), or why it could not be decoded. */
export type DecodedRecord =
  | { offset: number; record: SourceRecord; samples: DecodedSamples }
  | { offset: number; record: SourceRecord; error: string };

/**
 * A fetched batch decoded: the samples of every record, one record after the other, in one set
 * of columns (`ends` says where each record's end), and why records could not be read. No object
 * per record beyond the fetched one: `decodedRecords` (operators/decodeRecords.ts) gives them one
 * by one as `DecodedRecord`s where that is wanted.
 */
export interface DecodedBatch extends PartitionBatch {
  firstOffset: number;
  columns: DecodedColumns;
  /** Per record, the end of its samples in `columns`: they start where the record before ends. */
  ends: Int32Array;
  /** Why records could not be decoded, by index in `records` (no samples of theirs); undefined when none. */
  errors: Map<number, string> | undefined;
}

/** Where a repartitioned sample was first read: its input partition and the offset of its record there. */
export interface SampleOrigin {
  partition: number;
  offset: number;
}

/**
 * One validated sample as an object, with the offset of the record it came from: what the paths
 * off the hot one take (late records, alert rules, the repartition topic, tests). Batches carry
 * their samples as columns (`SampleColumns`); `rowAt` makes a row of one.
 */
export interface SampleRow extends NormalizedSample {
  seriesId: bigint;
  /** `seriesId` as decimal text, the key of the series in window stores and topics (one string per series, not per sample). */
  seriesKey: string;
  offset: number;
  /** Set on samples read back from the repartition topic: their position in the input. */
  origin?: SampleOrigin;
}

/**
 * Consecutive samples of a batch, `columns[from, to)`, of one or more records and series: the
 * first window tier takes each stretch of one series and window in one loop (one window lookup
 * per stretch, not one per sample).
 */
export interface SampleRun {
  columns: SampleColumns;
  from: number;
  to: number;
}

/** The outcome of one partition batch: samples to store (as columns) and records to dead-letter. */
export interface ProcessedBatch {
  /** Records of the source batch, for the in-flight count. */
  recordCount: number;
  generation: number;
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
  samples: SampleColumns;
  rejects: Rejected[];
}

/** The outcome of `batch`: its samples and rejects, with the batch's position and generation. */
export function processedBatch(
  batch: DecodedBatch,
  samples: SampleColumns,
  rejects: Rejected[],
): ProcessedBatch {
  const { generation, topic, partition, firstOffset, lastOffset } = batch;
  return {
    recordCount: batch.records.length,
    generation,
    topic,
    partition,
    firstOffset,
    lastOffset,
    samples,
    rejects,
  };
}

/** What a write made durable: per topic-partition, the last offset whose effects are stored. */
export type Durable = Map<string, { topic: string; partition: number; lastOffset: number }>;

/** A batch of `records`, each with its offset (tests, tools). */
export function partitionBatchOf(
  position: Omit<PartitionBatch, 'records' | 'offsets'>,
  records: ReadonlyArray<SourceRecord>,
): PartitionBatch {
  return { ...position, records, offsets: Float64Array.from(records, (r) => r.offset) };
}

/** Record `i` of a batch with its offset. */
export function sourceRecord(batch: Pick<PartitionBatch, 'records' | 'offsets'>, i: number): SourceRecord {
  const { key, value, headers } = batch.records[i] as RecordData;
  return { offset: batch.offsets[i] as number, key, value, headers };
}

/**
 * Record `i` of a batch as `sourceRecord` gives it, its key, value and header values copied: a
 * rejected record waits with its group for the dead-letter topic, and the client's key and value
 * are views of the whole fetch response (every partition's records), which would stay in memory
 * meanwhile although the fetch limit counts the decoded batch only.
 */
export function rejectedRecord(batch: Pick<PartitionBatch, 'records' | 'offsets'>, i: number): SourceRecord {
  const { offset, key, value, headers } = sourceRecord(batch, i);
  const copy = <T>(v: T): T => (Buffer.isBuffer(v) ? (Buffer.from(v) as T) : v);
  const copied =
    headers === undefined || Object.keys(headers).length === 0
      ? headers
      : Object.fromEntries(
          Object.entries(headers).map(([name, v]) => [name, Array.isArray(v) ? v.map(copy) : copy(v)]),
        );
  return { offset, key: copy(key), value: copy(value), headers: copied };
}
