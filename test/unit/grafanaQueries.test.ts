import { describe, expect, it } from 'vitest';
import {
  dashboardQueries,
  formatInterval,
  interpolate,
  panelInterval,
  roundInterval,
  variableText,
  type Dashboard,
} from '../integration/grafanaQueries.js';

describe("Grafana's variables, as its Prometheus data source substitutes them", () => {
  it('rounds intervals as rangeutil.roundInterval and prints the largest unit as gtime.FormatInterval', () => {
    expect(roundInterval(18_947)).toBe(20_000);
    expect(roundInterval(636_631)).toBe(600_000);
    expect(roundInterval(2_728_421)).toBe(3_600_000);
    expect(formatInterval(20_000)).toBe('20s');
    expect(formatInterval(610_000)).toBe('10m');
    expect(formatInterval(86_400_000 * 2)).toBe('2d');
  });

  it('floors $__interval at the scrape interval and keeps under 11,000 points', () => {
    // 1 h on a half-width panel (950 points): 3.8 s, rounded to 5 s, floored at 10 s.
    expect(panelInterval(3_600_000, 12, 10_000)).toBe(10_000);
    // 7 d on a half-width panel: 637 s → 10 m.
    expect(panelInterval(604_800_000, 12, 10_000)).toBe(600_000);
    // A panel asking for 190,000 points gets Grafana's safe interval: 1 h / 11,000 = 327 ms → 200 ms.
    expect(panelInterval(3_600_000, 24 * 100, 10)).toBe(200);
  });

  it('writes a multi-value variable as an escaped regex alternation', () => {
    expect(variableText(['eu-west-1'])).toBe('eu-west-1');
    expect(variableText(['a.b', 'c|d', 'x\\y'])).toBe('(a\\\\.b|c\\\\|d|x\\\\\\\\y)');
  });

  it('substitutes template variables and the built-in ones', () => {
    const text = interpolate(
      'rate(x{h=~"$host", r=~"${region}"}[$__rate_interval]) / $__interval_ms + $__range_s',
      {
        values: new Map([
          ['host', '(a|b)'],
          ['region', 'eu'],
        ]),
        intervalMs: 30_000,
        rateIntervalMs: 40_000,
        rangeMs: 3_600_400,
      },
    );
    expect(text).toBe('rate(x{h=~"(a|b)", r=~"eu"}[40s]) / 30000 + 3600');
  });

  it('takes every panel, nested rows too, and the Prometheus annotations', () => {
    const dashboard: Dashboard = {
      panels: [
        {
          id: 1,
          type: 'stat',
          title: 'S',
          gridPos: { w: 6 },
          targets: [{ refId: 'A', expr: 'up[$__range]', instant: true }],
        },
        {
          id: 2,
          type: 'row',
          title: 'R',
          gridPos: { w: 24 },
          panels: [
            {
              id: 3,
              type: 'timeseries',
              title: 'T',
              gridPos: { w: 12 },
              targets: [{ refId: 'B', expr: 'x[$__interval]' }],
            },
          ],
        },
      ],
      templating: { list: [] },
      annotations: {
        list: [
          { name: 'builtin', datasource: { type: 'grafana' } },
          { name: 'alerts', expr: 'ALERTS', step: '1m', datasource: { type: 'prometheus' } },
        ],
      },
    };
    const queries = dashboardQueries(dashboard, { fromMs: 0, toMs: 21_600_000 }, new Map(), 10_000);
    expect(queries.map((q) => [q.source, q.expr, q.instant, q.step])).toEqual([
      ['S (A)', 'up[21600s]', true, 60],
      ['T (B)', 'x[20s]', false, 20],
      ['annotation alerts', 'ALERTS', false, 60],
    ]);
  });
});
