import { describe, expect, it } from 'vitest';
import { absentLabels, evaluateVector, rangeValue, type SeriesSamples } from '../../alerts/functions.js';
import { parseExpr, type RangeCall, type VectorExpr } from '../../alerts/promql.js';

const S = 1000;

/** A series with samples at the given seconds. */
function series(labels: Array<[string, string]>, points: Array<[number, number]>, name = 'm'): SeriesSamples {
  return { name, labels, t: points.map(([t]) => t * S), v: points.map(([, v]) => v) };
}

function call(expr: string): RangeCall {
  const parsed = parseExpr(expr);
  if (parsed.type !== 'range') throw new Error(`not a range call: ${expr}`);
  return parsed;
}

function vector(expr: string): VectorExpr {
  const parsed = parseExpr(expr);
  if (parsed.type === 'compare' || parsed.type === 'anomaly') throw new Error(`not a vector: ${expr}`);
  return parsed;
}

describe('range functions over (t - range, t]', () => {
  const s = series(
    [],
    [
      [60, 3],
      [120, 1],
      [180, 4],
      [240, 1],
      [300, 5],
    ],
  );
  const at = (expr: string, t = 300) => rangeValue(call(expr), s, t * S);

  it('computes every *_over_time function', () => {
    expect(at('avg_over_time(m[5m])')).toBe(2.8);
    expect(at('min_over_time(m[5m])')).toBe(1);
    expect(at('max_over_time(m[5m])')).toBe(5);
    expect(at('sum_over_time(m[5m])')).toBe(14);
    expect(at('count_over_time(m[5m])')).toBe(5);
    expect(at('last_over_time(m[5m])')).toBe(5);
    expect(at('quantile_over_time(0.5, m[5m])')).toBe(3);
    expect(at('quantile_over_time(0.9, m[5m])')).toBe(4.6);
    expect(at('quantile_over_time(0.25, m[5m])')).toBe(1);
    expect(at('quantile_over_time(0, m[5m])')).toBe(1);
    expect(at('quantile_over_time(1, m[5m])')).toBe(5);
  });

  it('excludes the sample at exactly t - range and those after t', () => {
    expect(at('count_over_time(m[4m])')).toBe(4);
    expect(at('sum_over_time(m[4m])')).toBe(11);
    expect(at('count_over_time(m[1m])', 250)).toBe(1);
    expect(at('last_over_time(m[1m])', 250)).toBe(1);
    expect(at('avg_over_time(m[30s])', 230)).toBeUndefined();
  });

  it('sums with compensation like Prometheus', () => {
    const tiny = series(
      [],
      [
        [1, 1e16],
        [2, 1],
        [3, 1],
        [4, -1e16],
      ],
    );
    expect(rangeValue(call('sum_over_time(m[1m])'), tiny, 4 * S)).toBe(2);
    expect(rangeValue(call('avg_over_time(m[1m])'), tiny, 4 * S)).toBe(0.5);
  });
});

describe('rate and increase', () => {
  const value = (expr: string, points: Array<[number, number]>, t = 300) =>
    rangeValue(call(expr), series([], points), t * S);
  const steady: Array<[number, number]> = [
    [60, 100],
    [120, 110],
    [180, 120],
    [240, 130],
    [300, 140],
  ];

  it('extrapolates to the window start when the first sample is within 1.1 intervals of it', () => {
    expect(value('increase(m[5m])', steady)).toBe(50);
    expect(value('rate(m[5m])', steady)).toBe(0.16666666666666666);
  });

  it('extrapolates by half an interval when the series starts or ends inside the window', () => {
    expect(
      value('increase(m[5m])', [
        [200, 500],
        [230, 530],
        [260, 560],
        [290, 590],
      ]),
    ).toBe(114.99999999999999);
  });

  it('does not extrapolate a counter below zero', () => {
    expect(
      value('increase(m[5m])', [
        [100, 5],
        [160, 65],
        [220, 125],
        [280, 185],
      ]),
    ).toBe(205);
  });

  it('counts a drop as a counter reset', () => {
    const reset: Array<[number, number]> = [
      [60, 10],
      [120, 20],
      [180, 5],
      [240, 15],
      [300, 25],
    ];
    expect(value('increase(m[5m])', reset)).toBe(43.75);
    expect(value('rate(m[5m])', reset)).toBe(0.14583333333333334);
  });

  it('needs two samples in the window', () => {
    expect(value('rate(m[5m])', [[300, 5]])).toBeUndefined();
    expect(value('increase(m[1m])', steady)).toBeUndefined();
  });
});

