import type { Expr } from './ast.js';
import { PromQLBadDataError } from './errors.js';
import { evaluate, type EvalOptions, type EvalRange, type EvalResult } from './evaluator.js';
import { parseExpr } from './parser.js';
import { prefetch } from './prepare.js';
import type { Querier } from './storage.js';

export interface QueryOptions extends EvalOptions {
  /** Evaluation time budget in ms; sets `deadlineMs` from now when that is not given. */
  timeoutMs?: number;
  /** Steps of a range query at most (the query service's `query.maxPoints`). */
  maxPoints?: number;
}

/** Prometheus refuses range queries of more than this many steps. */
const DEFAULT_MAX_POINTS = 11_000;

/** Parses (unless given an expression), fetches once, then evaluates in memory. */
async function run(
  querier: Querier,
  query: string | Expr,
  range: EvalRange,
  options: QueryOptions,
): Promise<EvalResult> {
  const deadlineMs =
    options.deadlineMs ?? (options.timeoutMs !== undefined ? Date.now() + options.timeoutMs : undefined);
  const expr = typeof query === 'string' ? parseExpr(query) : query;
  const { data, precomputed } = await prefetch(expr, querier, range, options);
  const result = evaluate(
    expr,
    (selector) => data.get(selector) ?? [],
    range,
    { ...options, ...(deadlineMs !== undefined ? { deadlineMs } : {}) },
    precomputed,
  );
  const storageWarnings = querier.warnings ?? [];
  return { value: result.value, warnings: [...new Set([...storageWarnings, ...result.warnings])] };
}

/** `/api/v1/query`: the expression at one instant (Unix ms). */
export function instantQuery(
  querier: Querier,
  query: string | Expr,
  timeMs: number,
  options: QueryOptions = {},
): Promise<EvalResult> {
  if (!Number.isFinite(timeMs)) throw new PromQLBadDataError(`invalid time ${timeMs}`);
  return run(querier, query, { startMs: timeMs, endMs: timeMs, stepMs: 0 }, options);
}

/** `/api/v1/query_range`: the expression at every step from start to end (Unix ms). */
export function rangeQuery(
  querier: Querier,
  query: string | Expr,
  startMs: number,
  endMs: number,
  stepMs: number,
  options: QueryOptions = {},
): Promise<EvalResult> {
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs))
    throw new PromQLBadDataError('invalid start or end time');
  if (endMs < startMs) throw new PromQLBadDataError('end timestamp must not be before start time');
  if (!(stepMs > 0))
    throw new PromQLBadDataError(
      'zero or negative query resolution step widths are not accepted. Try a positive integer',
    );
  const maxPoints = options.maxPoints ?? DEFAULT_MAX_POINTS;
  if ((endMs - startMs) / stepMs > maxPoints) {
    throw new PromQLBadDataError(
      `exceeded maximum resolution of ${maxPoints.toLocaleString('en-US')} points per timeseries. Try decreasing the query resolution (?step=XX)`,
    );
  }
  return run(querier, query, { startMs, endMs, stepMs }, options);
}
