import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from '../../core/config.js';
import { QueryApi, type Cached } from '../../query/api.js';
import type { ApiError } from '../../query/errors.js';
import { queryMetrics } from '../../query/metrics.js';
import { Params } from '../../query/params.js';
import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { ResultsCache } from '../../query/resultsCache.js';
import type { SeriesStore } from '../../query/store.js';

/**
 * The API over expressions that select nothing (`vector(1)`), so no storage is read: `store`
 * holds only the methods a test needs.
 */
function apiOf(
  overrides: ConfigInput['query'] = {},
  store: Partial<SeriesStore> = {},
  now: () => number = () => Date.now(),
) {
  const config = loadConfig(undefined, {}, { query: overrides });
  const metrics = queryMetrics();
  return new QueryApi({
    config,
    store: store as SeriesStore,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples, maxPoints: config.query.maxPoints }),
    cache: new ResultsCache<Cached>(config.query.cache, metrics.cache),
    metrics,
    now,
    version: 'test',
  });
}

const params = (entries: Record<string, string>) => new Params(new URLSearchParams(entries));
const signal = new AbortController().signal;

async function failure(answer: Promise<unknown>): Promise<ApiError> {
  return answer.then(
    () => expect.fail('the request succeeded'),
    (error: unknown) => error as ApiError,
  );
}

describe('query evaluation time and size limits', () => {
  const huge = 'count_over_time(vector(1)[30d:1s])';

  it('stops a long subquery at the request timeout with `timeout`', async () => {
    // Without a deadline in the engine, its synchronous evaluation finished and answered 200.
    const error = await failure(apiOf().query(params({ query: huge, timeout: '0.2' }), {}, signal));
    expect([error.type, error.status]).toEqual(['timeout', 503]);
  });

  it('stops a long subquery of a range query at the request timeout', async () => {
    const now = Math.floor(Date.now() / 1000);
    const error = await failure(
      apiOf().queryRange(
        params({ query: huge, start: String(now - 60), end: String(now), step: '60', timeout: '0.2' }),
        {},
        signal,
      ),
    );
    expect(error.type).toBe('timeout');
  });

  it('refuses a subquery of more steps than query.maxSamples before evaluating it', async () => {
    const error = await failure(apiOf({ maxSamples: 1_000_000 }).query(params({ query: huge }), {}, signal));
    expect(error.type).toBe('execution');
    expect(error.message).toContain('limit: max samples 1000000');
  });
});

describe('range queries at fine steps', () => {
  it('answers 10,000 points at a 1 ms step though a cached chunk (an hour) would exceed query.maxPoints', async () => {
    const answer = await apiOf().queryRange(
      params({ query: 'vector(1)', start: '1700000000', end: '1700000010', step: '0.001' }),
      {},
      signal,
    );
    const { result } = answer.data as { result: Array<{ values: unknown[] }> };
    expect(result[0]?.values).toHaveLength(10_001);
  });

  it('takes query.maxPoints, not 11,000, as the limit of the engine', async () => {
    const api = apiOf({ maxPoints: 20_000, cache: { maxBytes: 0 } });
    const range = (end: string) => params({ query: 'vector(1)', start: '1700000000', end, step: '1' });
    const answer = await api.queryRange(range(String(1_700_000_000 + 15_000)), {}, signal);
    expect((answer.data as { result: Array<{ values: unknown[] }> }).result[0]?.values).toHaveLength(15_001);
    const error = await failure(api.queryRange(range(String(1_700_000_000 + 20_001)), {}, signal));
    expect(error.message).toContain('exceeded maximum resolution of 20,000 points');
  });
});

describe('results cache and the forced 1h tier', () => {
  // One chunk (an hour at a 1 m step) ending 5 min ago: past the minute windows' settle time
  // (2 min 16 s by default), not the hour windows' (12 min 6 s).
  const hourS = 1_699_999_200;
  const nowMs = (hourS + 3540 + 300) * 1000;
  const range = (extra: Record<string, string>) =>
    params({ query: 'vector(1)', start: String(hourS), end: String(hourS + 3540), step: '60', ...extra });
  // The second request ends a step earlier: another answer, the same chunk.
  const cachedOnSecondAsk = async (extra: Record<string, string>) => {
    const api = apiOf({}, {}, () => nowMs);
    await api.queryRange(range(extra), {}, signal);
    const again = await api.queryRange(range({ end: String(hourS + 3480), ...extra }), {}, signal);
    expect(again.headers?.['X-Results-Cache']).toBeUndefined();
    return (again.data as { stats: { chunksCached: number } }).stats.chunksCached;
  };

  it('caches a chunk once the minute windows it reads are final', async () => {
    expect(await cachedOnSecondAsk({})).toBe(1);
  });

  it('does not cache a chunk whose hour windows may still change when the 1h tier is forced', async () => {
    expect(await cachedOnSecondAsk({ max_source_resolution: '1h' })).toBe(0);
  });
});

describe('whole answers in the results cache', () => {
  const hourS = 1_699_999_200;
  const settledNow = (hourS + 3540 + 300) * 1000;
  const instant = (time: number) => params({ query: 'vector(time())', time: String(time) });
  const asked = async (api: QueryApi, time: number) => {
    const answer = await api.query(instant(time), {}, signal);
    return { hit: answer.headers?.['X-Results-Cache'] === 'hit', body: answer.body };
  };

  it('answers a repeated settled query from the cache, with the same envelope', async () => {
    const api = apiOf({}, {}, () => settledNow);
    const first = await asked(api, hourS);
    const second = await asked(api, hourS);
    expect(first.hit).toBe(false);
    expect(second).toEqual({ hit: true, body: first.body });
    expect(JSON.parse(second.body ?? '')).toMatchObject({
      status: 'success',
      data: { resultType: 'vector', result: [{ metric: {}, value: [hourS, String(hourS)] }] },
    });
  });

  it('recomputes an answer whose newest instant is not settled yet', async () => {
    const api = apiOf({}, {}, () => settledNow);
    const recent = settledNow / 1000 - 60;
    await asked(api, recent);
    expect((await asked(api, recent)).hit).toBe(false);
  });

  it('caches nothing when the cache is off', async () => {
    const api = apiOf({ cache: { maxBytes: 0 } }, {}, () => settledNow);
    await asked(api, hourS);
    expect((await asked(api, hourS)).hit).toBe(false);
  });

  it('keeps answers of different tenants apart', async () => {
    const api = apiOf({}, {}, () => settledNow);
    await api.query(instant(hourS), { tenant: 'a' }, signal);
    const other = await api.query(instant(hourS), { tenant: 'b' }, signal);
    expect(other.headers?.['X-Results-Cache']).toBeUndefined();
  });
});

describe('/api/v1/series limit', () => {
  it('pages at query.maxSeries with the truncation warning when the limit is above it', async () => {
    const pages: number[] = [];
    const store: Partial<SeriesStore> = {
      seriesPage: (_sets, _start, _end, limit) => {
        pages.push(limit);
        const series = Array.from({ length: limit }, (_, i) => ({ id: String(i), metric: 'up', labels: {} }));
        return Promise.resolve({ series, truncated: true });
      },
      series: () => Promise.reject(new Error('the series endpoint must page')),
    };
    const api = apiOf({ maxSeries: 3 }, store);
    const answer = await api.series(params({ 'match[]': 'up', limit: '200000' }), {}, signal);
    expect(pages).toEqual([3]);
    expect(answer.data).toHaveLength(3);
    expect(answer.warnings).toEqual(['results truncated due to limit']);
  });
});
