import { kahanMean, kahanSumInc, kahanVariance, quantile } from './kahan.js';

/** What a range function sees of one series in one window. */
export interface RangeWindow {
  timestamps: ArrayLike<number>;
  values: ArrayLike<number>;
  /** Exclusive start and inclusive end of the window, Unix ms. */
  startMs: number;
  endMs: number;
  /** The evaluation time (before offset and `@`), for `predict_linear`. */
  evalMs: number;
  /** The scalar argument (φ of `quantile_over_time`, seconds of `predict_linear`). */
  param: number;
}

/** A range function: its value for the window, or undefined for no output. */
export type RangeFunction = (w: RangeWindow) => number | undefined;

/** `rate`, `increase` and `delta`: the change over the window, extrapolated to its ends as Prometheus does. */
function extrapolatedRate(w: RangeWindow, isCounter: boolean, isRate: boolean): number | undefined {
  const { timestamps: ts, values: vs } = w;
  const n = vs.length;
  if (n < 2) return undefined;
  const firstT = ts[0] as number;
  const lastT = ts[n - 1] as number;
  const first = vs[0] as number;
  let result = (vs[n - 1] as number) - first;
  if (isCounter) {
    for (let i = 1; i < n; i++) {
      const prev = vs[i - 1] as number;
      if ((vs[i] as number) < prev) result += prev;
    }
  }
  let durationToStart = (firstT - w.startMs) / 1000;
  let durationToEnd = (w.endMs - lastT) / 1000;
  const sampledInterval = (lastT - firstT) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  if (durationToStart >= extrapolationThreshold) durationToStart = averageDurationBetweenSamples / 2;
  if (isCounter) {
    // A counter cannot go below zero: do not extrapolate to before the time it would have been zero.
    let durationToZero = durationToStart;
    if (result > 0 && first >= 0) durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  if (durationToEnd >= extrapolationThreshold) durationToEnd = averageDurationBetweenSamples / 2;
  let factor =
    sampledInterval !== 0 ? (sampledInterval + durationToStart + durationToEnd) / sampledInterval : 1;
  if (isRate) factor /= (w.endMs - w.startMs) / 1000;
  return result * factor;
}

/** `irate` and `idelta`: from the last two samples. */
function instantValue(w: RangeWindow, isRate: boolean): number | undefined {
  const n = w.values.length;
  if (n < 2) return undefined;
  const last = w.values[n - 1] as number;
  const prev = w.values[n - 2] as number;
  const interval = (w.timestamps[n - 1] as number) - (w.timestamps[n - 2] as number);
  if (interval === 0) return undefined;
  let result = last;
  if (!isRate || !(last < prev)) result = last - prev;
  return isRate ? result / (interval / 1000) : result;
}

/** Least-squares slope and intercept at `interceptMs`, with compensated sums. */
function linearRegression(w: RangeWindow, interceptMs: number): [number, number] {
  const initY = w.values[0] as number;
  let constY = true;
  let n = 0;
  let sumX = 0;
  let cX = 0;
  let sumY = 0;
  let cY = 0;
  let sumXY = 0;
  let cXY = 0;
  let sumX2 = 0;
  let cX2 = 0;
  for (let i = 0; i < w.values.length; i++) {
    const y = w.values[i] as number;
    if (constY && i > 0 && y !== initY) constY = false;
    n += 1;
    const x = ((w.timestamps[i] as number) - interceptMs) / 1000;
    [sumX, cX] = kahanSumInc(x, sumX, cX);
    [sumY, cY] = kahanSumInc(y, sumY, cY);
    [sumXY, cXY] = kahanSumInc(x * y, sumXY, cXY);
    [sumX2, cX2] = kahanSumInc(x * x, sumX2, cX2);
  }
  if (constY) return Number.isFinite(initY) || Number.isNaN(initY) ? [0, initY] : [NaN, NaN];
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  return [slope, sumY / n - (slope * sumX) / n];
}

function nonEmpty(f: (values: ArrayLike<number>) => number): RangeFunction {
  return (w) => (w.values.length === 0 ? undefined : f(w.values));
}

function extreme(isMax: boolean): RangeFunction {
  return nonEmpty((values) => {
    let best = values[0] as number;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if ((isMax ? v > best : v < best) || Number.isNaN(best)) best = v;
    }
    return best;
  });
}

/** Range functions by name; `absent_over_time` is handled by the evaluator (it needs every series). */
export const RANGE_FUNCTIONS: ReadonlyMap<string, RangeFunction> = new Map<string, RangeFunction>([
  ['rate', (w) => extrapolatedRate(w, true, true)],
  ['increase', (w) => extrapolatedRate(w, true, false)],
  ['delta', (w) => extrapolatedRate(w, false, false)],
  ['irate', (w) => instantValue(w, true)],
  ['idelta', (w) => instantValue(w, false)],
  ['deriv', (w) => (w.values.length < 2 ? undefined : linearRegression(w, w.timestamps[0] as number)[0])],
  [
    'predict_linear',
    (w) => {
      if (w.values.length < 2) return undefined;
      const [slope, intercept] = linearRegression(w, w.evalMs);
      return slope * w.param + intercept;
    },
  ],
  ['avg_over_time', nonEmpty(kahanMean)],
  [
    'sum_over_time',
    nonEmpty((values) => {
      let sum = 0;
      let c = 0;
      for (let i = 0; i < values.length; i++) [sum, c] = kahanSumInc(values[i] as number, sum, c);
      return sum + c;
    }),
  ],
  ['count_over_time', nonEmpty((values) => values.length)],
  ['min_over_time', extreme(false)],
  ['max_over_time', extreme(true)],
  ['stdvar_over_time', nonEmpty(kahanVariance)],
  ['stddev_over_time', nonEmpty((values) => Math.sqrt(kahanVariance(values)))],
  ['last_over_time', nonEmpty((values) => values[values.length - 1] as number)],
  ['present_over_time', nonEmpty(() => 1)],
  [
    'quantile_over_time',
    (w) => (w.values.length === 0 ? undefined : quantile(w.param, Array.from(w.values))),
  ],
  [
    'changes',
    nonEmpty((values) => {
      let changes = 0;
      for (let i = 1; i < values.length; i++) {
        const prev = values[i - 1] as number;
        const cur = values[i] as number;
        if (cur !== prev && !(Number.isNaN(cur) && Number.isNaN(prev))) changes++;
      }
      return changes;
    }),
  ],
  [
    'resets',
    nonEmpty((values) => {
      let resets = 0;
      for (let i = 1; i < values.length; i++) if ((values[i] as number) < (values[i - 1] as number)) resets++;
      return resets;
    }),
  ],
]);
