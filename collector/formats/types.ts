import type { Sample } from '../../schemas/index.js';
import { ClientSeries } from '../series.js';

/**
 * What a body decoder returns: the samples in it, and the samples it could not map (for
 * instance a delta-temporality sum) counted by reason. Samples are not validated yet: the
 * collector validates and normalizes them with the topology's rules afterwards.
 */
export interface Decoded {
  samples: Sample[];
  rejected: Map<string, number>;
}

/**
 * Decoded samples as the collector takes them in: one column per field, the series of each
 * sample a `ClientSeries` (shared by the samples of one series, see series.ts). The fast
 * decoders write these directly; `columnsOf` turns a `Decoded` into them.
 */
export interface SampleColumns {
  series: ClientSeries[];
  timestamps: number[];
  values: number[];
  counters: boolean[];
  rejected: Map<string, number>;
}

export function emptyColumns(): SampleColumns {
  return { series: [], timestamps: [], values: [], counters: [], rejected: new Map() };
}

/** The columns of decoded sample objects; samples that share a labels object and name share a series. */
export function columnsOf(decoded: Decoded): SampleColumns {
  const columns = emptyColumns();
  columns.rejected = decoded.rejected;
  let last: ClientSeries | undefined;
  for (const s of decoded.samples) {
    if (last === undefined || last.labels !== s.labels || last.name !== s.name)
      last = new ClientSeries(s.name, s.labels);
    columns.series.push(last);
    columns.timestamps.push(s.timestamp);
    columns.values.push(s.value);
    columns.counters.push(s.kind === 'counter');
  }
  return columns;
}

/** Counts one more rejected sample (or `n`) under `reason`. */
export function reject(decoded: { rejected: Map<string, number> }, reason: string, n = 1): void {
  decoded.rejected.set(reason, (decoded.rejected.get(reason) ?? 0) + n);
}
