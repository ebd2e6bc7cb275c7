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
  /** The whole success envelope, serialized: sent as it is (a cached answer has only this). */
  body?: string;
}

/** A whole query answer in the results cache: its envelope as sent, and its headers. */
export interface CachedAnswer {
  body: string;
  headers: Record<string, string>;
}

/** What the results cache holds: chunks of range results, and whole answers. */
export type Cached = ChunkResult | CachedAnswer;

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
      cache: ResultsCache<Cached>;
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
    // A cached answer's expression was checked when it was computed: a hit skips the parse.
    const key = ['query', caller.tenant ?? '', forced ?? '', lookbackDeltaMs ?? 0, expr, time];
    return this.throughCache(
      key,
      { startMs: time, endMs: time },
      this.settledMs(now, forced),
      now,
      async () => {
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
      },
    );
  }

  /**
   * When every window a query at or before `settledMs` reads is final (see `cachedRange`):
   * `now` less the settle time of the finest tier it may read (of the forced tier when forced).
   */
  private settledMs(nowMs: number, forced: SourceResolution | undefined): number {
    // A forced tier reads its windows even before they are final (planTier skips the check).
    return nowMs - settleOf(this.tierPolicy(nowMs, forced), forced);
  }

  /**
   * A whole answer from the results cache, or computed and cached, serialized once: only when
   * its newest instant is settled (a newer answer may still change), with the TTL of its data's
   * age, dropped as chunks are when a window in its span is corrected. A repeated query (a
   * dashboard's panel reloaded, the same link opened twice) is then answered without evaluation.
   */
  private async throughCache(
    key: unknown[],
    span: { startMs: number; endMs: number },
    settledMs: number,
    nowMs: number,
    compute: () => Promise<ApiAnswer>,
  ): Promise<ApiAnswer> {
    const { cache } = this.deps;
    const cacheable = cache.enabled && span.endMs <= settledMs;
    const text = JSON.stringify(key);
    const hit = cacheable ? cache.get(text, nowMs) : undefined;
    if (hit && 'body' in hit)
      return { data: undefined, body: hit.body, headers: { ...hit.headers, 'X-Results-Cache': 'hit' } };
    const answer = await compute();
    answer.body = JSON.stringify({
      status: 'success',
      data: answer.data,
      ...(answer.warnings ? { warnings: answer.warnings } : {}),
    });
    if (cacheable) {
      const value: CachedAnswer = { body: answer.body, headers: answer.headers ?? {} };
      // Corrections of windows its ranges and lookback read reach back before its first instant.
      cache.set(
        text,
        value,
        { startMs: span.startMs - 86_400_000, endMs: span.endMs },
        answer.body.length * 2 + 256,
        nowMs,
      );
    }
    return answer;
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
    const now = this.deps.now();
    const settledMs = this.settledMs(now, forced);
    const key = [
      'query_range',
      caller.tenant ?? '',
      forced ?? '',
      lookbackDeltaMs ?? 0,
      expr,
      startMs,
      endMs,
      stepMs,
    ];
    return this.throughCache(key, { startMs, endMs }, settledMs, now, () =>
      this.computeRange(
        expr,
        { startMs, endMs, stepMs },
        forced,
        lookbackDeltaMs,
        caller,
        now,
        settledMs,
        p,
        signal,
      ),
    );
  }

  private async computeRange(
    expr: string,
    range: { startMs: number; endMs: number; stepMs: number },
    forced: SourceResolution | undefined,
    lookbackDeltaMs: number | undefined,
    caller: Caller,
    now: number,
    settledMs: number,
    p: Params,
    signal: AbortSignal,
  ): Promise<ApiAnswer> {
    this.deps.evaluator.check(expr);
    const { maxPoints } = this.deps.config.query;
    const answer = await cachedRange({
      evaluator: this.deps.evaluator,
      expr,
      range,
      keyPrefix: JSON.stringify([caller.tenant ?? '', forced ?? '', lookbackDeltaMs ?? 0]),
      cache: this.deps.cache,
      newQuerier: () => this.querier(caller, now, forced, signal),
      nowMs: now,
      settledMs,
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
