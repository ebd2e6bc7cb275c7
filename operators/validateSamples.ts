import { map, type OperatorFunction } from 'rxjs';
import {
  processedBatch,
  type DecodedBatch,
  type ProcessedBatch,
  type Rejected,
  rejectedRecord,
} from '../core/records.js';
import { SampleColumnsBuilder, type BatchSeries } from '../core/sampleColumns.js';
import { seriesId } from '../core/series.js';
import { metricNameProblem, normalizeLabels, pointProblem, type ValidationLimits } from '../core/validate.js';
import type { SeriesPart } from '../schemas/decodedSamples.js';

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
  // A part the decoder shares carries what this validation made of it (`checked`); the map
  // finds it for parts whose labels another part shares.
  const known = new WeakMap<object, Series>();
  const self = {};
  const seriesOf = (part: SeriesPart): Series => {
    const checked = part.checked;
    if (checked !== undefined && checked.by === self) return checked.series as Series;
    const shared = Object.isFrozen(part.labels);
    const cached = shared ? known.get(part.labels) : undefined;
    const series =
      cached !== undefined && cached.name === part.name ? cached : describe(part.name, part.labels, limits);
    if (shared) {
      known.set(part.labels, series);
      part.checked = { by: self, series };
    }
    return series;
  };
  return map((batch) => {
    const { records, offsets, ends, errors, columns: decodedColumns } = batch;
    const columns = new SampleColumnsBuilder(decodedColumns.length);
    const rejects: Rejected[] = [];
    const at = now();
    const reject = (r: number, stage: Rejected['stage'], reason: string) =>
      rejects.push({
        topic: batch.topic,
        partition: batch.partition,
        ...rejectedRecord(batch, r),
        stage,
        reason,
      });
    const { part: parts, timestamp: times, value: values, counter } = decodedColumns;
    let to = 0;
    for (let r = 0; r < records.length; r++) {
      const offset = offsets[r] as number;
      const from = to;
      to = ends[r] as number;
      const error = errors?.get(r);
      if (error !== undefined) {
        reject(r, 'decode', error);
        continue;
      }
      const count = to - from;
      let reasons: string[] | undefined;
      let previous: SeriesPart | undefined;
      let series: Series | undefined;
      for (let i = from; i < to; i++) {
        const part = parts[i] as SeriesPart;
        // Agents batch samples of one series together: the same name and labels as the one before.
        if (
          series === undefined ||
          previous === undefined ||
          (part !== previous && (part.labels !== previous.labels || part.name !== previous.name))
        )
          series = seriesOf(part);
        previous = part;
        const value = values[i] as number;
        const timestamp = times[i] as number;
        const bad =
          series.nameError ??
          pointProblem(part.name, value, timestamp, limits, at) ??
          (series.id === undefined ? series.labelsError : undefined);
        if (bad !== undefined) {
          (reasons ??= []).push(count === 1 ? bad : `sample ${i - from}: ${bad}`);
          continue;
        }
        columns.push(series.entry as BatchSeries, timestamp, value, counter[i] === 1, offset);
      }
      if (reasons !== undefined) {
        const kept = count - reasons.length;
        const summary = kept > 0 ? ` (${kept} of ${count} samples stored)` : '';
        reject(r, 'validate', reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? '; …' : '') + summary);
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
    entry:
      id === undefined
        ? undefined
        : {
            id,
            key,
            name,
            labels,
            recordedBy: undefined,
            numberedBy: undefined,
            number: undefined,
            upsertWrite: undefined,
            upsertSeen: undefined,
          },
    nameError,
    labelsError: undefined,
  };
}
