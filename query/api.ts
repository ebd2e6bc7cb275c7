import type { Config } from '../core/config.js';
import { alertTransitions } from './alertHistory.js';
import { badData } from './errors.js';
import type { PromqlEvaluator, ResultData } from './evaluator.js';
import type { QueryMetrics } from './metrics.js';
import { parseDurationParam, parseLimit, type Params } from './params.js';
import { ClickHouseQuerier, sourcesText } from './querier.js';
import { cachedRange, type ChunkResult } from './rangeQuery.js';
import type { ResultsCache } from './resultsCache.js';
import type { SeriesRef, SeriesStore } from './store.js';
import type { SourceResolution, TierPolicy } from './tiers.js';
import { sourceTier, type TierConfig } from '../core/tiers.js';
import type { LabelMatcher } from './promql/storage.js';

/** A successful answer: Prometheus' `data`, its `warnings`, and headers of ours (the tier used). */
export interface ApiAnswer {
  data: unknown;
  warnings?: string[];
  headers?: Record<string, string>;
}

/** Who is asking: the tenant their bearer token selects (undefined with tenants off). */
export interface Caller {
  tenant?: string;
}

const MIN_MS = 0;
const MAX_MS = 8.64e12;

/**
 * Prometheus' HTTP API v1 read endpoints over the ClickHouse tiers: parameters parsed and
 * checked as Prometheus does, with its messages; evaluation by the PromQL engine over a
 * `ClickHouseQuerier` per query; range queries through the results cache.
 */
export class QueryApi {
  constructor(
    private readonly deps: {
      config: Config;
      store: SeriesStore;
      evaluator: PromqlEvaluator;
      cache: ResultsCache<ChunkResult>;
      metrics: QueryMetrics;
      now: () => number;
      version: string;
    },
  ) {}

  /** The configured tiers' names, finest first. */
  private tierNames(): string[] {
    return this.deps.config.tiers.map((t) => t.name);
  }

  tierPolicy(nowMs: number, forced: SourceResolution | undefined): TierPolicy {
    const { windows, retention, sink, tiers } = this.deps.config;
    // A tier's results settle after its own grace and lateness and those of the tiers below it.
    const settle = (t: TierConfig): number => {
      const source = sourceTier(tiers, t);
      const own = t.graceMs + t.allowedLatenessMs;
      return source ? own + settle(source) : windows.outOfOrdernessMs + own + sink.maxMs + 60_000;
    };
    return {
      nowMs,
      rawRetentionMs: retention.rawDays * 86_400_000,
      tiers: tiers.map((t) => ({
        name: t.name,
        sizeMs: t.sizeMs,
        retentionMs: t.retentionDays * 86_400_000,
        settleMs: settle(t),
      })),
      forced,
    };
  }

  private querier(caller: Caller, nowMs: number, forced: SourceResolution | undefined, signal: AbortSignal) {
    const { maxSeries, maxSamples } = this.deps.config.query;
    return new ClickHouseQuerier(this.deps.store, {
      limits: { maxSeries, maxSamples },
      tier: this.tierPolicy(nowMs, forced),
      tenant: caller.tenant,
      signal,
    });
  }

  async query(p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    const expr = p.required('query');
    const now = this.deps.now();
    const time = p.time('time', now);
    const forced = sourceResolution(p, this.tierNames());
    const lookbackDeltaMs = lookbackDelta(p);
    this.deps.evaluator.check(expr);
    const querier = this.querier(caller, now, forced, signal);
    const { data, warnings } = await this.deps.evaluator.instant(expr, time, querier, {
      lookbackDeltaMs,
      deadlineMs: this.deadline(p),
      signal,
    });
    return this.answer(data, querier.stats.sources, warnings, {
      seriesRead: querier.stats.seriesRead,
      samplesRead: querier.stats.samplesRead,
    });
  }

