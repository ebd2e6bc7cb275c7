import type { RangeFunctionRequest } from './promql/storage.js';
import type { Tier, TierColumn, WindowRow } from './store.js';

/** Where a query's samples come from; `max_source_resolution` names the same (Thanos' parameter). */
export type SourceResolution = 'raw' | Tier;

/** A configured tier as the query service chooses among them. */
export interface QueryTier {
  name: Tier;
  sizeMs: number;
  retentionMs: number;
  /**
   * How long after a window's end its result is final (out-of-orderness, grace, allowed
   * lateness, sink flush): windows ending later than `now` minus this are not used.
   */
  settleMs: number;
}

/** What decides the tier of a range function: the clock, the retentions, the tiers and a forced choice. */
export interface TierPolicy {
  nowMs: number;
  rawRetentionMs: number;
  /** The configured tiers (`tiers`), finest first. */
  tiers: ReadonlyArray<QueryTier>;
  /** `max_source_resolution`: raw = never a tier; a tier's name = that tier for every function it can answer. */
  forced?: SourceResolution;
}

/** The configured tier of that name. */
export function tierOf(policy: TierPolicy, name: Tier): QueryTier {
  const tier = policy.tiers.find((t) => t.name === name);
  if (!tier) throw new Error(`tier ${name} is not configured`);
  return tier;
}

/** The columns each function reads from a tier, and whether the tier can answer it exactly. */
const FUNCTIONS: Record<string, { columns: TierColumn[]; exact: boolean }> = {
  count_over_time: { columns: ['count'], exact: true },
  sum_over_time: { columns: ['count', 'sum'], exact: true },
  avg_over_time: { columns: ['count', 'sum'], exact: true },
  min_over_time: { columns: ['count', 'min'], exact: true },
  max_over_time: { columns: ['count', 'max'], exact: true },
  last_over_time: { columns: ['count', 'last'], exact: true },
  rate: { columns: ['count', 'first', 'last', 'increase'], exact: false },
  increase: { columns: ['count', 'first', 'last', 'increase'], exact: false },
  quantile_over_time: { columns: ['count', 'p50', 'p90', 'p99'], exact: false },
};

const QUANTILE_COLUMN: Record<string, TierColumn> = { '0.5': 'p50', '0.9': 'p90', '0.99': 'p99' };

/** A decision to answer from a tier: which, how (exact with boundary corrections, or approximated), and why. */
export interface TierPlan {
  tier: Tier;
  columns: TierColumn[];
  /** Exact: the range and instants are aligned to the tier's windows; boundary samples are corrected from raw. */
  exact: boolean;
  /** For the response's `warnings` when not exact. */
  approximation?: string;
}

/**
 * Chooses the tier for `fn(selector[range])` at `times`, or undefined for raw samples.
 *
 * Exact answers (a step of a minute or more, within raw retention): the range must be a whole
 * number of windows and every instant a window start, so that Prometheus' range (t-range, t]
 * and the windows [s, s+size) that cover [t-range, t) differ only at the two boundary instants
 * t-range and t; those raw samples are read and corrected for (`exactAnswer`). The coarsest
 * aligned tier wins; windows not yet final (newer than `settleMs`) are never used.
 *
 * Beyond raw retention (or forced) a tier answers what it can and says what it approximated.
 */
export function planTier(req: RangeFunctionRequest, policy: TierPolicy): TierPlan | undefined {
  const spec = FUNCTIONS[req.func];
  if (!spec || req.times.length === 0 || policy.forced === 'raw') return undefined;
  const first = req.times[0] as number;
  const last = req.times[req.times.length - 1] as number;
  const step = req.times.length > 1 ? (req.times[1] as number) - first : 0;
  let columns = spec.columns;
  if (req.func === 'quantile_over_time') {
    const column = QUANTILE_COLUMN[String(req.param)];
    if (!column) return undefined;
    columns = ['count', column];
  }
  const aligned = ({ sizeMs }: QueryTier) =>
    req.rangeMs % sizeMs === 0 && req.rangeMs > 0 && req.times.every((t) => t % sizeMs === 0);
  const settled = (tier: QueryTier) => last <= policy.nowMs - tier.settleMs;
  const approximated = (tier: QueryTier): TierPlan => ({
    tier: tier.name,
    columns,
    exact: false,
    approximation: approximationNote(req, tier.name, tier.sizeMs, spec.exact && aligned(tier)),
  });
  // Finest first; the windows of a coarser tier are whole numbers of a finer one's.
  const bySize = [...policy.tiers].sort((a, b) => a.sizeMs - b.sizeMs);
  if (bySize.length === 0) return undefined;

  const forced = policy.tiers.find((t) => t.name === policy.forced);
  if (forced)
    return spec.exact && aligned(forced) ? { tier: forced.name, columns, exact: true } : approximated(forced);
  const beyondRaw = first - req.rangeMs < policy.nowMs - policy.rawRetentionMs;
  if (beyondRaw) {
    // The finest tier that still holds the range's start, else the one that keeps the longest.
    const tier =
      bySize.find((t) => first - req.rangeMs >= policy.nowMs - t.retentionMs) ??
      [...bySize].sort((a, b) => b.retentionMs - a.retentionMs || b.sizeMs - a.sizeMs)[0];
    // Boundary samples are gone with the raw data: even an aligned range is then approximate.
    return approximated(tier as QueryTier);
  }
  // One instant (an instant query, or the newest chunk's part of a range query) is as exact as a
  // step of them; steps under the finest tier's windows stay on raw samples.
  if (!spec.exact || (req.times.length > 1 && step < (bySize[0] as QueryTier).sizeMs)) return undefined;
  // The coarsest aligned tier wins: fewest windows to read.
  for (const tier of [...bySize].reverse())
    if (aligned(tier) && settled(tier)) return { tier: tier.name, columns, exact: true };
  return undefined;
}

