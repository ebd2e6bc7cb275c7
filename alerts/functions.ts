import type {
  Absent,
  AggregationOp,
  Aggregation,
  CompareOp,
  RangeCall,
  Selector,
  VectorExpr,
} from './promql.js';

/** Label pairs sorted by name, without the metric name. */
export type Labels = Array<[string, string]>;

/** One element of an instant vector: a label set and its value at the evaluation instant. */
export interface Element {
  labels: Labels;
  value: number;
}

/** The samples of one series kept for a selector, sorted by time. */
export interface SeriesSamples {
  name: string;
  labels: Labels;
  /** Event times, ms, strictly increasing. */
  t: number[];
  v: number[];
}

/** A label set as a map key. */
export function labelsKey(labels: ReadonlyArray<readonly [string, string]>): string {
  return labels.map(([k, v]) => `${k}\xff${v}`).join('\xfe');
}

/** Index of the first time after `start` in the sorted `times`. */
export function firstAfter(times: readonly number[], start: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) <= start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Neumaier's compensated summation, as Prometheus' kahanSumInc: returns [sum, compensation]. */
function kahanAdd(sum: number, c: number, inc: number): [number, number] {
  const t = sum + inc;
  if (!Number.isFinite(t)) return [t, 0];
  if (Math.abs(sum) >= Math.abs(inc)) return [t, c + (sum - t + inc)];
  return [t, c + (inc - t + sum)];
}

function kahanSum(values: readonly number[]): number {
  let sum = 0;
  let c = 0;
  for (const v of values) [sum, c] = kahanAdd(sum, c, v);
  return sum + c;
}

function mean(values: readonly number[]): number {
  let sum = 0;
  let c = 0;
  for (const v of values) [sum, c] = kahanAdd(sum, c, v);
  return sum / values.length + c / values.length;
}

