import type { AtModifier, Call, Expr, VectorSelector } from './ast.js';
import {
  DEFAULT_LOOKBACK_DELTA_MS,
  DEFAULT_SUBQUERY_STEP_MS,
  type EvalRange,
  type PrecomputedCalls,
} from './evaluator.js';
import { dropMetricName } from './labels.js';
import type { Querier, SeriesData } from './storage.js';
import type { Sample } from './values.js';

/** Range functions storage may answer from a tier (the rest need raw samples or keep `__name__`). */
const TIER_FUNCTIONS: ReadonlySet<string> = new Set([
  'rate',
  'increase',
  'delta',
  'irate',
  'idelta',
  'deriv',
  'changes',
  'resets',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'quantile_over_time',
  'present_over_time',
]);

/** Evaluation instants a node sees: every `stepMs` from `startMs` to `endMs`, or exactly `times`. */
interface Instants {
  startMs: number;
  endMs: number;
  stepMs: number;
  /** Only when the node is evaluated at the query's own steps (not inside a subquery). */
  exact: boolean;
}

interface SelectorUse {
  selector: VectorSelector;
  /** Inclusive bounds of the samples needed. */
  startMs: number;
  endMs: number;
  rangeMs: number;
  func: string | undefined;
}

export interface Prefetched {
  data: Map<VectorSelector, readonly SeriesData[]>;
  precomputed: PrecomputedCalls;
}

export interface PrepareOptions {
  lookbackDeltaMs?: number;
  defaultSubqueryStepMs?: number;
}

/**
 * The async phase of a query, as Prometheus' populateSeries: walks the expression once, works out
 * the time span each selector needs over the whole query (lookback, ranges, offsets, `@`,
 * subqueries), and fetches each once. Range functions over a plain selector at the query's own
 * steps are offered to storage's tier fast path first.
 */
export async function prefetch(
  expr: Expr,
  querier: Querier,
  range: EvalRange,
  options: PrepareOptions = {},
): Promise<Prefetched> {
  const lookbackMs = options.lookbackDeltaMs ?? DEFAULT_LOOKBACK_DELTA_MS;
  const defaultStepMs = options.defaultSubqueryStepMs ?? DEFAULT_SUBQUERY_STEP_MS;
  const uses: SelectorUse[] = [];
  const tierCalls: Array<{
    call: Call;
    selector: VectorSelector;
    rangeMs: number;
    param?: number;
    times: number[];
  }> = [];
  const at = (modifier: AtModifier | undefined, t: number): number => {
    if (modifier === undefined) return t;
    if (modifier.kind === 'start') return range.startMs;
    if (modifier.kind === 'end') return range.endMs;
    return modifier.ms;
  };
  const walk = (node: Expr, instants: Instants, func: string | undefined): void => {
    switch (node.kind) {
      case 'VectorSelector': {
        const endMs = at(node.at, instants.endMs) - node.offsetMs;
        const startMs = at(node.at, instants.startMs) - node.offsetMs - lookbackMs;
        uses.push({ selector: node, startMs, endMs, rangeMs: 0, func });
        return;
      }
      case 'MatrixSelector': {
        const s = node.selector;
        const endMs = at(s.at, instants.endMs) - s.offsetMs;
        const startMs = at(s.at, instants.startMs) - s.offsetMs - node.rangeMs;
        uses.push({ selector: s, startMs, endMs, rangeMs: node.rangeMs, func });
        return;
      }
      case 'SubqueryExpr': {
        const endMs = at(node.at, instants.endMs) - node.offsetMs;
        const startMs = at(node.at, instants.startMs) - node.offsetMs - node.rangeMs;
        const stepMs = node.stepMs > 0 ? node.stepMs : defaultStepMs;
        walk(node.expr, { startMs, endMs, stepMs, exact: false }, undefined);
        return;
      }
      case 'Call': {
        const arg = node.args.find((a) => a.kind === 'MatrixSelector');
        if (
          arg?.kind === 'MatrixSelector' &&
          instants.exact &&
          querier.rangeFunction &&
          TIER_FUNCTIONS.has(node.func)
        ) {
          const s = arg.selector;
          const param = node.args.find((a) => a !== arg);
          if (param === undefined || param.kind === 'NumberLiteral') {
            const times: number[] = [];
            for (let t = instants.startMs; t <= instants.endMs; t += instants.stepMs || Infinity) {
              times.push(at(s.at, t) - s.offsetMs);
            }
            tierCalls.push({
              call: node,
              selector: s,
              rangeMs: arg.rangeMs,
              ...(param?.kind === 'NumberLiteral' ? { param: param.value } : {}),
              times: [...new Set(times)],
            });
          }
        }
        for (const a of node.args) walk(a, instants, node.func);
        return;
      }
      case 'ParenExpr':
      case 'UnaryExpr':
        walk(node.expr, instants, func);
        return;
      case 'BinaryExpr':
        walk(node.lhs, instants, undefined);
        walk(node.rhs, instants, undefined);
        return;
      case 'AggregateExpr':
        if (node.param) walk(node.param, instants, undefined);
        walk(node.expr, instants, undefined);
        return;
      case 'NumberLiteral':
      case 'StringLiteral':
        return;
    }
  };
  walk(expr, { ...range, exact: true }, undefined);

  const precomputed = new Map<Call, Map<number, Sample[]>>();
  const answeredSelectors = new Set<VectorSelector>();
  await Promise.all(
    tierCalls.map(async (c) => {
      const result = await querier.rangeFunction?.({
        func: c.call.func,
        ...(c.param !== undefined ? { param: c.param } : {}),
        matchers: c.selector.matchers,
        rangeMs: c.rangeMs,
        times: c.times,
      });
      if (!result) return;
      const byTime = new Map<number, Sample[]>();
      // One label object per series for every instant: the evaluator keys series by its identity.
      const metrics = result.series.map((s) => dropMetricName(Object.freeze({ ...s.labels })));
      c.times.forEach((time, i) => {
        const samples: Sample[] = [];
        result.series.forEach((s, k) => {
          const value = s.values[i];
          if (value === undefined || Number.isNaN(value)) return;
          samples.push({ metric: metrics[k] as Sample['metric'], value, t: time });
        });
        byTime.set(time, samples);
      });
      precomputed.set(c.call, byTime);
      answeredSelectors.add(c.selector);
    }),
  );

  const data = new Map<VectorSelector, readonly SeriesData[]>();
  await Promise.all(
    uses.map(async (use) => {
      if (answeredSelectors.has(use.selector)) {
        data.set(use.selector, []);
        return;
      }
      const series = await querier.select(use.selector.matchers, {
        startMs: use.startMs + 1,
        endMs: use.endMs,
        stepMs: range.stepMs,
        rangeMs: use.rangeMs,
        ...(use.func !== undefined ? { func: use.func } : {}),
      });
      data.set(use.selector, series);
    }),
  );
  return { data, precomputed };
}
