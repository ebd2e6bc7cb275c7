import type { LabelMatcher, Querier } from './promql/storage.js';

/** A sample as Prometheus' API writes it: [Unix seconds, value as text]. */
export type ApiPoint = [number, string];

export interface MatrixSeries {
  metric: Record<string, string>;
  values: ApiPoint[];
}

/** The `data` of a query answer, as Prometheus' API shapes it. */
export type ResultData =
  | { resultType: 'matrix'; result: MatrixSeries[] }
  | { resultType: 'vector'; result: Array<{ metric: Record<string, string>; value: ApiPoint }> }
  | { resultType: 'scalar'; result: ApiPoint }
  | { resultType: 'string'; result: ApiPoint };

export interface EvalOptions {
  /** Prometheus' lookback delta (5 m by default). */
  lookbackDeltaMs?: number;
  /** Unix ms after which evaluation stops with `timeout`: the engine evaluates synchronously, so an abort timer cannot fire meanwhile. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

/**
 * What the query service needs of the PromQL engine (query/promql/): a syntax check that
 * throws `bad_data` with the position, and instant and range evaluation over a `Querier`,
 * formatted as Prometheus' `data`.
 */
export interface PromqlEvaluator {
  /** Throws ApiError('bad_data', …) for an expression that does not parse. */
  check(expr: string): void;
  /** The matchers of a series selector (`match[]`); throws ApiError('bad_data', …) for anything else. */
  selector(text: string): LabelMatcher[];
  instant(
    expr: string,
    timeMs: number,
    querier: Querier,
    options: EvalOptions,
  ): Promise<{ data: ResultData; warnings: string[] }>;
  range(
    expr: string,
    range: { startMs: number; endMs: number; stepMs: number },
    querier: Querier,
    options: EvalOptions,
  ): Promise<{ data: ResultData & { resultType: 'matrix' }; warnings: string[] }>;
}
