import { map, type OperatorFunction } from 'rxjs';
import { processedBatch, type DecodedBatch, type ProcessedBatch, type Rejected } from '../core/records.js';
import { SampleColumnsBuilder, type BatchSeries } from '../core/sampleColumns.js';
import { seriesId } from '../core/series.js';
import { metricNameProblem, normalizeLabels, pointProblem, type ValidationLimits } from '../core/validate.js';
import type { Sample } from '../schemas/index.js';

/**
 * Validates and normalizes decoded samples and gives each its series id. Emits, per batch, the
 * samples to store (as columns, each distinct series described once) and the records to dead-letter: a record with some bad samples keeps its good
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
  // The series of label objects shared by many samples (the decoder shares them per series):
  // names and labels checked, labels sorted and the series hashed once per series, not per sample.
  const known = new WeakMap<object, Series>();
  const seriesOf = (sample: Sample): Series => {
    const shared = Object.isFrozen(sample.labels);
    const cached = shared ? known.get(sample.labels) : undefined;
    if (cached !== undefined && cached.name === sample.name) return cached;
    const series = describe(sample.name, sample.labels, limits);
    if (shared) known.set(sample.labels, series);
    return series;
  };
  return map((batch) => {
    let total = 0;
    for (const decoded of batch.records) if ('samples' in decoded) total += decoded.samples.length;
    const columns = new SampleColumnsBuilder(total);
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
      const samples = decoded.samples;
      let reasons: string[] | undefined;
      let previous: Sample | undefined;
      let series: Series | undefined;
      for (let i = 0; i < samples.length; i++) {
        const sample = samples[i] as Sample;
        // Agents batch samples of one series together: the same name and labels as the one before.
        if (
          series === undefined ||
          previous === undefined ||
          sample.labels !== previous.labels ||
          sample.name !== previous.name
        )
          series = seriesOf(sample);
        previous = sample;
        const { name, value, timestamp } = sample;
        const bad =
          series.nameError ??
          pointProblem(name, value, timestamp, limits, at) ??
          (series.id === undefined ? series.labelsError : undefined);
        if (bad !== undefined) {
          (reasons ??= []).push(samples.length === 1 ? bad : `sample ${i}: ${bad}`);
          continue;
        }
        columns.push(
          series.entry as BatchSeries,
          timestamp,
          value,
          sample.kind === 'counter',
          decoded.offset,
        );
      }
      if (reasons !== undefined) {
        const kept = samples.length - reasons.length;
        const summary = kept > 0 ? ` (${kept} of ${samples.length} samples stored)` : '';
        reject(
          decoded.record,
          'validate',
          reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? '; …' : '') + summary,
        );
      }
    }
    return processedBatch(batch, columns.finish(), rejects);
  });
}

/**
 * What validation makes of a series (metric name and labels): its normalized labels and id, or
 * why it is refused (checked before the sample's value and time for the name, after them for
 * the labels, so that a reason names the same check as `normalizeSample` would).
 */
interface Series {
  name: string;
  labels: Array<[string, string]>;
  id: bigint | undefined;
  /** `id` as decimal text. */
  key: string;
  /** What the batches' columns hold of the series, once it is valid. */
  entry: BatchSeries | undefined;
  nameError: string | undefined;
  labelsError: string | undefined;
}

function describe(name: string, input: Readonly<Record<string, string>>, limits: ValidationLimits): Series {
  const nameError = metricNameProblem(name, limits);
  const labels = nameError === undefined ? normalizeLabels(name, input, limits) : [];
  if (typeof labels === 'string')
    return { name, labels: [], id: undefined, key: '', entry: undefined, nameError, labelsError: labels };
  const id = nameError === undefined ? seriesId(name, labels) : undefined;
  const key = id === undefined ? '' : id.toString();
  return {
    name,
    labels,
    id,
    key,
    entry: id === undefined ? undefined : { id, key, name, labels },
    nameError,
    labelsError: undefined,
  };
}

function pick(record: DecodedBatch['records'][number]['record']) {
  return { offset: record.offset, key: record.key, value: record.value, headers: record.headers };
}
