import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../alerts/duration.js';
import { ExpressionError } from '../../alerts/errors.js';
import { formatSelector, matchesSeries, parseExpr, parseSeriesDescription } from '../../alerts/promql.js';
import { expandSeriesValues } from '../../alerts/seriesNotation.js';

/** The message and offset of the ExpressionError that `run` throws. */
function failure(run: () => unknown): [string, number] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return [(error as ExpressionError).message, (error as ExpressionError).offset];
  }
  throw new Error('expected an ExpressionError');
}

describe('parseExpr', () => {
  it('parses a range function compared with a number', () => {
    expect(
      parseExpr('avg_over_time(cpu{host="a", dc!="b", env=~"prod|stage", zone!~"x.*"}[5m]) > 90'),
    ).toMatchObject({
      type: 'compare',
      op: '>',
      threshold: 90,
      vector: {
        type: 'range',
        fn: 'avg_over_time',
        rangeMs: 300_000,
        selector: {
          matchers: [
            { name: '__name__', op: '=', value: 'cpu' },
            { name: 'host', op: '=', value: 'a' },
            { name: 'dc', op: '!=', value: 'b' },
            { name: 'env', op: '=~', value: 'prod|stage' },
            { name: 'zone', op: '!~', value: 'x.*' },
          ],
        },
      },
    });
  });

  it('parses every range function, quantile_over_time with φ', () => {
    for (const fn of [
      'min_over_time',
      'max_over_time',
      'sum_over_time',
      'count_over_time',
      'last_over_time',
      'rate',
      'increase',
    ]) {
      expect(parseExpr(`${fn}(x[1h30m])`)).toMatchObject({ type: 'range', fn, rangeMs: 5_400_000 });
    }
    expect(parseExpr('quantile_over_time(0.95, x[1d]) >= -1.5e1')).toMatchObject({
      type: 'compare',
      op: '>=',
      threshold: -15,
      vector: { type: 'range', fn: 'quantile_over_time', param: 0.95, rangeMs: 86_400_000 },
    });
  });

  it('parses aggregations with by/without before or after, and a number on the left', () => {
    expect(parseExpr('sum by (host, region) (rate(x[5m])) != 0')).toMatchObject({
      type: 'compare',
      op: '!=',
      vector: { type: 'aggregate', op: 'sum', grouping: { mode: 'by', labels: ['host', 'region'] } },
    });
    expect(parseExpr('avg(rate(x[5m])) without (cpu)')).toMatchObject({
      type: 'aggregate',
      op: 'avg',
      grouping: { mode: 'without', labels: ['cpu'] },
    });
    expect(parseExpr('count(last_over_time(x[5m]))')).toMatchObject({
      type: 'aggregate',
      op: 'count',
      grouping: null,
    });
    expect(parseExpr('10 > (min(min_over_time(x[5m])))')).toMatchObject({
      type: 'compare',
      op: '<',
      threshold: 10,
      vector: { type: 'aggregate', op: 'min' },
    });
    expect(parseExpr('3 == max_over_time(x[5m])')).toMatchObject({ op: '==' });
  });

  it('parses absent_over_time and anomaly', () => {
    expect(parseExpr('absent_over_time({__name__="up", job="api"}[10m])')).toMatchObject({
      type: 'absent',
      rangeMs: 600_000,
      selector: {
        matchers: [
          { name: '__name__', value: 'up' },
          { name: 'job', value: 'api' },
        ],
      },
    });
    expect(parseExpr('anomaly(avg by (host) (avg_over_time(cpu[5m])), 1h, 3)')).toMatchObject({
      type: 'anomaly',
      baselineMs: 3_600_000,
      k: 3,
      inner: { type: 'aggregate', op: 'avg', inner: { fn: 'avg_over_time' } },
    });
  });

  it('reads Go string escapes, raw strings and comments', () => {
    expect(parseExpr('last_over_time(x{a="q\\"\\n\\u00e9", b=`c\\d`}[1m]) # trailing comment')).toMatchObject(
      {
        selector: { matchers: [{}, { name: 'a', value: 'q"\né' }, { name: 'b', value: 'c\\d' }] },
      },
    );
  });

  it('rejects what the subset does not support, at the offending offset', () => {
    const cases: Array<[string, string, number]> = [
      [
        'cpu > 90',
        'a bare selector is not supported: wrap it in a range function, e.g. avg_over_time(cpu[5m])',
        0,
      ],
      ['rate(x[5m]) * 100 > 5', 'arithmetic (*) is not supported: compare the expression with a number', 12],
      ['rate(x[5m:1m])', 'subqueries are not supported', 9],
      ['rate(x[5m] offset 1m)', 'offset is not supported', 11],
      ['rate(x[5m]) > bool 1', 'the bool modifier is not supported', 14],
      ['rate(x[5m]) and rate(y[5m])', 'the set operator and is not supported', 12],
      [
        'histogram_quantile(0.9, x)',
        'function histogram_quantile is not supported (supported: avg_over_time, min_over_time, max_over_time, sum_over_time, count_over_time, last_over_time, quantile_over_time, rate, increase, absent_over_time, anomaly)',
        0,
      ],
      ['topk(3, rate(x[5m]))', 'aggregation topk is not supported (supported: sum, avg, min, max, count)', 0],
      ['sum(sum(rate(x[5m])))', 'nested aggregations are not supported', 4],
      ['sum(absent_over_time(x[5m]))', 'absent_over_time cannot be aggregated', 4],
      ['rate(x)', 'expected a range such as [5m] after the selector of rate', 6],
      ['rate(x[5m]', 'expected ")" (at the end of the expression)', 10],
      ['rate(x[0s])', 'the range must be longer than 0s', 7],
      ['rate(x[5q])', 'invalid number or duration "5q"', 7],
      ['quantile_over_time(1.5, x[5m])', 'φ of quantile_over_time must be within [0, 1]', 19],
      [
        'avg_over_time({a=~".*"}[5m])',
        'a selector needs a metric name or a matcher that does not match the empty string',
        14,
      ],
      [
        'avg_over_time(x{a=~"("}[5m])',
        'invalid regular expression "(": Invalid regular expression: /^(?:()$/s: Unterminated group',
        19,
      ],
      ['avg_over_time(x{a="b}[5m])', 'unterminated string', 18],
      ['rate(x[5m]) > 1 > 2', 'only one comparison is supported', 16],
      ['anomaly(rate(x[5m]), 1h, 0)', 'the number of standard deviations must be > 0', 25],
      ['anomaly(rate(x[5m]), 1h, 3) > 1', 'an anomaly expression cannot be compared or combined', 28],
      [
        'anomaly(absent_over_time(x[5m]), 1h, 3)',
        'anomaly() takes a range function or an aggregation of one',
        8,
      ],
      ['rate(x[5m]) > ', 'expected a number to compare with (at the end of the expression)', 14],
      ['avg_over_time(x[5m]) $', 'unexpected character "$"', 21],
    ];
    expect(cases.map(([expr]) => [expr, ...failure(() => parseExpr(expr))])).toEqual(cases);
  });
});

