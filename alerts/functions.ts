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
