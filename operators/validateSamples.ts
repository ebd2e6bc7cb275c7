import { map, type OperatorFunction } from 'rxjs';
import {
  processedBatch,
  type DecodedBatch,
  type ProcessedBatch,
  type Rejected,
  type SampleRow,
} from '../core/records.js';
import { sameLabels, seriesId } from '../core/series.js';
import { normalizeSample, type ValidationLimits } from '../core/validate.js';

/**
 * Validates and normalizes decoded samples and gives each its series id. Emits, per batch, the
 * rows to store and the records to dead-letter: a record with some bad samples keeps its good
 * ones and goes to the DLQ once, its reason naming the bad samples.
 *
 * ```ts
 * decoded$.pipe(validateSamples(defaultLimits, Date.now))
 * ```
 */
export function validateSamples(
  limits: ValidationLimits,
  now: () => number,
): OperatorFunction<DecodedBatch, ProcessedBatch> {
  return map((batch) => {
    const rows: SampleRow[] = [];
    const rejects: Rejected[] = [];
    const at = now();
    const reject = (
      record: DecodedBatch['records'][number]['record'],
      stage: Rejected['stage'],
      reason: string,
    ) => rejects.push({ topic: batch.topic, partition: batch.partition, ...pick(record), stage, reason });
    for (const decoded of batch.records) {
      if ('error' in decoded) {
        reject(decoded.record, 'decode', decoded.error);
        continue;
      }
      const reasons: string[] = [];
      let previous: SampleRow | undefined;
      decoded.samples.forEach((sample, i) => {
        const normalized = normalizeSample(sample, limits, at);
        if (typeof normalized === 'string') {
          reasons.push(decoded.samples.length === 1 ? normalized : `sample ${i}: ${normalized}`);
          return;
        }
        // Agents batch samples of one series together: skip re-hashing an identical label set.
        const id =
          previous && previous.name === normalized.name && sameLabels(previous.labels, normalized.labels)
            ? previous.seriesId
            : seriesId(normalized.name, normalized.labels);
        previous = { ...normalized, seriesId: id, offset: decoded.offset };
        rows.push(previous);
      });
      if (reasons.length > 0) {
        const kept = decoded.samples.length - reasons.length;
        const summary = kept > 0 ? ` (${kept} of ${decoded.samples.length} samples stored)` : '';
        reject(
          decoded.record,
          'validate',
          reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? '; …' : '') + summary,
        );
      }
    }
    return processedBatch(batch, rows, rejects);
  });
}

function pick(record: DecodedBatch['records'][number]['record']) {
  return { offset: record.offset, key: record.key, value: record.value, headers: record.headers };
}