  async queryRange(p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    const expr = p.required('query');
    const startMs = p.time('start', Number.NaN);
    const endMs = p.time('end', Number.NaN);
    if (Number.isNaN(startMs)) throw badData('invalid parameter "start": missing');
    if (Number.isNaN(endMs)) throw badData('invalid parameter "end": missing');
    if (endMs < startMs)
      throw badData('invalid parameter "end": end timestamp must not be before start time');
    const stepText = p.required('step');
    const stepMs = parseDurationParam('step', stepText);
    if (stepMs <= 0)
      throw badData(
        'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
      );
    const { maxPoints } = this.deps.config.query;
    if ((endMs - startMs) / stepMs > maxPoints)
      throw badData(
        `exceeded maximum resolution of ${maxPoints.toLocaleString('en-US')} points per timeseries. Try decreasing the query resolution (?step=XX)`,
      );
    const forced = sourceResolution(p, this.tierNames());
    const lookbackDeltaMs = lookbackDelta(p);
    this.deps.evaluator.check(expr);
    const now = this.deps.now();
    const policy = this.tierPolicy(now, forced);
    const answer = await cachedRange({
      evaluator: this.deps.evaluator,
      expr,
      range: { startMs, endMs, stepMs },
      keyPrefix: JSON.stringify([caller.tenant ?? '', forced ?? '', lookbackDeltaMs ?? 0]),
      cache: this.deps.cache,
      newQuerier: () => this.querier(caller, now, forced, signal),
      nowMs: now,
      // A forced tier reads its windows even before they are final (planTier skips the check):
      // a chunk is cached only once those are.
      settledMs: now - settleOf(policy, forced),
      maxPoints,
      eval: { lookbackDeltaMs, deadlineMs: this.deadline(p), signal },
    });
    return this.answer({ resultType: 'matrix', result: answer.result }, answer.sources, answer.warnings, {
      chunksCached: answer.chunks.cached,
      chunksComputed: answer.chunks.computed,
    });
  }

  /** When evaluation must stop: the request's `timeout`, capped by the configured one, from now. */
  private deadline(p: Params): number {
    return Date.now() + p.timeout(this.deps.config.query.timeoutMs);
  }

  private answer(
    data: ResultData,
    sources: ReadonlySet<SourceResolution>,
    warnings: string[],
    extra: Record<string, number>,
  ): ApiAnswer {
    const used = sourcesText(sources, this.tierNames());
    for (const s of sources) this.deps.metrics.sources.inc({ source: s });
    return {
      data: { ...data, stats: { sourceResolution: used, ...extra } },
      warnings: warnings.length > 0 ? warnings : undefined,
      headers: { 'X-Source-Resolution': used },
    };
  }

  async series(p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    const sets = this.matcherSets(p, true);
    const { startMs, endMs } = timeRange(p);
    const limit = parseLimit(p.get('limit'));
    const querier = this.querier(caller, this.deps.now(), undefined, signal);
    const scoped = sets.map((s) => querier.scoped(s));
    const { maxSeries } = this.deps.config.query;
    if (limit > 0) {
      // A limit above query.maxSeries pages at that bound: truncated with the warning, as a
      // smaller limit is, rather than refused.
      const page = await this.deps.store.seriesPage(
        scoped,
        startMs,
        endMs,
        Math.min(limit, maxSeries),
        signal,
      );
      return {
        data: page.series.map(labelSet),
        warnings: page.truncated ? ['results truncated due to limit'] : undefined,
      };
    }
    const found = await this.deps.store.series(
      scoped,
      startMs,
      endMs,
      { value: maxSeries, name: 'query.maxSeries' },
      signal,
    );
    return { data: found.map(labelSet) };
  }

  async labels(p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    const sets = this.scopedSets(p, caller);
    const { startMs, endMs } = timeRange(p);
    const limit = parseLimit(p.get('limit'));
    const names = await this.deps.store.labelNames(sets, startMs, endMs, limit > 0 ? limit + 1 : 0, signal);
    return truncated(names, limit);
  }

  async labelValues(name: string, p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    if (name === '' || name.includes('\u0000')) throw badData(`invalid label name: "${name}"`);
    const sets = this.scopedSets(p, caller);
    const { startMs, endMs } = timeRange(p);
    const limit = parseLimit(p.get('limit'));
    const values = await this.deps.store.labelValues(
      name,
      sets,
      startMs,
      endMs,
      limit > 0 ? limit + 1 : 0,
      signal,
    );
    return truncated(values, limit);
  }