describe('selectors', () => {
  it('matches series, a missing label as the empty string, regexes anchored', () => {
    const expr = parseExpr('rate(http{code=~"5..", path!="/health", env=""}[1m])');
    if (expr.type !== 'range') throw new Error('range expected');
    const sel = expr.selector;
    expect(matchesSeries(sel, 'http', [['code', '500']])).toBe(true);
    expect(matchesSeries(sel, 'http', [['code', '5000']])).toBe(false);
    expect(
      matchesSeries(sel, 'http', [
        ['code', '503'],
        ['path', '/health'],
      ]),
    ).toBe(false);
    expect(
      matchesSeries(sel, 'http', [
        ['code', '503'],
        ['env', 'prod'],
      ]),
    ).toBe(false);
    expect(matchesSeries(sel, 'https', [['code', '503']])).toBe(false);
    expect(formatSelector(sel)).toBe('{__name__="http",code=~"5..",env="",path!="/health"}');
  });

  it('takes a case-insensitive (?i) prefix', () => {
    const expr = parseExpr('rate(x{a=~"(?i)get"}[1m])');
    if (expr.type !== 'range') throw new Error('range expected');
    expect(matchesSeries(expr.selector, 'x', [['a', 'GeT']])).toBe(true);
  });
});

describe('durations', () => {
  it('parses and prints Prometheus durations', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1w2d')).toBe(777_600_000);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1s500ms')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(7_776_000_000)).toBe('90d');
    expect(formatDuration(1_209_600_000)).toBe('2w');
    expect(formatDuration(1500)).toBe('1s500ms');
  });

  it('rejects units out of order, repeated or unknown', () => {
    for (const text of ['30m1h', '5m5m', '5 m', '5', '1.5h', '']) {
      expect(failure(() => parseDuration(text))[0]).toBe(
        `invalid duration ${JSON.stringify(text)} (expected e.g. 30s, 5m, 1h30m, 1d: units y w d h m s ms, largest first)`,
      );
    }
  });
});

describe('promtool series notation', () => {
  it('expands every form', () => {
    expect(expandSeriesValues('1+2x3 _ stale 5x2 -1-1x3')).toEqual([
      1,
      3,
      5,
      7,
      null,
      null,
      5,
      5,
      5,
      -1,
      -2,
      -3,
      -4,
    ]);
    expect(expandSeriesValues('1 _x3 stale')).toEqual([1, null, null, null, null]);
    expect(expandSeriesValues('-2+4x3')).toEqual([-2, 2, 6, 10]);
    expect(expandSeriesValues(' 1-2x4 ')).toEqual([1, -1, -3, -5, -7]);
    expect(expandSeriesValues('1x4')).toEqual([1, 1, 1, 1, 1]);
    expect(expandSeriesValues('0.1+0.1x2 1e3 Inf -Inf')).toEqual([
      0.1,
      0.2,
      0.30000000000000004,
      1000,
      Infinity,
      -Infinity,
    ]);
    expect(expandSeriesValues('NaN')).toEqual([NaN]);
    expect(expandSeriesValues('')).toEqual([]);
  });

  it('rejects a malformed item at its offset', () => {
    expect(failure(() => expandSeriesValues('1 2 3+x2'))).toEqual([
      'invalid series value "3+x2" (expected a number, a+bxn, a-bxn, axn, _, _xn or stale)',
      4,
    ]);
    expect(failure(() => expandSeriesValues('{{schema:0 sum:1}}'))).toEqual([
      'native histogram samples are not supported',
      0,
    ]);
  });

  it('parses series descriptions', () => {
    expect(parseSeriesDescription('up{job="api", instance="a"}')).toEqual({
      name: 'up',
      labels: [
        ['instance', 'a'],
        ['job', 'api'],
      ],
    });
    expect(parseSeriesDescription('{__name__="up"}')).toEqual({ name: 'up', labels: [] });
    expect(failure(() => parseSeriesDescription('up{job=~"a"}'))).toEqual([
      'a series takes only = matchers, not =~',
      0,
    ]);
  });
});
