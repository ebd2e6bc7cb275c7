import { map, type OperatorFunction } from 'rxjs';
import type { IHeaders } from 'kafkajs';
import {
  processedBatch,
  type DecodedBatch,
  type ProcessedBatch,
  type Rejected,
  type SampleOrigin,
  type SampleRow,
} from '../core/records.js';
import { decodeOrigins, REPARTITION_HEADERS } from '../core/repartition.js';
import { sameLabels, seriesId } from '../core/series.js';

/**
 * Turns decoded records of the repartition topic back into rows: samples validated and
 * normalized before they were repartitioned, with their series id and their origin in the
 * input (from the record's headers). A record that cannot be decoded, or whose headers do not
 * say where its samples came from, is rejected.
 *
 * ```ts
 * repartitioned$.pipe(decodeRecords((id) => registry.writerType(id)), readRepartitioned())
 * ```
 */
export function readRepartitioned(): OperatorFunction<DecodedBatch, ProcessedBatch> {
  return map((batch) => {
    const rows: SampleRow[] = [];
    const rejects: Rejected[] = [];
    const reject = (
      { offset, key, value, headers }: DecodedBatch['records'][number]['record'],
      reason: string,
    ) =>
      rejects.push({
        topic: batch.topic,
        partition: batch.partition,
        offset,
        key,
        value,
        headers,
        stage: 'decode',
        reason,
      });
    for (const decoded of batch.records) {
      if ('error' in decoded) {
        reject(decoded.record, decoded.error);
        continue;
      }
      const origins = originsOf(decoded.record.headers, decoded.samples.length);
      if (typeof origins === 'string') {
        reject(decoded.record, origins);
        continue;
      }
      let previous: SampleRow | undefined;
      decoded.samples.forEach((sample, i) => {
        // Written sorted by name; sorting an already sorted array costs one pass.
        const labels: Array<[string, string]> = Object.entries(sample.labels).sort((a, b) =>
          a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
        );
        const same = previous && previous.name === sample.name && sameLabels(previous.labels, labels);
        const id = same && previous ? previous.seriesId : seriesId(sample.name, labels);
        previous = {
          name: sample.name,
          labels,
          timestamp: sample.timestamp,
          value: sample.value,
          kind: sample.kind,
          seriesId: id,
          seriesKey: same && previous ? previous.seriesKey : id.toString(),
          offset: decoded.offset,
          origin: origins[i] as SampleOrigin,
        };
        rows.push(previous);
      });
    }
    return processedBatch(batch, rows, rejects);
  });
}

function originsOf(headers: IHeaders | undefined, samples: number): SampleOrigin[] | string {
  const partition = headerText(headers, REPARTITION_HEADERS.partition);
  const offsets = headerText(headers, REPARTITION_HEADERS.offsets);
  if (partition === undefined || offsets === undefined || !/^\d+$/.test(partition))
    return `repartition record without its origin (headers ${REPARTITION_HEADERS.partition}, ${REPARTITION_HEADERS.offsets})`;
  return decodeOrigins(offsets, Number(partition), samples);
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const one = Array.isArray(value) ? value[0] : value;
  return one === undefined ? undefined : one.toString();
}
