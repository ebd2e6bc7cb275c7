import { dropMetricName, labelsKey, type Labels } from './labels.js';
import { parseGoFloat } from './floats.js';
import type { Sample } from './values.js';

interface Bucket {
  upperBound: number;
  count: number;
}

/** Differences below this relative size between adjacent buckets are float noise, not decreases. */
const SMALL_DELTA_TOLERANCE = 1e-12;
const MIN_NORMAL = 2.2250738585072014e-308;

function almostEqual(a: number, b: number, epsilon: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  const absSum = Math.abs(a) + Math.abs(b);
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || absSum < MIN_NORMAL) return diff < epsilon * MIN_NORMAL;
  return diff / Math.min(absSum, Number.MAX_VALUE) < epsilon;
}

/** The φ-quantile from cumulative classic buckets, interpolating linearly inside the bucket (Prometheus' BucketQuantile). */
export function bucketQuantile(q: number, input: Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...input].sort((a, b) => a.upperBound - b.upperBound);
  if ((sorted[sorted.length - 1] as Bucket).upperBound !== Infinity) return NaN;
  const buckets: Bucket[] = [];
  for (const b of sorted) {
    const last = buckets[buckets.length - 1];
    if (last && last.upperBound === b.upperBound) last.count += b.count;
    else buckets.push({ ...b });
  }
  let prev = (buckets[0] as Bucket).count;
  for (let i = 1; i < buckets.length; i++) {
    const bucket = buckets[i] as Bucket;
    if (bucket.count === prev) continue;
    if (almostEqual(prev, bucket.count, SMALL_DELTA_TOLERANCE) || bucket.count < prev) {
      bucket.count = prev;
      continue;
    }
    prev = bucket.count;
  }
  if (buckets.length < 2) return NaN;
  const observations = (buckets[buckets.length - 1] as Bucket).count;
  if (observations === 0) return NaN;
  let rank = q * observations;
  let b = 0;
  while (b < buckets.length - 1 && (buckets[b] as Bucket).count < rank) b++;
  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as Bucket).upperBound;
  if (b === 0 && (buckets[0] as Bucket).upperBound <= 0) return (buckets[0] as Bucket).upperBound;
  let bucketStart = 0;
  const bucketEnd = (buckets[b] as Bucket).upperBound;
  let count = (buckets[b] as Bucket).count;
  if (b > 0) {
    bucketStart = (buckets[b - 1] as Bucket).upperBound;
    count -= (buckets[b - 1] as Bucket).count;
    rank -= (buckets[b - 1] as Bucket).count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

/** `histogram_quantile(φ, v)` over classic `le` buckets: one sample per series of buckets. */
export function histogramQuantile(q: number, samples: readonly Sample[], t: number): Sample[] {
  const groups = new Map<string, { metric: Labels; buckets: Bucket[] }>();
  for (const sample of samples) {
    const le = sample.metric.le;
    const upperBound = le === undefined ? undefined : parseGoFloat(le);
    if (upperBound === undefined) continue;
    const rest: Record<string, string> = { ...sample.metric };
    delete rest.le;
    const frozen = Object.freeze(rest);
    const key = labelsKey(frozen);
    let group = groups.get(key);
    if (!group) {
      group = { metric: dropMetricName(frozen), buckets: [] };
      groups.set(key, group);
    }
    group.buckets.push({ upperBound, count: sample.value });
  }
  return [...groups.values()].map((g) => ({ metric: g.metric, value: bucketQuantile(q, g.buckets), t }));
}
