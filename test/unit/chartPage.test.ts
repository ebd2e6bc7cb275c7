import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import { alignSeries, formatValue, seriesLabel } from '../../query/ui/browser/series.js';
import { chooseStep, formatDuration } from '../../query/ui/browser/step.js';
import {
  choiceFromParams,
  choiceToParams,
  parseTime,
  resolveRange,
} from '../../query/ui/browser/timeRange.js';
import { chartPageHandler } from '../../query/ui/chartPage.js';

describe('chart page step', () => {
  it('is the range over the width, rounded up to a round interval, as $__interval', () => {
    expect(chooseStep(3600, 1200)).toBe(5); // 3 s a pixel → 5 s
    expect(chooseStep(6 * 3600, 1200)).toBe(30); // 18 s → 30 s
    expect(chooseStep(7 * 86400, 1000)).toBe(900); // 604.8 s → 15 m
    expect(chooseStep(30 * 86400, 1000)).toBe(3600); // 43 m → 1 h
    expect(chooseStep(900, 1200)).toBe(1);
    expect(chooseStep(900, 1200, 15)).toBe(15);
    expect(chooseStep(400 * 86400, 100)).toBe(4 * 86400);
  });

  it('keeps the points at most one a pixel', () => {
    for (const range of [900, 3600, 21600, 86400, 7 * 86400, 30 * 86400]) {
      for (const width of [300, 777, 1200, 2560]) {
        expect(range / chooseStep(range, width)).toBeLessThanOrEqual(width);
      }
    }
  });

  it('prints as a Prometheus duration', () => {
    expect(formatDuration(30)).toBe('30s');
    expect(formatDuration(90)).toBe('1m30s');
    expect(formatDuration(86400 + 3600)).toBe('1d1h');
  });
});

describe('chart page series', () => {
  it('labels a series as Prometheus prints it', () => {
    expect(seriesLabel({ __name__: 'up', job: 'a', instance: 'x"y' })).toBe('up{instance="x\\"y", job="a"}');
    expect(seriesLabel({ __name__: 'up' })).toBe('up');
    expect(seriesLabel({ region: 'eu' })).toBe('{region="eu"}');
    expect(seriesLabel({})).toBe('{}');
  });

  it('puts every series on the evaluation grid, gaps and non-finite values as null', () => {
    const aligned = alignSeries(
      [
        {
          metric: { __name__: 'a' },
          values: [
            [100, '1'],
            [120, '2'],
          ],
        },
        {
          metric: { __name__: 'b' },
          values: [
            [110, 'NaN'],
            [120, '+Inf'],
            [130, '-3.5'],
          ],
        },
      ],
      { start: 100, end: 135, step: 10 },
    );
    expect(aligned.x).toEqual([100, 110, 120, 130]);
    expect(aligned.series).toEqual([
      { label: 'a', values: [1, null, 2, null] },
      { label: 'b', values: [null, null, null, -3.5] },
    ]);
  });

  it('shortens values with SI prefixes', () => {
    expect(formatValue(4.2e9)).toBe('4.2G');
    expect(formatValue(35.512)).toBe('35.51');
    expect(formatValue(-1500)).toBe('-1.5k');
    expect(formatValue(0.012345)).toBe('0.01235');
    expect(formatValue(null)).toBe('—');
  });
});

describe('chart page time range', () => {
  it('resolves presets against now and keeps absolute ranges', () => {
    expect(resolveRange({ preset: '6h' }, 100_000.7)).toEqual({ start: 100_000 - 21600, end: 100_000 });
    expect(resolveRange({ from: 5, to: 9 }, 100)).toEqual({ start: 5, end: 9 });
  });

  it('reads times as the API does: unix seconds or RFC 3339', () => {
    expect(parseTime('1700000000')).toBe(1_700_000_000);
    expect(parseTime('2024-01-15T12:00:00Z')).toBe(Date.UTC(2024, 0, 15, 12) / 1000);
    expect(parseTime('yesterday')).toBeUndefined();
    expect(parseTime('')).toBeUndefined();
  });

  it('round-trips through the page URL, defaulting to the last hour', () => {
    const params = new URLSearchParams('expr=up');
    expect(choiceFromParams(params)).toEqual({ preset: '1h' });
    choiceToParams({ from: 10, to: 20 }, params);
    expect(choiceFromParams(params)).toEqual({ from: 10, to: 20 });
    choiceToParams({ preset: '7d' }, params);
    expect(params.toString()).toBe('expr=up&range=7d');
    expect(choiceFromParams(new URLSearchParams('range=2y'))).toEqual({ preset: '1h' });
    expect(choiceFromParams(new URLSearchParams('from=20&to=10'))).toEqual({ preset: '1h' });
  });
});

describe('chart page handler', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const handler = chartPageHandler(createLogger('test', 'warn'));
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the page, its bundled script and its style sheet, gzipped when asked', async () => {
    const html = await fetch(`${url}/`);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toContain('<script type="module" src="ui/app.js">');
    const js = await fetch(`${url}/ui/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-encoding')).toBe('gzip');
    // uPlot and the PromQL grammar are in the bundle: nothing is loaded from elsewhere.
    const script = await js.text();
    expect(script).toContain('u-legend');
    expect(script).not.toMatch(/https?:\/\/(cdn|unpkg|esm\.sh)/);
    const css = await fetch(`${url}/ui/app.css`);
    expect(await css.text()).toContain('.uplot');
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const other = await fetch(`${url}/favicon.ico`);
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('no page /favicon.ico: the chart page is /, the API /api/v1/\n');
    const post = await fetch(`${url}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });
});
