/**
 * Kahan–Neumaier compensated summation, as Prometheus sums: returns the new sum and compensation;
 * the true sum is `sum + c`.
 */
export function kahanSumInc(inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc;
  if (!Number.isFinite(t) && !Number.isNaN(t)) return [t, 0];
  if (Math.abs(sum) >= Math.abs(inc)) return [t, c + (sum - t + inc)];
  return [t, c + (inc - t + sum)];
}

/** Mean by compensated summation, switching to an incremental mean if the sum would overflow. */
export function kahanMean(values: ArrayLike<number>): number {
  let sum = values[0] as number;
  let c = 0;
  let mean = 0;
  let incremental = false;
  for (let i = 1; i < values.length; i++) {
    const v = values[i] as number;
    const count = i + 1;
    if (!incremental) {
      const [s, nc] = kahanSumInc(v, sum, c);
      if (Number.isFinite(s) || Number.isNaN(s)) {
        sum = s;
        c = nc;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      c /= count - 1;
    }
    const q = (count - 1) / count;
    [mean, c] = kahanSumInc(v / count, q * mean, q * c);
  }
  return incremental ? mean + c : sum / values.length + c / values.length;
}

/** Population variance with compensated running mean (Welford), as `stdvar_over_time` computes it. */
export function kahanVariance(values: ArrayLike<number>): number {
  let count = 0;
  let mean = 0;
  let cMean = 0;
  let aux = 0;
  let cAux = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    count++;
    const delta = v - (mean + cMean);
    [mean, cMean] = kahanSumInc(delta / count, mean, cMean);
    [aux, cAux] = kahanSumInc(delta * (v - (mean + cMean)), aux, cAux);
  }
  return (aux + cAux) / count;
}

/** φ-quantile of values (0 ≤ φ ≤ 1) by linear interpolation between the closest ranks; sorts `values`. */
export function quantile(q: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  // Go's sort puts NaN first (its Less treats NaN as smallest).
  values.sort((a, b) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a - b));
  const n = values.length;
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return (values[lower] as number) * (1 - weight) + (values[upper] as number) * weight;
}