describe('evaluateVector', () => {
  const all = [
    series(
      [
        ['host', 'a'],
        ['region', 'eu'],
      ],
      [[60, 10]],
    ),
    series(
      [
        ['host', 'b'],
        ['region', 'eu'],
      ],
      [[60, 20]],
    ),
    series(
      [
        ['host', 'c'],
        ['region', 'us'],
      ],
      [[60, 40]],
    ),
    series(
      [
        ['host', 'd'],
        ['region', 'us'],
      ],
      [],
    ),
  ];
  const at = (expr: string) => evaluateVector(vector(expr), all, 60 * S);

  it('yields one element per series with samples, without the metric name', () => {
    expect(at('last_over_time(m[1m])')).toEqual([
      {
        labels: [
          ['host', 'a'],
          ['region', 'eu'],
        ],
        value: 10,
      },
      {
        labels: [
          ['host', 'b'],
          ['region', 'eu'],
        ],
        value: 20,
      },
      {
        labels: [
          ['host', 'c'],
          ['region', 'us'],
        ],
        value: 40,
      },
    ]);
  });

  it('aggregates by, without and over everything', () => {
    expect(at('sum by (region) (last_over_time(m[1m]))')).toEqual([
      { labels: [['region', 'eu']], value: 30 },
      { labels: [['region', 'us']], value: 40 },
    ]);
    expect(at('avg without (host) (last_over_time(m[1m]))')).toEqual([
      { labels: [['region', 'eu']], value: 15 },
      { labels: [['region', 'us']], value: 40 },
    ]);
    expect(at('min(last_over_time(m[1m]))')).toEqual([{ labels: [], value: 10 }]);
    expect(at('max(last_over_time(m[1m])) by (region)')).toEqual([
      { labels: [['region', 'eu']], value: 20 },
      { labels: [['region', 'us']], value: 40 },
    ]);
    expect(at('count by (region, nope) (last_over_time(m[1m]))')).toEqual([
      { labels: [['region', 'eu']], value: 2 },
      { labels: [['region', 'us']], value: 1 },
    ]);
    expect(at('sum without (host, region) (last_over_time(m[1m]))')).toEqual([{ labels: [], value: 70 }]);
  });

  it('keeps the first of two series that differ only by metric name', () => {
    const twins = [series([['x', '1']], [[60, 1]], 'a'), series([['x', '1']], [[60, 2]], 'b')];
    expect(evaluateVector(vector('last_over_time({x="1"}[1m])'), twins, 60 * S)).toEqual([
      { labels: [['x', '1']], value: 1 },
    ]);
  });

  it('reports absence with the equality-matcher labels only when no series has a sample in the range', () => {
    expect(at('absent_over_time(m[1m])')).toEqual([]);
    expect(evaluateVector(vector('absent_over_time(m{job="api", env="prod"}[1m])'), all, 200 * S)).toEqual([
      {
        labels: [
          ['env', 'prod'],
          ['job', 'api'],
        ],
        value: 1,
      },
    ]);
    expect(evaluateVector(vector('absent_over_time(m[1m])'), [], 0)).toEqual([{ labels: [], value: 1 }]);
  });

  it('labels absence like Prometheus: no name, no regex, no repeated labels, no empty values', () => {
    const labels = (expr: string) => {
      const parsed = parseExpr(expr);
      if (parsed.type !== 'absent') throw new Error('not absent');
      return absentLabels(parsed.selector);
    };
    expect(labels('absent_over_time(up{job="a", instance=~"x.*", dc!="b", zone=""}[1m])')).toEqual([
      ['job', 'a'],
    ]);
    expect(labels('absent_over_time({__name__="up", job="a", job="b"}[1m])')).toEqual([]);
  });
});
