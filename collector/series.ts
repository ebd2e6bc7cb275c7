import { partitionForSeries } from '../core/partitioner.js';
import { seriesId } from '../core/series.js';
import { metricNameProblem, normalizeLabels, type ValidationLimits } from '../core/validate.js';
import { encodeSeries } from '../schemas/encodeBatch.js';
import type { TenantLimits } from './tenants.js';

/**
 * A series as a client sent it: metric name and labels, not validated yet. Decoders hand out
 * one object for all the samples of a series in a request, and the fast ones (JSON batches,
 * remote_write) the same object again for the same bytes in later requests (see
 * seriesCache.ts), so that what the collector makes of a series is worked out once: see
 * `acceptedSeries`. To be treated as read-only.
 */
export class ClientSeries {
  /** The tenant `accepted` was worked out for (the last one that sent this series). */
  tenant: TenantLimits | undefined = undefined;
  accepted: AcceptedSeries | undefined = undefined;
  /** Accepted forms for further tenants, in the rare case that several send the same bytes. */
  others: Map<TenantLimits, AcceptedSeries> | undefined = undefined;

  constructor(
    readonly name: string,
    readonly labels: Readonly<Record<string, string>>,
  ) {}
}

/**
 * What the collector makes of a series for one tenant: either why its samples are refused
 * (checked in `normalizeSample`'s order: the metric name before the value and event time,
 * those before the labels), or its series id, its Avro encoding and its partition.
 */
export interface AcceptedSeries {
  readonly name: string;
  /** Why the metric name is refused. */
  readonly nameProblem: string | undefined;
  /** Why the labels are refused (with the tenant label). */
  readonly labelProblem: string | undefined;
  readonly id: bigint;
  /** The Avro `name` and `labels` of its samples (schemas/encodeBatch.ts). */
  readonly encoded: Buffer;
  /** The partition of the series among `partitions` partitions. */
  partition: number;
  partitions: number;
  /** The tenant admitted it under its series limit (which is for good). */
  admitted: boolean;
}

const NONE = Buffer.alloc(0);

/** The accepted form of `series` for `tenant`, worked out on first use and kept on the series. */
export function acceptedSeries(
  series: ClientSeries,
  tenant: TenantLimits,
  limits: ValidationLimits,
): AcceptedSeries {
  if (series.tenant === tenant) return series.accepted as AcceptedSeries;
  if (series.tenant !== undefined)
    (series.others ??= new Map()).set(series.tenant, series.accepted as AcceptedSeries);
  const accepted = series.others?.get(tenant) ?? work(series, tenant, limits);
  series.tenant = tenant;
  series.accepted = accepted;
  return accepted;
}

/** The partition of an accepted series among `partitions`, remembered for that count. */
export function partitionOf(series: AcceptedSeries, partitions: number): number {
  if (series.partitions !== partitions) {
    series.partition = partitionForSeries(series.id, partitions);
    series.partitions = partitions;
  }
  return series.partition;
}

function work(series: ClientSeries, tenant: TenantLimits, limits: ValidationLimits): AcceptedSeries {
  const { name } = series;
  const refused = (nameProblem: string | undefined, labelProblem: string | undefined): AcceptedSeries => ({
    name,
    nameProblem,
    labelProblem,
    id: 0n,
    encoded: NONE,
    partition: 0,
    partitions: 0,
    admitted: false,
  });
  const nameProblem = metricNameProblem(name, limits);
  if (nameProblem !== undefined) return refused(nameProblem, undefined);
  // The tenant comes from the token, never from the client's labels.
  const labels = tenant.name === undefined ? series.labels : { ...series.labels, tenant: tenant.name };
  const pairs = normalizeLabels(name, labels, limits);
  if (typeof pairs === 'string') return refused(undefined, pairs);
  return {
    name,
    nameProblem: undefined,
    labelProblem: undefined,
    id: seriesId(name, pairs),
    encoded: encodeSeries(name, pairs),
    partition: 0,
    partitions: 0,
    admitted: false,
  };
}
