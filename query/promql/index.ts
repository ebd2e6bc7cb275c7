/** The PromQL engine: parse, fetch once through a `Querier`, evaluate in memory, format as Prometheus' API. */
export type * from './ast.js';
export type * from './storage.js';
export { parseExpr, typeOf } from './parser.js';
export {
  PromQLError,
  PromQLParseError,
  PromQLExecutionError,
  PromQLBadDataError,
  PromQLTimeoutError,
  PromQLLimitError,
  type QueryPosition,
} from './errors.js';
export { instantQuery, rangeQuery, type QueryOptions } from './engine.js';
export {
  evaluate,
  DEFAULT_LOOKBACK_DELTA_MS,
  DEFAULT_MAX_SAMPLES,
  DEFAULT_SUBQUERY_STEP_MS,
  type EvalOptions,
  type EvalRange,
  type EvalResult,
  type SelectorData,
} from './evaluator.js';
export { formatQueryData, type QueryData, type JsonPoint } from './format.js';
export { MemoryQuerier, selectSeries, matches } from './memoryQuerier.js';
export type { Labels } from './labels.js';
export type { Sample, Series, Value } from './values.js';
