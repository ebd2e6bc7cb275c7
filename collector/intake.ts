import { partitionForSeries } from '../core/partitioner.js';
import { seriesId } from '../core/series.js';
import { pointProblem, type NormalizedSample, type ValidationLimits } from '../core/validate.js';
import { encodeSeries } from '../schemas/encodeBatch.js';
import { StagedSamples, type EncodedBatch } from './batch.js';
import type { SampleColumns } from './formats/types.js';
import { acceptedSeries, partitionOf, type AcceptedSeries, type ClientSeries } from './series.js';
import type { TenantLimits } from './tenants.js';

/** What a request's samples came to. */
export interface Outcome {
  accepted: number;
  rejected: number;
  reasons: Record<string, number>;
}

/** A request's samples after `check`: what remains is the tenant's series limit. */
export interface Checked {
  decoded: SampleColumns;
  /** Per sample: its series when it passed every check, undefined when it was refused. */
  passed: Array<AcceptedSeries | undefined>;
  /** Series of passed samples that the tenant has not admitted yet, in the order of their first sample. */
  unadmitted: AcceptedSeries[];
  rejected: number;
  reasons: Record<string, number>;
}

const staged = new StagedSamples();

/**
 * Validates the decoded samples with the topology's rules (`normalizeSample`'s checks, in its
 * order, with the tenant label), applies the tenant's series limit, and encodes the accepted
 * ones for `partitions` partitions. The checks of a series (names, labels) are worked out once
 * per series and tenant (see series.ts); per sample only its value and event time are checked.
 *
 * In two steps, because the series limit may be the collector's primary process's to apply
 * (see cluster.ts): `check`, then the tenant's `admit` of the unadmitted series, then `stage`.
 */
export async function intake(
  decoded: SampleColumns,
  tenant: TenantLimits,
  limits: ValidationLimits,
  now: number,
  partitions: number,
): Promise<{ batch: EncodedBatch; outcome: Outcome }> {
  const checked = check(decoded, tenant, limits, now);
  const admissions = checked.unadmitted.length === 0 ? [] : await tenant.admit(checked.unadmitted);
  return stage(checked, admissions, partitions);
}

/** Checks every sample but for the series limit. */
export function check(
  decoded: SampleColumns,
  tenant: TenantLimits,
  limits: ValidationLimits,
  now: number,
): Checked {
  const reasons: Record<string, number> = Object.fromEntries(decoded.rejected);
  let rejected = 0;
  for (const n of decoded.rejected.values()) rejected += n;
  const { series, timestamps, values } = decoded;
  const passed = new Array<AcceptedSeries | undefined>(series.length);
  const unadmitted: AcceptedSeries[] = [];
  let asked: Set<AcceptedSeries> | undefined;
  for (let i = 0; i < series.length; i++) {
    const s = acceptedSeries(series[i] as ClientSeries, tenant, limits);
    const reason =
      s.nameProblem ??
      pointProblem(s.name, values[i] as number, timestamps[i] as number, limits, now) ??
      s.labelProblem;
    if (reason === undefined) {
      passed[i] = s;
      if (!s.admitted && !(asked ??= new Set()).has(s)) {
        asked.add(s);
        unadmitted.push(s);
      }
    } else {
      rejected += 1;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
  }
  return { decoded, passed, unadmitted, rejected, reasons };
}

/**
 * Applies the series limit (`admissions`: the tenant's answer for `checked.unadmitted`, in
 * order: undefined for admitted, or why not) and encodes the accepted samples.
 */
export function stage(
  checked: Checked,
  admissions: ReadonlyArray<string | undefined>,
  partitions: number,
): { batch: EncodedBatch; outcome: Outcome } {
  const { decoded, passed, reasons } = checked;
  let { rejected } = checked;
  // Admitted is for good: the tenant's set of series only grows.
  const refused = new Map<AcceptedSeries, string>();
  checked.unadmitted.forEach((s, i) => {
    const reason = admissions[i];
    if (reason === undefined) s.admitted = true;
    else refused.set(s, reason);
  });
  const { timestamps, values, counters } = decoded;
  staged.reset(partitions);
  for (let i = 0; i < passed.length; i++) {
    const s = passed[i];
    if (s === undefined) continue;
    if (!s.admitted) {
      const reason = refused.get(s) as string;
      rejected += 1;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
      continue;
    }
    staged.add(
      s.encoded,
      partitionOf(s, partitions),
      timestamps[i] as number,
      values[i] as number,
      counters[i] as boolean,
    );
  }
  const batch = staged.encode();
  return { batch, outcome: { accepted: batch.samples, rejected, reasons } };
}

/**
 * Samples read back from the write-ahead log (validated before they were logged, labels
 * sorted), encoded again for `partitions` partitions: not validated again, so that a log that
 * waited long for Kafka is not refused as too old.
 */
export function encodeLogged(samples: NormalizedSample[], partitions: number): EncodedBatch {
  staged.reset(partitions);
  for (const s of samples) {
    const partition = partitionForSeries(seriesId(s.name, s.labels), partitions);
    staged.add(encodeSeries(s.name, s.labels), partition, s.timestamp, s.value, s.kind === 'counter');
  }
  return staged.encode();
}
