import { map, type OperatorFunction } from 'rxjs';
import type { IHeaders } from 'kafkajs';
import {
  processedBatch,
  type DecodedBatch,
  type ProcessedBatch,
  type Rejected,
  type RecordData,
  type SampleOrigin,
  rejectedRecord,
} from '../core/records.js';
import { SampleColumnsBuilder, type BatchSeries } from '../core/sampleColumns.js';
import { decodeOrigins, REPARTITION_HEADERS } from '../core/repartition.js';
import { samplesOf } from '../schemas/decodedSamples.js';
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
    const columns = new SampleColumnsBuilder();
    const rejects: Rejected[] = [];
    // A rejected record's key and value are read (and copied) only then.
    const reject = (i: number, reason: string) =>
      rejects.push({
        topic: batch.topic,
        partition: batch.partition,
        ...rejectedRecord(batch, i),
        stage: 'decode',
        reason,
      });
    for (let i = 0, to = 0; i < batch.records.length; i++) {
      const from = to;
      to = batch.ends[i] as number;
      const error = batch.errors?.get(i);
      if (error !== undefined) {
        reject(i, error);
        continue;
      }
      const offset = batch.offsets[i] as number;
      const samples = samplesOf({ columns: batch.columns, from, to });
      const origins = originsOf((batch.records[i] as RecordData).headers, samples.length);
      if (typeof origins === 'string') {
        reject(i, origins);
        continue;
      }
      let previous: BatchSeries | undefined;
      samples.forEach((sample, i) => {
        // Written sorted by name; sorting an already sorted array costs one pass.
        const labels: Array<[string, string]> = Object.entries(sample.labels).sort((a, b) =>
          a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
        );
        const same = previous && previous.name === sample.name && sameLabels(previous.labels, labels);
        if (!same || !previous) {
          const id = seriesId(sample.name, labels);
          previous = { id, key: id.toString(), name: sample.name, labels };
        }
        const origin = origins[i] as SampleOrigin;
        columns.push(previous, sample.timestamp, sample.value, sample.kind === 'counter', offset, origin);
      });
    }
    return processedBatch(batch, columns.finish(), rejects);
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
