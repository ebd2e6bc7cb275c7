import { compileRegex } from './regex.js';
import type { LabelMatcher, Querier, SelectHints, SeriesData } from './storage.js';

/** Whether a label value (empty when absent) satisfies a matcher. */
export function matches(matcher: LabelMatcher, value: string): boolean {
  switch (matcher.type) {
    case '=':
      return value === matcher.value;
    case '!=':
      return value !== matcher.value;
    case '=~':
      return compileRegex(matcher.value).test(value);
    case '!~':
      return !compileRegex(matcher.value).test(value);
  }
}

/** Series from memory that match every matcher, cut to the hinted time span. */
export function selectSeries(
  series: readonly SeriesData[],
  matchers: LabelMatcher[],
  hints?: SelectHints,
): SeriesData[] {
  const out: SeriesData[] = [];
  for (const s of series) {
    if (!matchers.every((m) => matches(m, s.labels[m.name] ?? ''))) continue;
    if (!hints) {
      out.push(s);
      continue;
    }
    let lo = 0;
    while (lo < s.timestamps.length && (s.timestamps[lo] as number) < hints.startMs) lo++;
    let hi = lo;
    while (hi < s.timestamps.length && (s.timestamps[hi] as number) <= hints.endMs) hi++;
    if (hi > lo)
      out.push({
        labels: s.labels,
        timestamps: s.timestamps.subarray(lo, hi),
        values: s.values.subarray(lo, hi),
      });
  }
  return out;
}

/** A `Querier` over series held in memory: the unit tests', the compatibility harness', the alert rules'. */
export class MemoryQuerier implements Querier {
  constructor(private readonly series: readonly SeriesData[]) {}

  select(matchers: LabelMatcher[], hints: SelectHints): Promise<SeriesData[]> {
    return Promise.resolve(selectSeries(this.series, matchers, hints));
  }
}
