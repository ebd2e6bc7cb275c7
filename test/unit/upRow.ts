import type { SampleRow } from '../../core/records.js';
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
