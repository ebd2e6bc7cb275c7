import { describe, expect, it } from 'vitest';
import {
  evaluate,
  formatQueryData,
  instantQuery,
  MemoryQuerier,
  parseExpr,
  PromQLExecutionError,
  PromQLLimitError,
  PromQLTimeoutError,
  rangeQuery,
  selectSeries,
  type EvalResult,
  type Querier,
  type RangeFunctionRequest,
  type SeriesData,
} from '../../query/promql/index.js';

// On a whole hour: subquery steps are multiples of the step since the epoch.
const T0 = 1_699_999_200_000;
const MIN = 60_000;

/** A series with samples `[offset from T0 in ms, value]`. */
function series(labels: Record<string, string>, points: Array<[number, number]>): SeriesData {
  return {
    labels,
    timestamps: Float64Array.from(points.map(([t]) => T0 + t)),
    values: Float64Array.from(points.map(([, v]) => v)),
  };
}

/** Every `stepMs` from `fromMs` to `toMs` (offsets from T0), value `f(i)`. */
function regular(
  labels: Record<string, string>,
  fromMs: number,
  toMs: number,
  stepMs: number,
  f: (i: number) => number,
) {
  const points: Array<[number, number]> = [];
  for (let t = fromMs, i = 0; t <= toMs; t += stepMs, i++) points.push([t, f(i)]);
  return series(labels, points);
}

async function instant(data: SeriesData[], query: string, atMs: number, options = {}) {
  const result = await instantQuery(new MemoryQuerier(data), query, T0 + atMs, options);
  return formatQueryData(result, T0 + atMs).data;
}

/** An instant vector's elements as `[labels, value]`; fails on any other result type. */
function values(data: Awaited<ReturnType<typeof instant>>): Array<[Record<string, string>, string]> {
  if (data.resultType !== 'vector') throw new Error(`expected a vector, got ${data.resultType}`);
  return data.result.map((r) => [r.metric, r.value[1]]);
}

/** The labels of the first element of an instant vector. */
const firstLabels = (data: Awaited<ReturnType<typeof instant>>) => values(data)[0]?.[0];