function approximationNote(req: RangeFunctionRequest, tier: Tier, size: number, aligned: boolean): string {
  const what = `${req.func}(…[${req.rangeMs / 1000}s]) answered from samples_${tier}`;
  if (req.func === 'rate' || req.func === 'increase')
    return `${what}: counter increases of whole ${size / 1000}s windows, without Prometheus' extrapolation to the range boundaries`;
  if (req.func === 'quantile_over_time')
    return `${what}: the windows' sketch quantiles (relative error about 1%), combined across windows by their sample counts`;
  return aligned
    ? `${what}: raw samples at the range boundaries are no longer kept, so a sample exactly at t-range may be counted and one at t missed`
    : `${what}: the range was rounded to whole ${size / 1000}s windows (up to ${size / 1000}s earlier than asked)`;
}

/** A boundary sample read from raw: the value of a series exactly at an instant, if any. */
export type BoundarySamples = Map<number, number>;

/**
 * `fn` at each of `times` from one series' windows (ascending by start). With `boundaries`
 * (exact plans) the windows cover [t-range, t): the sample at t-range is taken out and the one
 * at t put in. Returns undefined when a value cannot be made exact (the sample taken out was
 * the window's min or max): the caller falls back to raw samples.
 */
export function seriesAnswer(
  req: RangeFunctionRequest,
  plan: TierPlan,
  size: number,
  windows: readonly WindowRow[],
  boundaries: BoundarySamples | undefined,
): Float64Array | undefined {
  const out = new Float64Array(req.times.length).fill(Number.NaN);
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < req.times.length; i++) {
    const t = req.times[i] as number;
    // Windows of the range: starts in [t-range, t) when aligned; otherwise rounded down to windows.
    const from = plan.exact ? t - req.rangeMs : Math.floor((t - req.rangeMs) / size) * size;
    const to = plan.exact ? t : Math.floor(t / size) * size;
    while (lo < windows.length && (windows[lo] as WindowRow).start < from) lo++;
    if (hi < lo) hi = lo;
    while (hi < windows.length && (windows[hi] as WindowRow).start < to) hi++;
    const inRange = windows.slice(lo, hi).filter((w) => (w.values.count ?? 0) > 0);
    const removed = boundaries?.get(t - req.rangeMs);
    const added = boundaries?.get(t);
    const value = combine(req, inRange, removed, added);
    if (value === null) return undefined;
    out[i] = value;
  }
  return out;
}

/** One instant's value, NaN for none, null when it cannot be made exact. */
function combine(
  req: RangeFunctionRequest,
  windows: readonly WindowRow[],
  removed: number | undefined,
  added: number | undefined,
): number | null {
  const v = (w: WindowRow, c: TierColumn) => w.values[c] as number;
  let count = 0;
  for (const w of windows) count += v(w, 'count');
  if (removed !== undefined) count -= 1;
  if (added !== undefined) count += 1;
  if (count <= 0) return Number.NaN;
  switch (req.func) {
    case 'count_over_time':
      return count;
    case 'sum_over_time':
    case 'avg_over_time': {
      let sum = 0;
      for (const w of windows) sum += v(w, 'sum');
      if (removed !== undefined) sum -= removed;
      if (added !== undefined) sum += added;
      return req.func === 'sum_over_time' ? sum : sum / count;
    }
    case 'min_over_time':
    case 'max_over_time': {
      const column = req.func === 'min_over_time' ? 'min' : 'max';
      const pick = column === 'min' ? Math.min : Math.max;
      let best = column === 'min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      let bestOfOthers = best;
      windows.forEach((w, i) => {
        best = pick(best, v(w, column));
        if (i > 0) bestOfOthers = pick(bestOfOthers, v(w, column));
      });
      const head = windows[0];
      if (removed !== undefined && head !== undefined && v(head, column) === removed) {
        // The sample taken out (at the first window's start) was that window's extreme.
        if (v(head, 'count') === 1) best = bestOfOthers;
        // Another window reaches it anyway: the extreme stands. Otherwise the first window's
        // next best is unknown, and only raw samples can tell.
        else if (pick(bestOfOthers, removed) !== bestOfOthers) return null;
      }
      if (added !== undefined) best = pick(best, added);
      return best;
    }
    case 'last_over_time': {
      if (added !== undefined) return added;
      const lastWindow = windows[windows.length - 1] as WindowRow;
      // A window holding only the removed boundary sample has no sample left in the range.
      if (removed !== undefined && windows.length === 1 && v(lastWindow, 'count') === 1) return Number.NaN;
      return v(lastWindow, 'last');
    }
    case 'rate':
    case 'increase': {
      let increase = 0;
      let previous: number | undefined;
      for (const w of windows) {
        increase += v(w, 'increase');
        if (previous !== undefined) {
          const first = v(w, 'first');
          increase += first >= previous ? first - previous : first;
        }
        previous = v(w, 'last');
      }
      return req.func === 'rate' ? increase / (req.rangeMs / 1000) : increase;
    }
    case 'quantile_over_time': {
      const column = QUANTILE_COLUMN[String(req.param)] as TierColumn;
      let weighted = 0;
      let n = 0;
      for (const w of windows) {
        weighted += v(w, column) * v(w, 'count');
        n += v(w, 'count');
      }
      return n > 0 ? weighted / n : Number.NaN;
    }
  }
  return Number.NaN;
}
