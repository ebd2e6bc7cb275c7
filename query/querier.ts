import type {
  LabelMatcher,
  Querier,
  RangeFunctionRequest,
  RangeFunctionResult,
  SelectHints,
  SeriesData,
} from './promql/storage.js';
import { alertsSeries, alertTransitions, selectsAlerts } from './alertHistory.js';
import { requireNonEmptyMatcher } from './matchers.js';
import type { SeriesRef, SeriesStore, Tier } from './store.js';
import { instantGrid, instantsAnswer, type InstantGrid } from './tierInstants.js';
import {
  planTier,
  seriesAnswer,
  tierOf,
  type SourceResolution,
  type TierPlan,
  type TierPolicy,
} from './tiers.js';

export interface QueryLimits {
  maxSeries: number;
  maxSamples: number;
}

/** What one query read, for the response's `stats` and the tier header. */
export interface ReadStats {
  /** Sources that answered, finest first (raw, 1m, 1h). */
  sources: Set<SourceResolution>;
  seriesRead: number;
  samplesRead: number;
}

/**
 * The engine's storage for one query: selectors become SQL over `series` and `samples`, range
 * functions go to a tier when `planTier` says it answers them (see query/tiers.ts). The tenant
 * (if any) is one more matcher on every selector, so a tenant sees only its series. Limits are
 * counted over the whole query; the abort signal carries the query's timeout.
 */
export class ClickHouseQuerier implements Querier {
  readonly warnings: string[] = [];
  readonly stats: ReadStats = { sources: new Set(), seriesRead: 0, samplesRead: 0 };

  constructor(
    private readonly store: SeriesStore,
    private readonly options: {
      limits: QueryLimits;
      tier: TierPolicy;
      /** The `tenant` label value the caller's token selects; undefined when tenants are off. */
      tenant?: string;
      signal?: AbortSignal;
    },
  ) {}

  /** Series of the selectors, with the tenant's matcher added. */
  async findSeries(matchers: readonly LabelMatcher[], startMs: number, endMs: number): Promise<SeriesRef[]> {
    requireNonEmptyMatcher(matchers);
    const { maxSeries } = this.options.limits;
    const series = await this.store.series(
      [this.scoped(matchers)],
      startMs,
      endMs,
      { value: maxSeries - this.stats.seriesRead, name: 'query.maxSeries' },
      this.options.signal,
    );
    this.stats.seriesRead += series.length;
    return series;
  }

  scoped(matchers: readonly LabelMatcher[]): LabelMatcher[] {
    const tenant = this.options.tenant;
    return tenant === undefined ? [...matchers] : [...matchers, { name: 'tenant', type: '=', value: tenant }];
  }

  async select(matchers: LabelMatcher[], hints: SelectHints): Promise<SeriesData[]> {
    if (selectsAlerts(matchers)) {
      const transitions = await alertTransitions(
        this.store.reader,
        {
          fromMs: hints.startMs,
          toMs: hints.endMs,
          withOpen: true,
          tenant: this.options.tenant,
          limit: this.options.limits.maxSamples,
        },
        this.options.signal,
      );
      return alertsSeries(transitions, matchers, hints.startMs, hints.endMs);
    }
    const series = await this.findSeries(matchers, hints.startMs, hints.endMs);
    const rawStart = this.options.tier.nowMs - this.options.tier.rawRetentionMs;
    if (hints.startMs < rawStart && series.length > 0)
      this.warn(
        `samples older than the raw retention (${this.options.tier.rawRetentionMs / 86_400_000} d) are not kept; ` +
          'avg/min/max/sum/count/last_over_time, rate and increase over them are answered from the 1m and 1h tiers',
      );
    const samples = await this.store.samples(
      series,
      hints.startMs,
      hints.endMs,
      this.options.limits.maxSamples - this.stats.samplesRead,
      this.options.signal,
    );
    this.stats.sources.add('raw');
    return series.map((s) => {
      const data = samples.get(s.id) ?? { timestamps: [], values: [] };
      this.stats.samplesRead += data.timestamps.length;
      return {
        labels: { ...s.labels, __name__: s.metric },
        timestamps: Float64Array.from(data.timestamps),
        values: Float64Array.from(data.values),
      };
    });
  }