  async metadata(p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    const limit = parseLimit(p.get('limit'));
    const metric = p.get('metric') || undefined;
    const kinds =
      caller.tenant === undefined
        ? await this.deps.store.metricKinds(metric, limit, signal)
        : (
            await this.deps.store.labelValues('__name__', [this.scope([], caller)], MIN_MS, MAX_MS, 0, signal)
          ).map((m): [string, string] => [m, 'unknown']);
    const data: Record<string, Array<{ type: string; help: string; unit: string }>> = {};
    for (const [m, kind] of kinds) {
      if (metric !== undefined && m !== metric) continue;
      data[m] = [{ type: kind, help: '', unit: '' }];
    }
    return { data };
  }

  buildinfo(): ApiAnswer {
    return {
      data: {
        version: this.deps.version,
        revision: '',
        branch: '',
        buildUser: 'metrics-pipeline',
        buildDate: '',
        goVersion: `node ${process.version}`,
      },
    };
  }

  async alertEvents(p: Params, caller: Caller, signal: AbortSignal): Promise<ApiAnswer> {
    const { startMs, endMs } = timeRange(p);
    const limit = parseLimit(p.get('limit')) || this.deps.config.query.maxSamples;
    const events = await alertTransitions(
      this.deps.store.reader,
      { fromMs: startMs, toMs: endMs, withOpen: false, tenant: caller.tenant, limit },
      signal,
    );
    return {
      data: events.map((e) => ({
        rule: e.rule,
        state: e.state,
        severity: e.severity,
        fingerprint: e.fingerprint,
        labels: e.labels,
        value: String(e.value),
        ts: e.ts / 1000,
      })),
    };
  }

  private matcherSets(p: Params, required: boolean): LabelMatcher[][] {
    const texts = p.all('match[]');
    if (required && texts.length === 0) throw badData('no match[] parameter provided');
    return texts.map((t) => this.deps.evaluator.selector(t));
  }

  private scopedSets(p: Params, caller: Caller): LabelMatcher[][] {
    const sets = this.matcherSets(p, false);
    if (caller.tenant === undefined) return sets;
    return sets.length === 0 ? [this.scope([], caller)] : sets.map((s) => this.scope(s, caller));
  }

  private scope(matchers: LabelMatcher[], caller: Caller): LabelMatcher[] {
    return caller.tenant === undefined
      ? matchers
      : [...matchers, { name: 'tenant', type: '=', value: caller.tenant }];
  }
}

function labelSet(s: SeriesRef): Record<string, string> {
  return { __name__: s.metric, ...s.labels };
}

function truncated(list: string[], limit: number): ApiAnswer {
  if (limit > 0 && list.length > limit)
    return { data: list.slice(0, limit), warnings: ['results truncated due to limit'] };
  return { data: list };
}

function timeRange(p: Params): { startMs: number; endMs: number } {
  const startMs = p.time('start', MIN_MS);
  const endMs = p.time('end', MAX_MS);
  if (endMs < startMs) throw badData('invalid parameter "end": end timestamp must not be before start time');
  return { startMs, endMs };
}

function sourceResolution(p: Params, tiers: readonly string[]): SourceResolution | undefined {
  const v = p.get('max_source_resolution');
  if (v === undefined || v === '' || v === 'auto') return undefined;
  if (v === 'raw' || v === '0s' || v === '0') return 'raw';
  if (tiers.includes(v)) return v;
  throw badData(
    `invalid parameter "max_source_resolution": "${v}" is not one of ${['raw', ...tiers, 'auto'].join(', ')}`,
  );
}

/**
 * How long windows take to be final for a query forced to `forced`: that tier's settle time;
 * otherwise the finest tier's (planTier uses a coarser tier only for settled windows).
 */
function settleOf(policy: TierPolicy, forced: SourceResolution | undefined): number {
  const tier = policy.tiers.find((t) => t.name === forced) ?? policy.tiers[0];
  return tier?.settleMs ?? 0;
}

function lookbackDelta(p: Params): number | undefined {
  const v = p.get('lookback_delta');
  if (v === undefined || v === '') return undefined;
  const ms = parseDurationParam('lookback_delta', v);
  if (ms <= 0) throw badData('invalid parameter "lookback_delta": must be positive');
  return ms;
}
