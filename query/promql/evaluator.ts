import {
  SET_OPS,
  TYPE_NAMES,
  type AggregateExpr,
  type AtModifier,
  type BinaryExpr,
  type Call,
  type Expr,
  type MatrixSelector,
  type SubqueryExpr,
  type VectorSelector,
} from './ast.js';
import { aggregate } from './aggregations.js';
import {
  scalarBinary,
  setBinary,
  vectorBinary,
  vectorScalarBinary,
  type ResultMetricCache,
} from './binary.js';
import { PromQLBadDataError, PromQLExecutionError, PromQLLimitError, PromQLTimeoutError } from './errors.js';
import { absentLabels, INSTANT_FUNCTIONS } from './instantFunctions.js';
import { compareLabels, dropMetricName, labelsKey, type Labels } from './labels.js';
import { typeOf } from './parser.js';
import { RANGE_FUNCTIONS } from './rangeFunctions.js';
import type { SeriesData } from './storage.js';
import { isStaleNaN, type MatrixValue, type Sample, type Series, type Value } from './values.js';

/** Options of one evaluation, with Prometheus' defaults where it has them. */
export interface EvalOptions {
  /** How far back an instant selector looks for a sample (Prometheus' `--query.lookback-delta`). */
  lookbackDeltaMs?: number;
  /** Step of subqueries written without one (`x[1h:]`): Prometheus uses the global evaluation interval. */
  defaultSubqueryStepMs?: number;
  /** Samples in memory at once, Prometheus' `--query.max-samples`. */
  maxSamples?: number;
  /** Unix ms after which evaluation stops with a timeout error. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_LOOKBACK_DELTA_MS = 300_000;
export const DEFAULT_SUBQUERY_STEP_MS = 60_000;
export const DEFAULT_MAX_SAMPLES = 50_000_000;

/** The samples of every selector, fetched before evaluation (or held in memory by the caller). */
export type SelectorData = (selector: VectorSelector) => readonly SeriesData[];

/** Results of `fn(selector[range])` computed by storage, per call and evaluation instant (after offset and `@`). */
export type PrecomputedCalls = ReadonlyMap<Call, ReadonlyMap<number, Sample[]>>;

/** What a query evaluates over: one instant (`startMs === endMs`, `stepMs` 0) or a range. */
export interface EvalRange {
  startMs: number;
  endMs: number;
  stepMs: number;
}

export interface EvalResult {
  value: Value;
  warnings: string[];
}

/** Binary search: the last index with `timestamps[i] <= t`, or -1. */
function lastAtOrBefore(timestamps: Float64Array, t: number): number {
  let lo = 0;
  let hi = timestamps.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((timestamps[mid] as number) <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** A result series being filled step by step. */
interface SeriesBuilder {
  metric: Labels;
  timestamps: number[];
  values: number[];
}

const seriesLabels = new WeakMap<SeriesData, Labels>();
const staleMarkers = new WeakMap<SeriesData, boolean>();

/** Whether a series holds any stale marker, found once per series. */
function hasStaleMarkers(series: SeriesData): boolean {
  let has = staleMarkers.get(series);
  if (has === undefined) {
    has = series.values.some(isStaleNaN);
    staleMarkers.set(series, has);
  }
  return has;
}

function labelsOf(series: SeriesData): Labels {
  let labels = seriesLabels.get(series);
  if (!labels) {
    labels = Object.freeze({ ...series.labels });
    seriesLabels.set(series, labels);
  }
  return labels;
}

/**
 * Evaluates a parsed expression synchronously over samples already in memory, at every step of
 * the range as Prometheus does (a range query is instant evaluations at each step, merged by
 * series). This is the core the query service and the alert rules share.
 */
export function evaluate(
  expr: Expr,
  data: SelectorData,
  range: EvalRange,
  options: EvalOptions = {},
  precomputed: PrecomputedCalls = new Map(),
): EvalResult {
  return new Evaluator(data, range, options, precomputed).run(expr);
}

class Evaluator {
  private readonly lookbackMs: number;
  private readonly subqueryStepMs: number;
  private readonly maxSamples: number;
  private readonly warnings = new Set<string>();
  /** Samples held for the current step (selected and produced), plus the result so far. */
  private currentSamples = 0;
  private resultSamples = 0;
  private readonly subqueryMemo = new Map<Expr, Map<number, Value>>();
  private readonly resultMetrics = new Map<BinaryExpr, ResultMetricCache>();
  /**
   * Per range function over a selector: which input series each output label set came from.
   * Prometheus computes such a function for the whole range at once and refuses two input
   * series that end up with the same labels even at different steps.
   */
  private readonly outputSources = new Map<Call, Map<string, string>>();
  /** Each selector's series, asked of `data` once per evaluation rather than at every step. */
  private readonly selected = new Map<VectorSelector, readonly SeriesData[]>();
  private checks = 0;

  constructor(
    private readonly data: SelectorData,
    private readonly range: EvalRange,
    private readonly options: EvalOptions,
    private readonly precomputed: PrecomputedCalls,
  ) {
    this.lookbackMs = options.lookbackDeltaMs ?? DEFAULT_LOOKBACK_DELTA_MS;
    this.subqueryStepMs = options.defaultSubqueryStepMs ?? DEFAULT_SUBQUERY_STEP_MS;
    this.maxSamples = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
  }

  run(expr: Expr): EvalResult {
    const { startMs, endMs, stepMs } = this.range;
    const type = typeOf(expr);
    if (startMs === endMs && stepMs === 0) {
      this.checkDeadline(true);
      const value = this.eval(expr, startMs);
      return { value, warnings: [...this.warnings] };
    }
    if (type !== 'scalar' && type !== 'vector') {
      throw new PromQLBadDataError(
        `invalid expression type "${TYPE_NAMES[type]}" for range query, must be Scalar or instant Vector`,
      );
    }
    if (stepMs <= 0)
      throw new PromQLBadDataError('zero or negative query resolution step widths are not accepted');
    const bySeries = new Map<string, SeriesBuilder>();
    for (let t = startMs; t <= endMs; t += stepMs) {
      this.checkDeadline(true);
      this.currentSamples = this.resultSamples;
      const value = this.eval(expr, t);
      const samples: Sample[] =
        value.type === 'scalar'
          ? [{ metric: Object.freeze({}), value: value.value, t }]
          : (value as { samples: Sample[] }).samples;
      for (const s of samples) {
        const key = labelsKey(s.metric);
        let series = bySeries.get(key);
        if (!series) {
          series = { metric: s.metric, timestamps: [], values: [] };
          bySeries.set(key, series);
        }
        series.timestamps.push(t);
        series.values.push(s.value);
      }
      this.resultSamples += samples.length;
      this.countSamples(0);
    }
    const series = [...bySeries.values()].sort((a, b) => compareLabels(a.metric, b.metric));
    const value: MatrixValue = { type: 'matrix', series, windowStartMs: startMs, windowEndMs: endMs };
    return { value, warnings: [...this.warnings] };
  }

  private checkDeadline(force = false): void {
    if (!force && ++this.checks % 64 !== 0) return;
    if (
      this.options.signal?.aborted ||
      (this.options.deadlineMs !== undefined && Date.now() > this.options.deadlineMs)
    ) {
      throw new PromQLTimeoutError('expression evaluation');
    }
  }

  private countSamples(n: number): void {
    this.currentSamples += n;
    if (this.currentSamples > this.maxSamples) throw this.tooManySamples();
  }

  private tooManySamples(): PromQLLimitError {
    return new PromQLLimitError(
      `query processing would load too many samples into memory in query execution (limit: max samples ${this.maxSamples})`,
      'maxSamples',
    );
  }

  private atTime(at: AtModifier | undefined, t: number): number {
    if (at === undefined) return t;
    if (at.kind === 'start') return this.range.startMs;
    if (at.kind === 'end') return this.range.endMs;
    return at.ms;
  }

  private eval(expr: Expr, t: number): Value {
    switch (expr.kind) {
      case 'NumberLiteral':
        return { type: 'scalar', value: expr.value };
      case 'StringLiteral':
        return { type: 'string', value: expr.value };
      case 'ParenExpr':
        return this.eval(expr.expr, t);
      case 'VectorSelector':
        return { type: 'vector', samples: this.selectInstant(expr, t) };
      case 'MatrixSelector':
        return this.selectRange(expr, t);
      case 'SubqueryExpr':
        return this.subquery(expr, t);
      case 'UnaryExpr': {
        const value = this.eval(expr.expr, t);
        if (expr.op === '+') return value;
        if (value.type === 'scalar') return { type: 'scalar', value: -value.value };
        if (value.type !== 'vector')
          throw new PromQLExecutionError('unary minus needs a scalar or instant vector');
        return {
          type: 'vector',
          samples: value.samples.map((s) => ({ metric: dropMetricName(s.metric), value: -s.value, t })),
        };
      }
      case 'BinaryExpr':
        return this.binary(expr, t);
      case 'AggregateExpr':
        return this.aggregate(expr, t);
      case 'Call':
        return this.call(expr, t);
    }
  }

  private seriesOf(selector: VectorSelector): readonly SeriesData[] {
    let series = this.selected.get(selector);
    if (!series) {
      series = this.data(selector);
      this.selected.set(selector, series);
    }
    return series;
  }

  private selectInstant(selector: VectorSelector, t: number): Sample[] {
    const ref = this.atTime(selector.at, t) - selector.offsetMs;
    const out: Sample[] = [];
    for (const series of this.seriesOf(selector)) {
      const i = lastAtOrBefore(series.timestamps, ref);
      if (i < 0) continue;
      const ts = series.timestamps[i] as number;
      const value = series.values[i] as number;
      if (ts <= ref - this.lookbackMs || isStaleNaN(value)) continue;
      out.push({ metric: labelsOf(series), value, t: ts });
    }
    this.countSamples(out.length);
    return out;
  }

  /** The left-open window `(ref - range, ref]` of every series (Prometheus 3). */
  private selectRange(matrix: MatrixSelector, t: number): MatrixValue {
    const { selector, rangeMs } = matrix;
    const end = this.atTime(selector.at, t) - selector.offsetMs;
    const start = end - rangeMs;
    const series: Series[] = [];
    let count = 0;
    for (const data of this.seriesOf(selector)) {
      const last = lastAtOrBefore(data.timestamps, end);
      const first = lastAtOrBefore(data.timestamps, start) + 1;
      if (last < first) continue;
      if (!hasStaleMarkers(data)) {
        // Views, not copies: long windows at many steps would otherwise copy the same samples again and again.
        const timestamps = data.timestamps.subarray(first, last + 1);
        const values = data.values.subarray(first, last + 1);
        count += values.length;
        series.push({ metric: labelsOf(data), timestamps, values });
        continue;
      }
      const timestamps: number[] = [];
      const values: number[] = [];
      for (let i = first; i <= last; i++) {
        const value = data.values[i] as number;
        if (isStaleNaN(value)) continue;
        timestamps.push(data.timestamps[i] as number);
        values.push(value);
      }
      if (values.length === 0) continue;
      count += values.length;
      series.push({ metric: labelsOf(data), timestamps, values });
    }
    this.countSamples(count);
    return { type: 'matrix', series, windowStartMs: start, windowEndMs: end };
  }

  /** Evaluates the inner expression at every multiple of the step in `(ref - range, ref]`. */
  private subquery(node: SubqueryExpr, t: number): MatrixValue {
    const end = this.atTime(node.at, t) - node.offsetMs;
    const start = end - node.rangeMs;
    const step = node.stepMs > 0 ? node.stepMs : this.subqueryStepMs;
    let first = step * Math.trunc(start / step);
    if (first <= start) first += step;
    // Each step holds at least one sample when the inner expression selects anything: refuse a
    // subquery with more steps than the limit before evaluating any of them.
    if ((end - first) / step + 1 > this.maxSamples) throw this.tooManySamples();
    let memo = this.subqueryMemo.get(node.expr);
    if (!memo) {
      memo = new Map();
      this.subqueryMemo.set(node.expr, memo);
    }
    const bySeries = new Map<string, SeriesBuilder>();
    for (let it = first; it <= end; it += step) {
      this.checkDeadline();
      let value = memo.get(it);
      if (!value) {
        value = this.eval(node.expr, it);
        memo.set(it, value);
      }
      if (value.type !== 'vector') continue;
      for (const s of value.samples) {
        const key = labelsKey(s.metric);
        let series = bySeries.get(key);
        if (!series) {
          series = { metric: s.metric, timestamps: [], values: [] };
          bySeries.set(key, series);
        }
        series.timestamps.push(it);
        series.values.push(s.value);
      }
      this.countSamples(value.samples.length);
    }
    return { type: 'matrix', series: [...bySeries.values()], windowStartMs: start, windowEndMs: end };
  }

  private binary(node: BinaryExpr, t: number): Value {
    const lhs = this.eval(node.lhs, t);
    const rhs = this.eval(node.rhs, t);
    if (lhs.type === 'scalar' && rhs.type === 'scalar') {
      return { type: 'scalar', value: scalarBinary(node.op, lhs.value, rhs.value) };
    }
    let samples: Sample[];
    if (lhs.type === 'vector' && rhs.type === 'vector') {
      const matching = node.matching ?? { card: 'one-to-one', on: false, labels: [], include: [] };
      samples = SET_OPS.has(node.op)
        ? setBinary(node.op as 'and' | 'or' | 'unless', lhs.samples, rhs.samples, matching)
        : vectorBinary(
            node.op,
            lhs.samples,
            rhs.samples,
            matching,
            node.returnBool,
            t,
            this.resultMetricsOf(node),
          );
    } else if (lhs.type === 'vector' && rhs.type === 'scalar') {
      samples = vectorScalarBinary(node.op, lhs.samples, rhs.value, false, node.returnBool, t);
    } else if (lhs.type === 'scalar' && rhs.type === 'vector') {
      samples = vectorScalarBinary(node.op, rhs.samples, lhs.value, true, node.returnBool, t);
    } else {
      throw new PromQLExecutionError('binary expression must contain only scalar and instant vector types');
    }
    this.checkUnique(samples);
    this.countSamples(samples.length);
    return { type: 'vector', samples };
  }

  private resultMetricsOf(node: BinaryExpr): ResultMetricCache {
    let cache = this.resultMetrics.get(node);
    if (!cache) {
      cache = new WeakMap();
      this.resultMetrics.set(node, cache);
    }
    return cache;
  }

  private aggregate(node: AggregateExpr, t: number): Value {
    let param: number | string | undefined;
    if (node.param) {
      const p = this.eval(node.param, t);
      param = p.type === 'scalar' || p.type === 'string' ? p.value : undefined;
    }
    const input = this.eval(node.expr, t);
    if (input.type !== 'vector') throw new PromQLExecutionError('aggregation needs an instant vector');
    if (
      node.op === 'quantile' &&
      typeof param === 'number' &&
      (Number.isNaN(param) || param < 0 || param > 1)
    ) {
      this.warnings.add(`PromQL warning: quantile value should be between 0 and 1, got ${param}`);
    }
    const samples = aggregate(node, input.samples, param, t);
    this.countSamples(samples.length);
    return { type: 'vector', samples };
  }

  private call(node: Call, t: number): Value {
    const matrixArg = node.args.findIndex((a) => typeOf(a) === 'matrix');
    if (matrixArg < 0) {
      const impl = INSTANT_FUNCTIONS.get(node.func);
      if (!impl) throw new PromQLExecutionError(`function "${node.func}" is not supported`);
      const args = node.args.map((a) => this.eval(a, t));
      const value = impl({ call: node, args, t, warn: (m) => this.warnings.add(m) });
      if (value.type === 'vector') {
        this.checkUnique(value.samples);
        this.countSamples(value.samples.length);
      }
      return value;
    }
    const argNode = node.args[matrixArg] as Expr;
    const precomputed = this.precomputed.get(node);
    if (precomputed && argNode.kind === 'MatrixSelector') {
      const ref = this.atTime(argNode.selector.at, t) - argNode.selector.offsetMs;
      const samples = precomputed.get(ref);
      if (samples) return { type: 'vector', samples: samples.map((s) => ({ ...s, t })) };
    }
    let param = NaN;
    const paramNode = node.args.find((_, i) => i !== matrixArg);
    if (paramNode) {
      const p = this.eval(paramNode, t);
      if (p.type === 'scalar') param = p.value;
    }
    const matrix = this.eval(argNode, t) as MatrixValue;
    if (node.func === 'absent_over_time') {
      const samples = matrix.series.length > 0 ? [] : [{ metric: absentLabels(argNode), value: 1, t }];
      return { type: 'vector', samples };
    }
    if (node.func === 'quantile_over_time' && (Number.isNaN(param) || param < 0 || param > 1)) {
      this.warnings.add(`PromQL warning: quantile value should be between 0 and 1, got ${param}`);
    }
    const fn = RANGE_FUNCTIONS.get(node.func);
    if (!fn) throw new PromQLExecutionError(`function "${node.func}" is not supported`);
    const keepName = node.func === 'last_over_time';
    const samples: Sample[] = [];
    for (const series of matrix.series) {
      const value = fn({
        timestamps: series.timestamps,
        values: series.values,
        startMs: matrix.windowStartMs,
        endMs: matrix.windowEndMs,
        evalMs: t,
        param,
      });
      if (value === undefined) continue;
      const metric = keepName ? series.metric : dropMetricName(series.metric);
      if (argNode.kind === 'MatrixSelector' && metric !== series.metric)
        this.checkSource(node, metric, series.metric);
      samples.push({ metric, value, t });
    }
    this.checkUnique(samples);
    this.countSamples(samples.length);
    return { type: 'vector', samples };
  }

  private checkSource(node: Call, output: Labels, input: Labels): void {
    let sources = this.outputSources.get(node);
    if (!sources) {
      sources = new Map();
      this.outputSources.set(node, sources);
    }
    const outputKey = labelsKey(output);
    const inputKey = labelsKey(input);
    const known = sources.get(outputKey);
    if (known === undefined) sources.set(outputKey, inputKey);
    else if (known !== inputKey)
      throw new PromQLExecutionError('vector cannot contain metrics with the same labelset');
  }

  private checkUnique(samples: readonly Sample[]): void {
    if (samples.length < 2) return;
    const seen = new Set<string>();
    for (const s of samples) {
      const key = labelsKey(s.metric);
      if (seen.has(key))
        throw new PromQLExecutionError('vector cannot contain metrics with the same labelset');
      seen.add(key);
    }
  }
}
