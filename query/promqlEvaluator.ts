import { ApiError, badData } from './errors.js';
import type { PromqlEvaluator, ResultData } from './evaluator.js';
import {
  formatQueryData,
  instantQuery,
  parseExpr,
  PromQLError,
  PromQLParseError,
  rangeQuery,
  type LabelMatcher,
} from './promql/index.js';

/**
 * The query service's PromQL: the engine of query/promql/, its errors turned into the API's
 * (a parse error is `bad_data` with its line:column position, as Prometheus writes it).
 */
export function promqlEvaluator(options: { maxSamples: number; maxPoints?: number }): PromqlEvaluator {
  return {
    check(expr) {
      guard(() => parseExpr(expr));
    },
    selector(text) {
      const expr = guard(() => parseExpr(text));
      if (expr.kind !== 'VectorSelector')
        throw badData(`invalid parameter "match[]": ${JSON.stringify(text)} is not a series selector`);
      return expr.matchers as LabelMatcher[];
    },
    async instant(expr, timeMs, querier, evalOptions) {
      const result = await guardAsync(() =>
        instantQuery(querier, expr, timeMs, { ...evalOptions, maxSamples: options.maxSamples }),
      );
      const { data, warnings } = formatQueryData(result, timeMs);
      return { data: data as ResultData, warnings };
    },
    async range(expr, range, querier, evalOptions) {
      const result = await guardAsync(() =>
        rangeQuery(querier, expr, range.startMs, range.endMs, range.stepMs, {
          ...evalOptions,
          maxSamples: options.maxSamples,
          ...(options.maxPoints !== undefined ? { maxPoints: options.maxPoints } : {}),
        }),
      );
      const { data, warnings } = formatQueryData(result, range.endMs);
      if (data.resultType !== 'matrix')
        throw new ApiError('internal', `range query gave a ${data.resultType}`);
      return { data: data as ResultData & { resultType: 'matrix' }, warnings };
    },
  };
}

function translate(error: unknown): unknown {
  if (error instanceof ApiError) return error;
  if (error instanceof PromQLParseError)
    return new ApiError('bad_data', `invalid parameter "query": ${error.message}`);
  if (error instanceof PromQLError) return new ApiError(error.errorType, error.message, { cause: error });
  return error;
}

function guard<T>(task: () => T): T {
  try {
    return task();
  } catch (error) {
    throw translate(error);
  }
}

async function guardAsync<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw translate(error);
  }
}
