import type { Labels, MatrixSeries } from './api.js';

/** A range query's matrix on one time axis, as uPlot takes it: x in unix seconds, gaps as null. */
export interface AlignedSeries {
  x: number[];
  series: Array<{ label: string; values: Array<number | null> }>;
}

/** `name{a="1", b="2"}`, as Prometheus prints a series. */
export function seriesLabel(metric: Labels): string {
  const { __name__: name = '', ...rest } = metric;
  const pairs = Object.keys(rest)
    .sort()
    .map((key) => `${key}=${JSON.stringify(rest[key])}`);
  return pairs.length === 0 && name !== '' ? name : `${name}{${pairs.join(', ')}}`;
}

/** A sample value as Prometheus writes it ("1.5", "NaN", "+Inf"); null where a line cannot go. */
function parseValue(text: string): number | null {
  const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  return Number.isFinite(value) ? value : null;
}

/**
 * Puts every series on the query's evaluation grid (start, start + step, … ≤ end): a range
 * query's points fall on it, and a step without a point (no sample in the lookback) stays a gap.
 */
export function alignSeries(
  matrix: MatrixSeries[],
  range: { start: number; end: number; step: number },
): AlignedSeries {
  const points = Math.floor((range.end - range.start) / range.step) + 1;
  const x = Array.from({ length: points }, (_, i) => range.start + i * range.step);
  const series = matrix.map(({ metric, values }) => {
    const column: Array<number | null> = new Array<number | null>(points).fill(null);
    for (const [t, v] of values) {
      const i = Math.round((t - range.start) / range.step);
      if (i >= 0 && i < points) column[i] = parseValue(v);
    }
    return { label: seriesLabel(metric), values: column };
  });
  return { x, series };
}

const SI: Array<[number, string]> = [
  [1e15, 'P'],
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** A value short enough for an axis or the legend: 4.2G, 35.5, 0.0123. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const abs = Math.abs(value);
  for (const [size, suffix] of SI) {
    if (abs >= size) return `${Number((value / size).toPrecision(4))}${suffix}`;
  }
  return String(Number(value.toPrecision(4)));
}
