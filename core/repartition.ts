import { partitionForSeries } from './partitioner.js';
import type { ProcessedBatch, SampleOrigin, SampleRow } from './records.js';
import { rowsOf } from './sampleColumns.js';

/** Headers of a repartition record: where its samples were read from (see `encodeOrigins`). */
export const REPARTITION_HEADERS = {
  partition: 'repartition.source.partition',
  offsets: 'repartition.source.offsets',
} as const;

/** One record of the repartition topic: samples of one input partition bound for one partition. */
export interface RepartitionRecord {
  /** Partition of the repartition topic: the one the samples' series id maps to. */
  partition: number;
  /** Input partition the samples were read from. */
  source: number;
  /** In input order. */
  rows: SampleRow[];
}

/** Estimated Avro bytes of the samples of one repartition record, at most (brokers refuse records over 1 MiB by default). */
export const MAX_RECORD_BYTES = 512 * 1024;

/**
 * Routes validated samples to the repartition topic's partitions, as a producer keyed by series id
 * would (`partitionForSeries`), and groups the samples of one input partition bound for one
 * partition into records, in input order: the samples of a series stay in the order they came.
 * An input record's samples bound for one partition stay in one repartition record, so that the
 * window stage can tell a repeated input record (a replay) by its offset alone.
 */
export function repartitionRecords(
  batches: ReadonlyArray<ProcessedBatch>,
  partitions: number,
  maxBytes = MAX_RECORD_BYTES,
): RepartitionRecord[] {
  const out: RepartitionRecord[] = [];
  // The record being filled per input partition and target partition.
  const open = new Map<number, Map<number, { record: RepartitionRecord; bytes: number }>>();
  // Samples of a series often come together: the partition of the last series id is reused.
  let lastSeries: bigint | undefined;
  let target = 0;
  for (const batch of batches) {
    let bySource = open.get(batch.partition);
    if (!bySource) open.set(batch.partition, (bySource = new Map()));
    for (const row of rowsOf(batch.samples)) {
      if (row.seriesId !== lastSeries) {
        lastSeries = row.seriesId;
        target = partitionForSeries(row.seriesId, partitions);
      }
      let filling = bySource.get(target);
      const previous = filling?.record.rows[filling.record.rows.length - 1];
      if (filling && previous && previous.offset !== row.offset && filling.bytes >= maxBytes) {
        out.push(filling.record);
        filling = undefined;
      }
      if (!filling) {
        filling = { record: { partition: target, source: batch.partition, rows: [] }, bytes: 0 };
        bySource.set(target, filling);
      }
      filling.record.rows.push(row);
      filling.bytes += estimatedBytes(row);
    }
  }
  for (const bySource of open.values()) for (const { record } of bySource.values()) out.push(record);
  return out;
}

function estimatedBytes(row: SampleRow): number {
  let bytes = row.name.length + 24;
  for (const [name, value] of row.labels) bytes += name.length + value.length + 2;
  return bytes;
}

/**
 * The input offsets of a record's samples, in order, as runs: `offset:count`, each later run's
 * offset as the difference from the one before (`1200:5,1:5,3:10` = 5 samples from offset
 * 1200, 5 from 1201, 10 from 1204).
 */
export function encodeOrigins(rows: ReadonlyArray<SampleRow>): string {
  const runs: Array<{ offset: number; count: number }> = [];
  for (const row of rows) {
    const last = runs[runs.length - 1];
    if (last?.offset === row.offset) last.count++;
    else runs.push({ offset: row.offset, count: 1 });
  }
  return runs
    .map(({ offset, count }, i) => `${offset - (i === 0 ? 0 : (runs[i - 1]?.offset ?? 0))}:${count}`)
    .join(',');
}

/**
 * The origin of each of `samples` samples of input partition `partition` from `encodeOrigins`'
 * text (one shared object per run), or the reason the text does not describe them.
 */
export function decodeOrigins(text: string, partition: number, samples: number): SampleOrigin[] | string {
  const origins: SampleOrigin[] = [];
  let offset = -1;
  for (const run of text.split(',')) {
    const match = /^(\d+):([1-9]\d*)$/.exec(run);
    if (!match) return `malformed run ${JSON.stringify(run)} in ${REPARTITION_HEADERS.offsets}`;
    const step = Number(match[1]);
    if (offset >= 0 && step === 0) return `repeated offset in ${REPARTITION_HEADERS.offsets}`;
    offset = offset < 0 ? step : offset + step;
    const origin = { partition, offset };
    for (let i = Number(match[2]); i > 0; i--) origins.push(origin);
    if (origins.length > samples) break;
  }
  if (origins.length !== samples)
    return `${REPARTITION_HEADERS.offsets} describes ${origins.length} samples, the record holds ${samples}`;
  return origins;
}
