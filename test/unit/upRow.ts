import type { ProcessedBatch, SampleRow } from '../../core/records.js';
import { columnsOf } from '../../core/sampleColumns.js';
import { seriesId } from '../../core/series.js';

/** A validated sample of `up{host}` = 1 at `timestamp`, read from the record at `offset`. */
export function upRow(host: string, offset: number, timestamp: number): SampleRow {
  const labels: Array<[string, string]> = [['host', host]];
  const id = seriesId('up', labels);
  return {
    name: 'up',
    labels,
    timestamp,
    value: 1,
    kind: 'gauge',
    seriesId: id,
    seriesKey: id.toString(),
    offset,
  };
}

/** A batch of partition `partition` of topic `in` holding `rows` (one record each, by offset). */
export function rowsBatch(partition: number, rows: SampleRow[]): ProcessedBatch {
  return {
    recordCount: rows.length,
    generation: 1,
    topic: 'in',
    partition,
    firstOffset: rows[0]!.offset,
    lastOffset: rows.at(-1)!.offset,
    samples: columnsOf(rows),
    rejects: [],
  };
}
