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
  it("takes any PromQL giving an instant vector or a scalar, with each selector's look-back", () => {
    const expr = parseExpr(
      'sum by (job) (rate(http_errors[5m] offset 1m)) / sum by (job) (rate(http[5m])) > 0.05',
    );
    expect(expr.anomaly).toBeUndefined();
    expect(expr.selectors.map((s) => [formatSelector(s.matchers), s.lookbackMs])).toEqual([
      ['{__name__="http_errors"}', 360_000],
      ['{__name__="http"}', 300_000],
    ]);
    // A bare selector reads back the lookback delta (5m); a subquery its range, a step and what its inner expression reads.
    expect(parseExpr('up == 0').selectors[0]?.lookbackMs).toBe(300_000);
    expect(parseExpr('max_over_time(rate(x[1m])[10m:30s])').selectors[0]?.lookbackMs).toBe(690_000);
    expect(parseExpr('vector(1)').selectors).toEqual([]);
  });

  it('parses anomaly(expr, baseline, k) around any inner expression', () => {
    const expr = parseExpr('anomaly(avg by (host) (avg_over_time(cpu{a=",)"}[5m])), 1h, 3)');
    expect(expr.anomaly).toEqual({ baselineMs: 3_600_000, k: 3 });
    expect(expr.expr).toMatchObject({ kind: 'AggregateExpr', op: 'avg', grouping: ['host'] });
    expect(formatSelector(expr.selectors[0]?.matchers ?? [])).toBe('{__name__="cpu",a=",)"}');
  });

  it('reads Go string escapes, raw strings and comments', () => {
    const expr = parseExpr('last_over_time(x{a="q\\"\\n\\u00e9", b=`c\\d`}[1m]) # trailing comment');
    expect(expr.selectors[0]?.matchers).toMatchObject([
      {},
      { name: 'a', value: 'q"\né' },
      { name: 'b', value: 'c\\d' },
    ]);
  });

  it('rejects what cannot be an alert, at the offending offset', () => {
    const cases: Array<[string, string, number]> = [
      ['rate(x[5m]', 'unexpected end of input in call, expected "," or ")"', 10],
      ['rate(x)', 'expected type range vector in call to function "rate", got instant vector', 5],
      ['x[5m]', 'an alert expression must give an instant vector or a scalar, not a range vector', 0],
      ['"text"', 'an alert expression must give an instant vector or a scalar, not a string', 0],
      [
        'rate(x[5m] @ 100)',
        'the @ modifier is not supported in alert rules: they are evaluated on event time as the stream advances',
        5,
      ],
      ['anomaly(rate(x[5m]), 1h, 0)', 'the number of standard deviations must be a number > 0, e.g. 3', 25],
      ['anomaly(rate(x[5m]), 1q, 3)', 'expected the baseline duration, e.g. 1h', 21],
      [
        'anomaly(rate(x[5m]), 1h)',
        'anomaly() takes an expression, a baseline duration and a number of standard deviations, got 2 argument(s)',
        0,
      ],
      ['anomaly(rate(x[5m]), 1h, 3) > 1', 'an anomaly expression cannot be compared or combined', 28],
      ['anomaly(rate(x[5m]) +, 1h, 3)', 'unexpected end of input', 21],
      ['anomaly(rate(x[5m]), 1h, 3', 'unclosed "(" of anomaly()', 7],
    ];
    expect(cases.map(([expr]) => [expr, ...failure(() => parseExpr(expr))])).toEqual(cases);
  });
});

describe('selectors', () => {
  it('matches series, a missing label as the empty string, regexes anchored', () => {
    const sel =
      parseExpr('rate(http{code=~"5..", path!="/health", env=""}[1m])').selectors[0]?.matchers ?? [];
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