describe('PromQL evaluator', () => {
  const counter = regular({ __name__: 'requests_total', job: 'api' }, 0, 30 * MIN, 15_000, (i) => i * 10);
  const gauge = regular(
    { __name__: 'temperature', job: 'api', room: 'a' },
    0,
    30 * MIN,
    15_000,
    (i) => 20 + (i % 4),
  );

  it('selects the last sample within the lookback, left-open: (t - 5m, t]', async () => {
    const s = [series({ __name__: 'x' }, [[0, 1]])];
    expect(values(await instant(s, 'x', 0))).toEqual([[{ __name__: 'x' }, '1']]);
    expect(values(await instant(s, 'x', 5 * MIN - 1))).toEqual([[{ __name__: 'x' }, '1']]);
    expect(values(await instant(s, 'x', 5 * MIN))).toEqual([]);
    expect(values(await instant(s, 'x', 4 * MIN, { lookbackDeltaMs: 3 * MIN }))).toEqual([]);
  });

  it('ends a series at a stale marker before the lookback does', async () => {
    const stale = new Float64Array(new Uint32Array([0x00000002, 0x7ff00000]).buffer)[0] as number;
    const s = [
      series({ __name__: 'x' }, [
        [0, 1],
        [15_000, stale],
      ]),
    ];
    expect(values(await instant(s, 'x', 10_000))).toEqual([[{ __name__: 'x' }, '1']]);
    expect(values(await instant(s, 'x', 20_000))).toEqual([]);
  });

  it('selects range windows left-open: (t - range, t]', async () => {
    const s = [
      series({ __name__: 'x' }, [
        [0, 1],
        [30_000, 2],
        [60_000, 3],
      ]),
    ];
    const data = await instant(s, 'x[1m]', 60_000);
    expect(data).toEqual({
      resultType: 'matrix',
      result: [
        {
          metric: { __name__: 'x' },
          values: [
            [(T0 + 30_000) / 1000, '2'],
            [(T0 + 60_000) / 1000, '3'],
          ],
        },
      ],
    });
    expect(values(await instant(s, 'count_over_time(x[1m])', 60_000))).toEqual([[{}, '2']]);
  });

  it('extrapolates rate and increase as Prometheus does', async () => {
    // 10 per 15 s; samples on the window's ends extrapolate fully: 40 per minute.
    expect(values(await instant([counter], 'increase(requests_total[1m])', 10 * MIN + 1))).toEqual([
      [{ job: 'api' }, '40'],
    ]);
    expect(values(await instant([counter], 'rate(requests_total[5m])', 10 * MIN))).toEqual([
      [{ job: 'api' }, '0.6666666666666666'],
    ]);
    // A counter starting within the window is extrapolated at most to its zero point.
    const young = regular({ __name__: 'c' }, 5 * MIN, 10 * MIN, 15_000, (i) => 5 + i * 10);
    const rate = values(await instant([young], 'increase(c[10m])', 10 * MIN))[0]?.[1];
    // 200 over 5 m; 7.5 s (half an interval, also the zero point) extrapolated before: 205.
    expect(Number(rate)).toBeCloseTo(205, 9);
  });

  it('counts counter resets into rate and resets()', async () => {
    const reset = series({ __name__: 'c' }, [
      [0, 10],
      [15_000, 20],
      [30_000, 5],
      [45_000, 15],
    ]);
    expect(values(await instant([reset], 'resets(c[1m])', 45_000))).toEqual([[{}, '1']]);
    expect(values(await instant([reset], 'idelta(c[1m])', 45_000))).toEqual([[{}, '10']]);
    expect(values(await instant([reset], 'irate(c[1m])', 30_000))).toEqual([[{}, '0.3333333333333333']]);
  });

  it('keeps __name__ where Prometheus 3 does and drops it elsewhere', async () => {
    const data = [gauge];
    expect(firstLabels(await instant(data, 'temperature > 0', MIN))).toHaveProperty('__name__');
    expect(firstLabels(await instant(data, 'temperature > bool 0', MIN))).not.toHaveProperty('__name__');
    expect(firstLabels(await instant(data, 'temperature + 0', MIN))).not.toHaveProperty('__name__');
    expect(firstLabels(await instant(data, 'last_over_time(temperature[1m])', MIN))).toHaveProperty(
      '__name__',
    );
    expect(firstLabels(await instant(data, 'max_over_time(temperature[1m])', MIN))).not.toHaveProperty(
      '__name__',
    );
    expect(firstLabels(await instant(data, 'abs(temperature)', MIN))).not.toHaveProperty('__name__');
    expect(firstLabels(await instant(data, 'sort(temperature)', MIN))).toHaveProperty('__name__');
    expect(firstLabels(await instant(data, 'topk(1, temperature)', MIN))).toHaveProperty('__name__');
  });

  it('aggregates by and without', async () => {
    const data = [
      series({ __name__: 'x', job: 'a', i: '1' }, [[0, 1]]),
      series({ __name__: 'x', job: 'a', i: '2' }, [[0, 3]]),
      series({ __name__: 'x', job: 'b', i: '1' }, [[0, 5]]),
    ];
    expect(values(await instant(data, 'sum by (job) (x)', 0))).toEqual([
      [{ job: 'a' }, '4'],
      [{ job: 'b' }, '5'],
    ]);
    expect(values(await instant(data, 'avg without (i) (x)', 0))).toEqual([
      [{ job: 'a' }, '2'],
      [{ job: 'b' }, '5'],
    ]);
    expect(values(await instant(data, 'count_values("v", x)', 0))).toEqual([
      [{ v: '1' }, '1'],
      [{ v: '3' }, '1'],
      [{ v: '5' }, '1'],
    ]);
    expect(values(await instant(data, 'quantile(0.5, x)', 0))).toEqual([[{}, '3']]);
    expect(values(await instant(data, 'stddev(x)', 0))).toEqual([[{}, String(Math.sqrt(8 / 3))]]);
    expect(values(await instant(data, 'bottomk by (job) (1, x)', 0))).toEqual([
      [{ __name__: 'x', job: 'a', i: '1' }, '1'],
      [{ __name__: 'x', job: 'b', i: '1' }, '5'],
    ]);
  });

  it('matches vectors one-to-one and many-to-one, and reports bad matches as Prometheus does', async () => {
    const data = [
      series({ __name__: 'used', job: 'a', i: '1' }, [[0, 2]]),
      series({ __name__: 'used', job: 'a', i: '2' }, [[0, 4]]),
      series({ __name__: 'limit', job: 'a', version: 'v1' }, [[0, 8]]),
    ];
    expect(values(await instant(data, 'used / on(job) group_left(version) limit', 0))).toEqual([
      [{ job: 'a', i: '1', version: 'v1' }, '0.25'],
      [{ job: 'a', i: '2', version: 'v1' }, '0.5'],
    ]);
    await expect(instant(data, 'used / on(job) limit', 0)).rejects.toThrow(
      new PromQLExecutionError(
        'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)',
      ),
    );
    await expect(instant(data, 'limit / on(job) group_left used', 0)).rejects.toThrow(
      'found duplicate series for the match group {job="a"} on the right hand-side of the operation: ' +
        '[{__name__="used", i="1", job="a"}, {__name__="used", i="2", job="a"}];many-to-many matching not allowed',
    );
    await expect(instant(data, 'label_replace(used, "i", "", "i", ".*")', 0)).rejects.toThrow(
      'vector cannot contain metrics with the same labelset',
    );
    // Two series that only share labels without their names, at different steps of a range query.
    const successive = [series({ __name__: 'a' }, [[0, 1]]), series({ __name__: 'b' }, [[20 * MIN, 1]])];
    await expect(
      rangeQuery(
        new MemoryQuerier(successive),
        'max_over_time({__name__=~"a|b"}[1m])',
        T0,
        T0 + 30 * MIN,
        MIN,
      ),
    ).rejects.toThrow('vector cannot contain metrics with the same labelset');
  });

  it('evaluates subqueries on the absolute step grid, 1m by default', async () => {
    const ramp = regular({ __name__: 'x' }, 0, 30 * MIN, 1000, (i) => i);
    // (10m - 5m, 10m] at 1m steps: 6m, 7m, 8m, 9m, 10m.
    expect(values(await instant([ramp], 'count_over_time(x[5m:])', 10 * MIN + 500))).toEqual([[{}, '5']]);
    expect(
      values(
        await instant([ramp], 'count_over_time(x[5m:])', 10 * MIN + 500, { defaultSubqueryStepMs: 30_000 }),
      ),
    ).toEqual([[{}, '10']]);
    expect(values(await instant([ramp], 'min_over_time(x[5m:2m])', 10 * MIN))).toEqual([
      [{}, String(6 * 60)],
    ]);
  });

  it('applies offset and @, including start() and end() of a range query', async () => {
    const ramp = regular({ __name__: 'x' }, 0, 30 * MIN, MIN, (i) => i);
    expect(values(await instant([ramp], 'x offset 5m', 10 * MIN))).toEqual([[{ __name__: 'x' }, '5']]);
    expect(values(await instant([ramp], 'x offset -5m', 10 * MIN))).toEqual([[{ __name__: 'x' }, '15']]);
    expect(values(await instant([ramp], `x @ ${(T0 + 3 * MIN) / 1000}`, 10 * MIN))).toEqual([
      [{ __name__: 'x' }, '3'],
    ]);
    const result = await rangeQuery(
      new MemoryQuerier([ramp]),
      'x @ end() - x @ start()',
      T0 + 2 * MIN,
      T0 + 4 * MIN,
      MIN,
    );
    expect(formatQueryData(result, T0).data).toEqual({
      resultType: 'matrix',
      result: [{ metric: {}, values: [2, 3, 4].map((m) => [(T0 + m * MIN) / 1000, '2']) }],
    });
  });

  it('computes histogram_quantile over classic buckets', async () => {
    const buckets = [
      ['0.1', 10],
      ['0.5', 30],
      ['1', 40],
      ['+Inf', 40],
    ].map(([le, v]) => series({ __name__: 'h_bucket', job: 'a', le: String(le) }, [[0, Number(v)]]));
    // Rank 20 of 40 falls halfway into (0.1, 0.5]: 0.1 + 0.4 / 2, with Go's float rounding.
    expect(values(await instant(buckets, 'histogram_quantile(0.5, h_bucket)', 0))).toEqual([
      [{ job: 'a' }, String(0.1 + (0.5 - 0.1) * (10 / 20))],
    ]);
    expect(values(await instant(buckets, 'histogram_quantile(1, h_bucket)', 0))).toEqual([
      [{ job: 'a' }, '1'],
    ]);
    expect(values(await instant(buckets.slice(0, 3), 'histogram_quantile(0.5, h_bucket)', 0))).toEqual([
      [{ job: 'a' }, 'NaN'],
    ]);
  });

  it('formats values as Prometheus does: NaN, ±Inf, exponents, scalars, strings', async () => {
    const s = [
      series({ __name__: 'x', k: 'a' }, [[0, 1e-7]]),
      series({ __name__: 'x', k: 'b' }, [[0, 1e21]]),
    ];
    expect(values(await instant(s, 'x', 0))).toEqual([
      [{ __name__: 'x', k: 'a' }, '1e-07'],
      [{ __name__: 'x', k: 'b' }, '1e+21'],
    ]);
    expect(values(await instant(s, 'x / 0', 0))).toEqual([
      [{ k: 'a' }, '+Inf'],
      [{ k: 'b' }, '+Inf'],
    ]);
    expect(await instant(s, '-1/0', 1500)).toEqual({
      resultType: 'scalar',
      result: [(T0 + 1500) / 1000, '-Inf'],
    });
    expect(await instant(s, '0/0', 0)).toEqual({ resultType: 'scalar', result: [T0 / 1000, 'NaN'] });
    expect(await instant(s, '"hi"', 0)).toEqual({ resultType: 'string', result: [T0 / 1000, 'hi'] });
  });

  it('refuses range queries of range vectors and strings', async () => {
    await expect(rangeQuery(new MemoryQuerier([]), 'x[5m]', T0, T0 + MIN, 1000)).rejects.toThrow(
      'invalid expression type "range vector" for range query, must be Scalar or instant Vector',
    );
  });

  it('stops at the max-samples limit, naming it', async () => {
    const limited = await instantQuery(new MemoryQuerier([counter]), 'requests_total[10m]', T0 + 20 * MIN, {
      maxSamples: 10,
    }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(PromQLLimitError);
    expect((limited as PromQLLimitError).limit).toBe('maxSamples');
    expect((limited as Error).message).toContain('max samples 10');
  });

  it('times out on an aborted signal or a passed deadline', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      instantQuery(new MemoryQuerier([counter]), 'requests_total', T0, { signal: controller.signal }),
    ).rejects.toThrow(PromQLTimeoutError);
    await expect(
      rangeQuery(new MemoryQuerier([counter]), 'requests_total', T0, T0 + 30 * MIN, 1000, {
        deadlineMs: Date.now() - 1,
      }),
    ).rejects.toThrow('query timed out in expression evaluation');
  });

  it('fetches each selector once over the whole range with its hints, then evaluates synchronously', async () => {
    const calls: Array<{ matchers: unknown; hints: unknown }> = [];
    const querier: Querier = {
      select(matchers, hints) {
        calls.push({ matchers, hints });
        return Promise.resolve(selectSeries([counter], matchers, hints));
      },
    };
    await rangeQuery(querier, 'rate(requests_total[5m] offset 1m)', T0 + 10 * MIN, T0 + 20 * MIN, MIN);
    expect(calls).toEqual([
      {
        matchers: [{ name: '__name__', type: '=', value: 'requests_total' }],
        hints: {
          startMs: T0 + 4 * MIN + 1,
          endMs: T0 + 19 * MIN,
          stepMs: MIN,
          rangeMs: 5 * MIN,
          func: 'rate',
        },
      },
    ]);
    const expr = parseExpr('sum(requests_total)');
    const result: EvalResult = evaluate(expr, () => [counter], {
      startMs: T0 + MIN,
      endMs: T0 + MIN,
      stepMs: 0,
    });
    expect(formatQueryData(result, T0 + MIN).data).toEqual({
      resultType: 'vector',
      result: [{ metric: {}, value: [(T0 + MIN) / 1000, '40'] }],
    });
  });

  it('takes range functions from the tier fast path when storage answers them', async () => {
    const requests: RangeFunctionRequest[] = [];
    const querier: Querier = {
      select: () => Promise.reject(new Error('raw samples should not be read')),
      rangeFunction(request) {
        requests.push(request);
        return Promise.resolve({
          series: [{ labels: { job: 'api' }, values: Float64Array.from(request.times.map(() => 7)) }],
        });
      },
      warnings: ['answered from the 1m tier'],
    };
    const result = await rangeQuery(querier, 'sum(avg_over_time(x[5m]))', T0, T0 + 2 * MIN, MIN);
    expect(requests).toEqual([
      {
        func: 'avg_over_time',
        matchers: [{ name: '__name__', type: '=', value: 'x' }],
        rangeMs: 5 * MIN,
        times: [T0, T0 + MIN, T0 + 2 * MIN],
      },
    ]);
    expect(formatQueryData(result, T0)).toEqual({
      data: {
        resultType: 'matrix',
        result: [{ metric: {}, values: [0, 1, 2].map((m) => [(T0 + m * MIN) / 1000, '7']) }],
      },
      warnings: ['answered from the 1m tier'],
    });
  });
});
