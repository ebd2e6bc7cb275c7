import type { RangeFunctionRequest } from './promql/storage.js';
import type { TierColumn } from './store.js';
import type { BoundarySamples, TierPlan } from './tiers.js';

/**
 * Per-instant combination of tier windows inside ClickHouse: the rows that reach JavaScript are
 * series × instants, not series × windows (a 30-day range over the 1m tier is 43,200 windows a
 * series). The windows of instant t are those `seriesAnswer` (query/tiers.ts) takes — starts in
 * [t-range, t) when exact, else rounded down to whole windows — and the boundary corrections
 * stay in JavaScript (`instantValue`), so answers are those of `seriesAnswer`.
 */

/** Evaluation instants first + i·step, i < n; undefined when `times` are not evenly spaced. */
export interface InstantGrid {
  first: number;
  step: number;
  n: number;
}

export function instantGrid(times: readonly number[]): InstantGrid | undefined {
  const first = times[0];
  if (first === undefined) return undefined;
  // One instant: any positive step gives the same window set.
  const step = times.length > 1 ? (times[1] as number) - first : 1;
  if (step <= 0 || !times.every((t, i) => t === first + i * step)) return undefined;
  return { first, step, n: times.length };
}

/** The aggregates a function needs per instant, over the windows (count > 0) of its range. */
function aggregates(req: RangeFunctionRequest, plan: TierPlan): string[] {
  // A window is the head (first of the instant's windows) when the one before it is out of range.
  const head = 'i > prev_hi';
  switch (req.func) {
    case 'sum_over_time':
    case 'avg_over_time':
      return ['sum(w_sum)'];
    case 'min_over_time':
      return ['min(w_min)', `anyIf(w_min, ${head})`, `anyIf(c, ${head})`, `minIf(w_min, NOT (${head}))`];
    case 'max_over_time':
      return ['max(w_max)', `anyIf(w_max, ${head})`, `anyIf(c, ${head})`, `maxIf(w_max, NOT (${head}))`];
    case 'last_over_time':
      return ['argMax(w_last, start)', 'argMax(c, start)'];
    case 'rate':
    case 'increase':
      // A window's jump from the previous window's last counts only when that window is in range too.
      return [`sum(w_increase) + sumIf(jump, NOT (${head}))`];
    case 'quantile_over_time': {
      const column = plan.columns.find((c) => c !== 'count') as TierColumn;
      return [`sum(w_${column} * c)`];
    }
  }
  return [];
}

/**
 * The statement: the windows of the final versions (FINAL of the ReplacingMergeTree(count);
 * free on a partition that is one merged part, as every closed partition becomes, with
 * `do_not_merge_across_partitions_select_final`), each joined to the instants whose range holds
 * it, then grouped by series and instant index `i`. Window functions (a window's predecessor)
 * only for the functions that need them. Columns: series id, i, windows, count, the function's
 * aggregates, and the windows read (each window weighs 1 / the instants it joins).
 */
export function instantsSql(
  table: string,
  req: RangeFunctionRequest,
  plan: TierPlan,
  timeFilter: string,
): string {
  const columns = plan.columns.filter((c) => c !== 'count');
  const selected = columns.map((c) => `\`${c}\` AS w_${c}`);
  // Instant i (t = first + i·step) holds window s when t in (s, s+range] (exact: starts in
  // [t-range, t)); else when t in [s+size, s+size+range) (starts in [⌊(t-range)/size⌋, ⌊t/size⌋)).
  const bounds = plan.exact
    ? `toInt64(floor((start - {first:Int64}) / {step:Int64})) + 1 AS lo,
       toInt64(floor((start + {range:Int64} - {first:Int64}) / {step:Int64})) AS hi`
    : `toInt64(ceil((start + {size:Int64} - {first:Int64}) / {step:Int64})) AS lo,
       toInt64(ceil((start + {size:Int64} + {range:Int64} - {first:Int64}) / {step:Int64})) - 1 AS hi`;
  const previous = (expr: string, fallback: string) =>
    `lagInFrame(${expr}, 1, ${fallback}) OVER (PARTITION BY series_id ORDER BY start ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)`;
  const aggs = aggregates(req, plan);
  const needsHead = aggs.some((a) => a.includes('prev_hi'));
  const counter = req.func === 'rate' || req.func === 'increase';
  const derived = [
    ...(needsHead ? [`${previous('hi', 'toInt64(-1)')} AS prev_hi`] : []),
    ...(counter
      ? [
          `if(w_first >= ${previous('w_last', 'toFloat64(0)')}, w_first - ${previous('w_last', 'toFloat64(0)')}, w_first) AS jump`,
        ]
      : []),
  ];
  const from = 'toUInt32(greatest(lo, 0))';
  const to = 'toUInt32(greatest(least(hi, {n:Int64} - 1) + 1, greatest(lo, 0)))';
  // A step of the range or more puts a window under one instant at most: no array per window.
  const joined = oneInstantEach(req, plan)
    ? `SELECT *, lo AS i, 1 AS weight FROM (`
    : `SELECT *, arrayJoin(range(${from}, ${to})) AS i, 1 / (${to} - ${from}) AS weight FROM (`;
  return `SELECT toString(series_id), i, count(), sum(c), ${[...aggs, 'sum(weight)'].join(', ')}
    FROM (
      ${joined}
        SELECT *${derived.length ? ', ' : ''}${derived.join(', ')}
        FROM (
          SELECT series_id, toUnixTimestamp64Milli(ts) AS start, \`count\` AS c${selected.length ? ', ' : ''}${selected.join(', ')}, ${bounds}
          FROM ${table} FINAL
          WHERE ${timeFilter}
        )
        WHERE c > 0
      )
      ${oneInstantEach(req, plan) ? 'WHERE lo <= hi AND lo >= 0 AND lo < {n:Int64}' : ''}
    )
    GROUP BY series_id, i
    SETTINGS do_not_merge_across_partitions_select_final = 1`;
}