/** φ-quantile with linear interpolation between closest ranks, as Prometheus' quantile. */
function quantile(phi: number, values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = phi * (sorted.length - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(sorted.length - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return (sorted[lower] as number) * (1 - weight) + (sorted[upper] as number) * weight;
}

/** The minimum (max = false) or maximum; a NaN only survives when every value is NaN, as in Prometheus. */
function extreme(values: readonly number[], max: boolean): number {
  let out = values[0] as number;
  for (const v of values) if ((max ? v > out : v < out) || Number.isNaN(out)) out = v;
  return out;
}

/**
 * Prometheus' extrapolatedRate: the counter's increase (per second when `rangeSeconds` is given) within (t - range, t], counter resets
 * (a value below its predecessor) counted as a restart from 0, extrapolated to the range
 * boundaries when the first and last samples are within 1.1 average intervals of them
 * (else by half an average interval), never below a counter value of 0.
 */
function extrapolatedRate(
  times: readonly number[],
  values: readonly number[],
  rangeStart: number,
  rangeEnd: number,
  /** Divides by the range (rate) when given, else the increase. */
  rangeSeconds: number | undefined,
): number {
  const n = times.length;
  const first = values[0] as number;
  let result = (values[n - 1] as number) - first;
  let prev = first;
  for (const v of values) {
    if (v < prev) result += prev;
    prev = v;
  }
  const firstT = times[0] as number;
  const lastT = times[n - 1] as number;
  let toStart = (firstT - rangeStart) / 1000;
  let toEnd = (rangeEnd - lastT) / 1000;
  const sampled = (lastT - firstT) / 1000;
  const average = sampled / (n - 1);
  const threshold = average * 1.1;
  if (toStart >= threshold) toStart = average / 2;
  if (result > 0 && first >= 0) {
    // A counter starts at 0: do not extrapolate to before the zero point.
    const toZero = sampled * (first / result);
    if (toZero < toStart) toStart = toZero;
  }
  if (toEnd >= threshold) toEnd = average / 2;
  // In Prometheus' order of operations, so that the float result is the same.
  let factor = (sampled + toStart + toEnd) / sampled;
  if (rangeSeconds !== undefined) factor /= rangeSeconds;
  return result * factor;
}

/** The value of a range function over one series at `t`, or undefined when it has none. */
export function rangeValue(call: RangeCall, series: SeriesSamples, t: number): number | undefined {
  const start = t - call.rangeMs;
  const from = firstAfter(series.t, start);
  const to = firstAfter(series.t, t);
  if (to <= from) return undefined;
  const values = series.v.slice(from, to);
  switch (call.fn) {
    case 'avg_over_time':
      return mean(values);
    case 'min_over_time':
      return extreme(values, false);
    case 'max_over_time':
      return extreme(values, true);
    case 'sum_over_time':
      return kahanSum(values);
    case 'count_over_time':
      return values.length;
    case 'last_over_time':
      return values[values.length - 1];
    case 'quantile_over_time':
      return quantile(call.param as number, values);
    case 'rate':
    case 'increase': {
      if (values.length < 2) return undefined;
      const rangeSeconds = call.fn === 'rate' ? call.rangeMs / 1000 : undefined;
      return extrapolatedRate(series.t.slice(from, to), values, start, t, rangeSeconds);
    }
  }
}

function aggregate(op: AggregationOp, values: readonly number[]): number {
  switch (op) {
    case 'sum':
      return kahanSum(values);
    case 'avg':
      return mean(values);
    case 'min':
      return extreme(values, false);
    case 'max':
      return extreme(values, true);
    case 'count':
      return values.length;
  }
}

/** The labels an element of `agg` groups under. */
function groupLabels(grouping: Aggregation['grouping'], labels: Labels): Labels {
  if (grouping === null) return [];
  const listed = new Set(grouping.labels);
  return labels.filter(([k]) => listed.has(k) === (grouping.mode === 'by'));
}

/**
 * The labels of absent_over_time's element: those of the selector's equality matchers, except
 * the metric name and labels matched more than once or otherwise (as Prometheus does).
 */
export function absentLabels(selector: Selector): Labels {
  const labels = new Map<string, string>();
  const dropped = new Set<string>();
  for (const m of selector.matchers) {
    if (m.name === '__name__') continue;
    if (m.op === '=' && !labels.has(m.name) && !dropped.has(m.name)) labels.set(m.name, m.value);
    else {
      labels.delete(m.name);
      dropped.add(m.name);
    }
  }
  return [...labels].filter(([, v]) => v !== '').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether any series has a sample in the range (t - range, t]. */
function present(absent: Absent, series: readonly SeriesSamples[], t: number): boolean {
  return series.some((s) => firstAfter(s.t, t) > firstAfter(s.t, t - absent.rangeMs));
}

/**
 * The instant vector of `expr` at `t` over the selected series (given in a stable order: the
 * first of two series with the same labels wins, since the metric name is dropped).
 */
export function evaluateVector(expr: VectorExpr, series: readonly SeriesSamples[], t: number): Element[] {
  if (expr.type === 'absent') {
    return present(expr, series, t) ? [] : [{ labels: absentLabels(expr.selector), value: 1 }];
  }
  const call = expr.type === 'range' ? expr : expr.inner;
  const elements = new Map<string, Element>();
  for (const s of series) {
    const value = rangeValue(call, s, t);
    const key = labelsKey(s.labels);
    if (value !== undefined && !elements.has(key)) elements.set(key, { labels: s.labels, value });
  }
  if (expr.type === 'range') return [...elements.values()];
  const groups = new Map<string, { labels: Labels; values: number[] }>();
  for (const element of elements.values()) {
    const labels = groupLabels(expr.grouping, element.labels);
    const key = labelsKey(labels);
    const group = groups.get(key);
    if (group) group.values.push(element.value);
    else groups.set(key, { labels, values: [element.value] });
  }
  return [...groups.values()].map((g) => ({ labels: g.labels, value: aggregate(expr.op, g.values) }));
}

export function compare(value: number, op: CompareOp, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '<':
      return value < threshold;
    case '>=':
      return value >= threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}

/** Mean and population standard deviation (Welford), as avg_over_time and stddev_over_time. */
export function meanAndStddev(values: readonly number[]): { mean: number; stddev: number } {
  let count = 0;
  let m = 0;
  let aux = 0;
  for (const v of values) {
    count++;
    const delta = v - m;
    m += delta / count;
    aux += delta * (v - m);
  }
  return { mean: m, stddev: Math.sqrt(aux / count) };
}
