import type { Aggregate } from './aggregate.js';

/**
 * The aggregates of a tier window, one entry each: the only place an aggregate is defined. The
 * rollup Avro schema (schemas/rollupSchema.ts), the tier tables' columns and their DDL
 * (sinks/tables.ts), the Avro and Native encoders (schemas/encodeRollup.ts, sinks/rollupSink.ts)
 * and the changelog encoding of window state (core/aggregate.ts) are derived from this list.
 *
 * Every aggregate reads the base statistics every window keeps (count, sum, min, max, first and
 * last by event time, the counter increase, the quantile sketch: `Aggregate`). An aggregate that
 * needs more keeps its own mergeable state: `state` names its f64 slots in `Aggregate.ext`, `add`
 * folds in one raw sample, `merge` one window of the tier below (in time order), and the slots
 * start at 0. The changelog writes the slots in this list's order: append new entries at the end
 * (state restored from before an entry existed reads NaN in its slots: its windows say NaN).
 *
 * Docs: docs/tiers-and-aggregates.md.
 */
export interface AggregateDef {
  /** Avro field of the `Rollup` record, column of `samples_<tier>`, property of `Rollup`. */
  readonly name: string;
  readonly doc?: string;
  readonly avro: 'long' | 'double';
  /** Avro default, for entries added after the schema was first registered (BACKWARD compatibility). */
  readonly avroDefault?: number;
  readonly column: { readonly type: 'UInt32' | 'Float64'; readonly codec: string };
  /** Names of the f64 slots of its own state in `Aggregate.ext`, if the base statistics are not enough. */
  readonly state?: readonly string[];
  /** Adds one raw sample to its slots (from `at` on). */
  readonly add?: (ext: number[], at: number, value: number) => void;
  /** Adds the slots of a window of the tier below (`from`) to its slots (`into`), both from `at` on. */
  readonly merge?: (into: number[], from: readonly number[], at: number) => void;
  /** The value of a window: `ext` holds its slots from `at` on; `sizeMs` is the window length. */
  readonly finalize: (a: Aggregate, sizeMs: number, at: number) => number;
}

const float = { type: 'Float64', codec: 'CODEC(Gorilla, ZSTD(1))' } as const;

export const AGGREGATES = [
  {
    name: 'count',
    avro: 'long',
    column: { type: 'UInt32', codec: 'CODEC(T64, ZSTD(1))' },
    finalize: (a) => a.count,
  },
  { name: 'sum', avro: 'double', column: float, finalize: (a) => a.sum },
  { name: 'min', avro: 'double', column: float, finalize: (a) => a.min },
  { name: 'max', avro: 'double', column: float, finalize: (a) => a.max },
  { name: 'avg', avro: 'double', column: float, finalize: (a) => avg(a) },
  { name: 'first', avro: 'double', column: float, finalize: (a) => a.first },
  { name: 'last', avro: 'double', column: float, finalize: (a) => a.last },
  { name: 'p50', avro: 'double', column: float, finalize: (a) => quantile(a, 0.5) },
  { name: 'p90', avro: 'double', column: float, finalize: (a) => quantile(a, 0.9) },
  { name: 'p99', avro: 'double', column: float, finalize: (a) => quantile(a, 0.99) },
  {
    name: 'increase',
    doc: 'counters: increase in the window, resets detected; 0 for gauges',
    avro: 'double',
    column: float,
    finalize: (a) => a.increase,
  },
  {
    name: 'rate',
    doc: 'counters: increase per second',
    avro: 'double',
    column: float,
    finalize: (a, sizeMs) => rate(a, sizeMs),
  },
  {
    name: 'stddev',
    doc: 'population standard deviation of the values (as stddevPopStable and stddev_over_time); NaN when empty; 0 in results written before it existed',
    avro: 'double',
    avroDefault: 0,
    column: float,
    // Count, mean and sum of squared deviations (Welford; merged as Chan et al.): a sum of squares
    // minus the squared mean loses every digit when the spread is small against the values
    // (disk bytes of 2.7e11 varying by 3e5 came out 1e-4 off, as ClickHouse's stddevPop does).
    state: ['count', 'mean', 'm2'],
    add: (ext, at, value) => {
      const n = (ext[at] as number) + 1;
      const mean = ext[at + 1] as number;
      const delta = value - mean;
      const next = mean + delta / n;
      ext[at] = n;
      ext[at + 1] = next;
      ext[at + 2] = (ext[at + 2] as number) + delta * (value - next);
    },
    merge: (into, from, at) => {
      const nb = from[at] as number;
      if (nb === 0) return;
      const na = into[at] as number;
      const ma = into[at + 1] as number;
      const mb = from[at + 1] as number;
      const n = na + nb;
      const delta = mb - ma;
      into[at] = n;
      into[at + 1] = na === 0 ? mb : ma + (delta * nb) / n;
      into[at + 2] =
        (into[at + 2] as number) + (from[at + 2] as number) + (na === 0 ? 0 : (delta * delta * na * nb) / n);
    },
    finalize: (a, _sizeMs, at) => {
      if (a.count === 0) return NaN;
      // Slots restored from before this entry existed are NaN: so is the result.
      return Math.sqrt(Math.max(0, (a.ext[at + 2] as number) / (a.ext[at] as number)));
    },
  },
] as const satisfies readonly AggregateDef[];

export type AggregateName = (typeof AGGREGATES)[number]['name'];

/** The entries with state of their own, with the offset of their first slot in `Aggregate.ext`. */
export const STATEFUL: ReadonlyArray<{ def: AggregateDef; at: number }> = (() => {
  let at = 0;
  const out: Array<{ def: AggregateDef; at: number }> = [];
  for (const def of AGGREGATES as readonly AggregateDef[]) {
    if (!def.state) continue;
    out.push({ def, at });
    at += def.state.length;
  }
  return out;
})();

/** Slots of `Aggregate.ext`: the state of every stateful entry, in registry order. */
export const EXT_SLOTS = STATEFUL.reduce((n, { def }) => n + (def.state?.length ?? 0), 0);

/** The offset in `Aggregate.ext` of each entry's state (0 for entries without state). */
const OFFSETS = new Map<string, number>(STATEFUL.map(({ def, at }) => [def.name, at]));

export function stateOffset(name: string): number {
  return OFFSETS.get(name) ?? 0;
}

export function avg(a: Aggregate): number {
  return a.sum / a.count;
}

/** Counter increase per second over a window of `sizeMs`. */
export function rate(a: Aggregate, sizeMs: number): number {
  return a.increase / (sizeMs / 1000);
}

/** The q-quantile (0 ≤ q ≤ 1) within 1% relative error, kept within [min, max]; NaN when empty. */
export function quantile(a: Aggregate, q: number): number {
  if (a.count === 0) return NaN;
  return Math.min(a.max, Math.max(a.min, a.sketch.getValueAtQuantile(q)));
}