/**
 * Whether each window falls under one instant at most (lo = hi, or none when lo > hi): exact
 * windows (starts in [t-range, t)) at a step of the range or more.
 */
function oneInstantEach(req: RangeFunctionRequest, plan: TierPlan): boolean {
  // One instant is evaluated on a grid of step 1 (see instantGrid): the general join then.
  if (req.times.length < 2) return false;
  return plan.exact && (req.times[1] as number) - (req.times[0] as number) >= req.rangeMs;
}

/** One instant's aggregates as read (numbers; NaN where ClickHouse gave none). */
export interface InstantRow {
  windows: number;
  count: number;
  /** The function's aggregates, in `aggregates` order. */
  values: number[];
}

/**
 * `fn` at one instant from its aggregates (undefined: no window in range) and boundary
 * samples: the arithmetic of `combine` in query/tiers.ts on the combined windows. NaN for
 * none, null when it cannot be made exact.
 */
export function instantValue(
  req: RangeFunctionRequest,
  row: InstantRow | undefined,
  removed: number | undefined,
  added: number | undefined,
): number | null {
  let count = row?.count ?? 0;
  if (removed !== undefined) count -= 1;
  if (added !== undefined) count += 1;
  if (count <= 0) return Number.NaN;
  const a = (k: number) => row?.values[k] as number;
  switch (req.func) {
    case 'count_over_time':
      return count;
    case 'sum_over_time':
    case 'avg_over_time': {
      let sum = row ? a(0) : 0;
      if (removed !== undefined) sum -= removed;
      if (added !== undefined) sum += added;
      return req.func === 'sum_over_time' ? sum : sum / count;
    }
    case 'min_over_time':
    case 'max_over_time': {
      const pick = req.func === 'min_over_time' ? Math.min : Math.max;
      const none = req.func === 'min_over_time' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      let best = row ? a(0) : none;
      if (removed !== undefined && row) {
        const bestOfOthers = row.windows > 1 ? a(3) : none;
        if (a(1) === removed) {
          if (a(2) === 1) best = bestOfOthers;
          else if (pick(bestOfOthers, removed) !== bestOfOthers) return null;
        }
      }
      if (added !== undefined) best = pick(best, added);
      return best;
    }
    case 'last_over_time': {
      if (added !== undefined) return added;
      if (!row) return Number.NaN;
      if (removed !== undefined && row.windows === 1 && a(1) === 1) return Number.NaN;
      return a(0);
    }
    case 'rate':
    case 'increase': {
      const increase = row ? a(0) : 0;
      return req.func === 'rate' ? increase / (req.rangeMs / 1000) : increase;
    }
    case 'quantile_over_time':
      return row ? a(0) / row.count : Number.NaN;
  }
  return Number.NaN;
}

/** `fn` at every instant of one series; undefined when one cannot be made exact. */
export function instantsAnswer(
  req: RangeFunctionRequest,
  rows: ReadonlyMap<number, InstantRow> | undefined,
  boundaries: BoundarySamples | undefined,
): Float64Array | undefined {
  const out = new Float64Array(req.times.length);
  for (let i = 0; i < req.times.length; i++) {
    const t = req.times[i] as number;
    const value = instantValue(req, rows?.get(i), boundaries?.get(t - req.rangeMs), boundaries?.get(t));
    if (value === null) return undefined;
    out[i] = value;
  }
  return out;
}