  async rangeFunction(request: RangeFunctionRequest): Promise<RangeFunctionResult | undefined> {
    if (selectsAlerts(request.matchers)) return undefined;
    const plan = planTier(request, this.options.tier);
    if (!plan) return undefined;
    const first = request.times[0] as number;
    const last = request.times[request.times.length - 1] as number;
    const series = await this.findSeries(request.matchers, first - request.rangeMs, last);
    const answer = await this.fromTier(request, plan, series);
    if (answer) return answer;
    // Not exact after all (a boundary sample was a window's extreme): raw samples answer.
    this.stats.seriesRead -= series.length;
    return undefined;
  }

  private async fromTier(
    request: RangeFunctionRequest,
    plan: TierPlan,
    series: readonly SeriesRef[],
  ): Promise<RangeFunctionResult | undefined> {
    const size = tierOf(this.options.tier, plan.tier).sizeMs;
    const first = request.times[0] as number;
    const last = request.times[request.times.length - 1] as number;
    const from = Math.floor((first - request.rangeMs) / size) * size;
    const grid = instantGrid(request.times);
    if (grid) return this.fromTierInstants(request, plan, series, grid, from, last);
    const windows = await this.store.windows(
      plan.tier,
      series,
      from,
      last,
      plan.columns,
      this.options.limits.maxSamples - this.stats.samplesRead,
      this.options.signal,
    );
    const boundaries = plan.exact ? await this.boundarySamples(request, series) : undefined;
    return this.tierResult(request, plan, series, (s) => {
      const rows = windows.get(s.id) ?? [];
      this.stats.samplesRead += rows.length;
      return seriesAnswer(request, plan, size, rows, boundaries?.get(s.id));
    });
  }

  /** As `fromTier`, with the windows combined per instant inside ClickHouse (evenly spaced instants). */
  private async fromTierInstants(
    request: RangeFunctionRequest,
    plan: TierPlan,
    series: readonly SeriesRef[],
    grid: InstantGrid,
    fromMs: number,
    toMs: number,
  ): Promise<RangeFunctionResult | undefined> {
    const [instants, boundaries] = await Promise.all([
      this.store.instants(
        plan,
        request,
        grid,
        tierOf(this.options.tier, plan.tier).sizeMs,
        series,
        fromMs,
        toMs,
        this.options.limits.maxSamples - this.stats.samplesRead,
        this.options.signal,
      ),
      plan.exact ? this.boundarySamples(request, series) : undefined,
    ]);
    this.stats.samplesRead += instants.windowsRead;
    return this.tierResult(request, plan, series, (s) =>
      instantsAnswer(request, instants.rows.get(s.id), boundaries?.get(s.id)),
    );
  }

  /**
   * The series' answers from a tier (undefined as soon as one series cannot be answered exactly
   * there: the caller reads raw samples instead); series without a value at any instant are left out.
   */
  private tierResult(
    request: RangeFunctionRequest,
    plan: TierPlan,
    series: readonly SeriesRef[],
    answer: (s: SeriesRef) => Float64Array | undefined,
  ): RangeFunctionResult | undefined {
    const out: RangeFunctionResult = { series: [] };
    for (const s of series) {
      const values = answer(s);
      if (!values) return undefined;
      if (values.every((v) => Number.isNaN(v))) continue;
      const labels: Record<string, string> = { ...s.labels };
      if (request.func === 'last_over_time') labels.__name__ = s.metric;
      out.series.push({ labels, values });
    }
    this.stats.sources.add(plan.tier);
    if (plan.approximation) this.warn(plan.approximation);
    return out;
  }

  /** Raw samples exactly at the boundary instants (t-range and t) of every series, by series and time. */
  private async boundarySamples(
    request: RangeFunctionRequest,
    series: readonly SeriesRef[],
  ): Promise<Map<string, Map<number, number>>> {
    const times = new Set<number>();
    for (const t of request.times) {
      times.add(t);
      times.add(t - request.rangeMs);
    }
    const out = new Map<string, Map<number, number>>();
    const points = await this.store.samplesAt(series, [...times], this.options.signal);
    for (const [id, at] of points) out.set(id, at);
    return out;
  }

  private warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }
}

/** The tier header and `stats` value: the sources that answered, finest first, e.g. `raw`, `1m`, `raw,1h`. */
export function sourcesText(sources: ReadonlySet<SourceResolution>, tiers: readonly Tier[]): string {
  const order: SourceResolution[] = ['raw', ...tiers];
  const used = order.filter((s) => sources.has(s));
  return used.length > 0 ? used.join(',') : 'none';
}

export type { Tier };
