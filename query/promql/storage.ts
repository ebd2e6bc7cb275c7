/**
 * What the PromQL engine needs from storage, in the manner of Prometheus' `storage.Querier`
 * and `SelectHints`. The engine (query/promql/) knows nothing of ClickHouse; the query service
 * (query/) implements this over the tiers, and tests implement it over arrays.
 */

export type MatchType = '=' | '!=' | '=~' | '!~';

/** A label matcher as written in a selector; the metric name is the matcher on `__name__`. */
export interface LabelMatcher {
  name: string;
  type: MatchType;
  value: string;
}

/** One series: its labels (with `__name__`) and its samples in time order. */
export interface SeriesData {
  labels: Record<string, string>;
  /** Unix milliseconds, ascending. */
  timestamps: Float64Array;
  values: Float64Array;
}

/** What the engine will do with the selected samples, so storage can push work down. */
export interface SelectHints {
  /** Inclusive bounds, Unix ms, of the samples the engine needs (lookback, ranges, offsets applied). */
  startMs: number;
  endMs: number;
  /** The query's step (range queries), 0 for instant queries. */
  stepMs: number;
  /** The enclosing function, e.g. `rate` or `avg_over_time`, when the selector is its argument. */
  func?: string;
  /** The range of a matrix selector (`x[5m]`), 0 for an instant vector selector. */
  rangeMs: number;
}

/**
 * `fn(selector[range])` evaluated at each of `times` from a rolled-up tier, when storage can
 * answer it exactly (or, beyond raw retention, with a warning saying what was approximated).
 */
export interface RangeFunctionRequest {
  func: string;
  /** φ of quantile_over_time. */
  param?: number;
  matchers: LabelMatcher[];
  rangeMs: number;
  /** Evaluation instants (Unix ms) after `offset` and `@` are applied, ascending. */
  times: number[];
}

export interface RangeFunctionResult {
  /** Output labels (without `__name__`, as the function drops it), values per instant (NaN = no value). */
  series: Array<{ labels: Record<string, string>; values: Float64Array }>;
}

export interface Querier {
  select(matchers: LabelMatcher[], hints: SelectHints): Promise<SeriesData[]>;
  /** Optional fast path from a tier; `undefined` means "not exactly answerable: select raw samples". */
  rangeFunction?(request: RangeFunctionRequest): Promise<RangeFunctionResult | undefined>;
  /** Notes for the response's `warnings` (e.g. what a tier approximated), collected during evaluation. */
  readonly warnings?: string[];
}
