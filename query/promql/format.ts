import type { EvalResult } from './evaluator.js';
import { formatSampleValue } from './floats.js';
import type { Labels } from './labels.js';

/** `[seconds, "value"]` as Prometheus' API writes a point. */
export type JsonPoint = [number, string];

export type QueryData =
  | { resultType: 'vector'; result: Array<{ metric: Labels; value: JsonPoint }> }
  | { resultType: 'matrix'; result: Array<{ metric: Labels; values: JsonPoint[] }> }
  | { resultType: 'scalar'; result: JsonPoint }
  | { resultType: 'string'; result: [number, string] };

const point = (ms: number, value: number): JsonPoint => [ms / 1000, formatSampleValue(value)];

/**
 * The `data` member of Prometheus' `/api/v1/query` and `/api/v1/query_range` responses, and the
 * warnings for the envelope. `evalTimeMs` is the instant of an instant query (its points carry it).
 */
export function formatQueryData(
  result: EvalResult,
  evalTimeMs: number,
): { data: QueryData; warnings: string[] } {
  const { value, warnings } = result;
  switch (value.type) {
    case 'scalar':
      return { data: { resultType: 'scalar', result: point(evalTimeMs, value.value) }, warnings };
    case 'string':
      return { data: { resultType: 'string', result: [evalTimeMs / 1000, value.value] }, warnings };
    case 'vector':
      return {
        data: {
          resultType: 'vector',
          result: value.samples.map((s) => ({ metric: s.metric, value: point(evalTimeMs, s.value) })),
        },
        warnings,
      };
    case 'matrix':
      return {
        data: {
          resultType: 'matrix',
          result: value.series.map((s) => ({
            metric: s.metric,
            values: Array.from(s.timestamps, (t, i) => point(t, s.values[i] as number)),
          })),
        },
        warnings,
      };
  }
}
