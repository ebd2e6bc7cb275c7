import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seriesId } from '../../core/series.js';
import type { Config } from '../../core/config.js';
import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { decodeReadResponse, encodeReadRequest } from '../../query/remoteRead.js';
import { startQueryService, type QueryService } from '../../query/service.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import { quietLog, tempDir, testConfig } from './helpers.js';
import {
  insertSeries,
  openFixture,
  promtool,
  rollUp,
  startPrometheus,
  type FixtureSeries,
} from './queryFixture.js';

const dir = tempDir('query');
const HOUR = 3_600_000;
const NOW = Math.floor(Date.now() / HOUR) * HOUR + 30 * 60_000;
const FROM = NOW - 6 * HOUR;
/** A label value with quotes, backslashes and regexp metacharacters. */
const ODD = 'a"b\\c.*+?(x)';

let config: Config;
let ch: ClickHouse;
let service: QueryService;

const cpu = (i: number, t: number) => Math.round(100 * (50 + 40 * Math.sin(t / 600_000 + i))) / 100;
function fixture(): FixtureSeries[] {
  const points = (f: (t: number) => number) => {
    const out: Array<[number, number]> = [];
    for (let t = FROM; t <= NOW - 60_000; t += 15_000) out.push([t, f(t)]);
    return out;
  };
  let counter = 0;
  return [
    { metric: 'fx_cpu', labels: { host: ODD, job: 'api' }, points: points((t) => cpu(0, t)) },
    { metric: 'fx_cpu', labels: { host: 'b', job: 'api' }, points: points((t) => cpu(1, t)) },
    { metric: 'fx_cpu', labels: { host: 'c', job: 'db' }, points: points((t) => cpu(2, t)) },
    {
      metric: 'fx_requests_total',
      labels: { host: 'b' },
      kind: 'counter',
      // Grows by 3 every 15 s, restarts from 0 three hours in.
      points: points((t) => (t === FROM + 3 * HOUR ? (counter = 0) : (counter += 3))),
    },
  ];
}

beforeAll(async () => {
  config = testConfig(join(dir, 'clickhouse'), { query: { port: 0, maxSeries: 50 } });
  ch = await openFixture(config);
  await insertSeries(ch, fixture());
  await rollUp(ch);
  service = await startQueryService({
    config,
    log: quietLog,
    clickhouse: ch,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples }),
    corrections: false,
    now: () => NOW,
  });
});

afterAll(async () => {
  await service?.close();
  await ch?.close();
});

async function api(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${service.url}${path}`, init);
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}
const q = (params: Record<string, string | number>) =>
  new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();

describe('Prometheus HTTP API', () => {
  it('instant query: vector with values, labels with quotes and backslashes intact', async () => {
    const t = NOW - HOUR;
    const { status, body, headers } = await api(
      `/api/v1/query?${q({ query: 'fx_cpu{job="api"}', time: t / 1000 })}`,
    );
    expect(status).toBe(200);
    const data = body.data as {
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    };
    expect(data.resultType).toBe('vector');
    expect(data.result.map((r) => r.metric.host).sort()).toEqual([ODD, 'b'].sort());
    const odd = data.result.find((r) => r.metric.host === ODD);
    expect(odd?.value).toEqual([t / 1000, String(cpu(0, t))]);
    expect(headers.get('x-source-resolution')).toBe('raw');
  });

  it('matchers: = and =~ with escaped metacharacters select the odd value; regexps are anchored', async () => {
    const escaped = ODD.replace(/[\\.*+?()]/g, (c) => `\\${c}`);
    for (const selector of [
      `fx_cpu{host=${JSON.stringify(ODD)}}`,
      `fx_cpu{host=~${JSON.stringify(escaped)}}`,
      `fx_cpu{host!~"b|c"}`,
    ]) {
      const { body } = await api(
        `/api/v1/series?${q({ 'match[]': selector, start: FROM / 1000, end: NOW / 1000 })}`,
      );
      expect(body.data, selector).toEqual([{ __name__: 'fx_cpu', host: ODD, job: 'api' }]);
    }
    // Anchored: "b" does not match "db"'s job nor a prefix of anything.
    const { body } = await api(`/api/v1/series?${q({ 'match[]': 'fx_cpu{job=~"d"}' })}`);
    expect(body.data).toEqual([]);
  });

  it('range query (GET and form POST): matrix at every step', async () => {
    const params = {
      query: 'sum by (job) (fx_cpu)',
      start: (NOW - 2 * HOUR) / 1000,
      end: (NOW - HOUR) / 1000,
      step: '5m',
    };
    const get = await api(`/api/v1/query_range?${q(params)}`);
    const post = await api('/api/v1/query_range', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: q(params),
    });
    expect(get.status).toBe(200);
    expect((post.body.data as { result: unknown }).result).toEqual(
      (get.body.data as { result: unknown }).result,
    );
    const result = (
      get.body.data as { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> }
    ).result;
    expect(result.map((r) => r.metric)).toEqual([{ job: 'api' }, { job: 'db' }]);
    expect(result[0]?.values).toHaveLength(13);
    const t = NOW - 2 * HOUR;
    expect(Number(result[0]?.values[0]?.[1])).toBeCloseTo(cpu(0, t) + cpu(1, t), 9);
  });

  it('labels, label values, metadata, buildinfo', async () => {
    expect((await api('/api/v1/labels')).body.data).toEqual(['__name__', 'host', 'job']);
    expect((await api('/api/v1/label/__name__/values')).body.data).toEqual(['fx_cpu', 'fx_requests_total']);
    expect((await api(`/api/v1/label/host/values?${q({ 'match[]': 'fx_cpu' })}`)).body.data).toEqual(
      [ODD, 'b', 'c'].sort(),
    );
    const limited = await api('/api/v1/label/host/values?limit=1');
    expect(limited.body.data).toHaveLength(1);
    expect(limited.body.warnings).toEqual(['results truncated due to limit']);
    expect((await api('/api/v1/metadata')).body.data).toEqual({
      fx_cpu: [{ type: 'gauge', help: '', unit: '' }],
      fx_requests_total: [{ type: 'counter', help: '', unit: '' }],
    });
    const info = (await api('/api/v1/status/buildinfo')).body.data as Record<string, string>;
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('errors: Prometheus error types and statuses, with the parse position', async () => {
    const cases: Array<[string, number, string, RegExp]> = [
      [`/api/v1/query?${q({ query: 'sum(fx_cpu' })}`, 400, 'bad_data', /1:11: parse error/],
      [
        `/api/v1/query?${q({ query: 'fx_cpu', time: 'yesterday' })}`,
        400,
        'bad_data',
        /cannot parse "yesterday" to a valid timestamp/,
      ],
      [
        `/api/v1/query_range?${q({ query: 'fx_cpu', start: 10, end: 5, step: 1 })}`,
        400,
        'bad_data',
        /end timestamp must not be before start time/,
      ],
      [
        `/api/v1/query_range?${q({ query: 'fx_cpu', start: 0, end: 5, step: 0 })}`,
        400,
        'bad_data',
        /zero or negative/,
      ],
      [
        `/api/v1/query_range?${q({ query: 'fx_cpu', start: 0, end: 100000, step: 1 })}`,
        400,
        'bad_data',
        /11,000 points/,
      ],
      [`/api/v1/query?${q({ query: '{job=~".*"}' })}`, 400, 'bad_data', /non-empty matcher/],
      ['/api/v1/series', 400, 'bad_data', /no match\[\] parameter provided/],
      ['/api/v1/nothing', 404, 'not_found', /no endpoint/],
      [
        `/api/v1/query?${q({ query: 'fx_cpu', max_source_resolution: '5s' })}`,
        400,
        'bad_data',
        /max_source_resolution/,
      ],
    ];
    for (const [path, status, type, message] of cases) {
      const { status: got, body } = await api(path);
      expect([got, body.status, body.errorType], path).toEqual([status, 'error', type]);
      expect(body.error, path).toMatch(message);
    }
  });

  it('limits: series and samples per query give 422 execution naming the limit', async () => {
    const samples = await startQueryService({
      config: { ...config, query: { ...config.query, maxSamples: 1000 } },
      log: quietLog,
      clickhouse: ch,
      evaluator: promqlEvaluator({ maxSamples: 1_000_000 }),
      corrections: false,
      now: () => NOW,
    });
    const series = await startQueryService({
      config: { ...config, query: { ...config.query, maxSeries: 2 } },
      log: quietLog,
      clickhouse: ch,
      evaluator: promqlEvaluator({ maxSamples: 1_000_000 }),
      corrections: false,
      now: () => NOW,
    });
    try {
      const a = await fetch(
        `${samples.url}/api/v1/query?${q({ query: 'max_over_time(fx_cpu[6h])', time: NOW / 1000 })}`,
      );
      expect(a.status).toBe(422);
      expect(await a.json()).toMatchObject({
        errorType: 'execution',
        error: expect.stringMatching(/query\.maxSamples = 1000/),
      });
      const b = await fetch(`${series.url}/api/v1/query?${q({ query: 'fx_cpu', time: NOW / 1000 })}`);
      expect(b.status).toBe(422);
      expect(await b.json()).toMatchObject({
        errorType: 'execution',
        error: expect.stringMatching(/query\.maxSeries = 2/),
      });
    } finally {
      await samples.close();
      await series.close();
    }
  });

  it('timeout: a query past its timeout answers 503 timeout', async () => {
    const { status, body } = await api(
      `/api/v1/query_range?${q({ query: 'count_over_time(fx_cpu[6h])', start: FROM / 1000, end: NOW / 1000, step: 2, timeout: '1ms' })}`,
    );
    expect([status, body.errorType]).toEqual([503, 'timeout']);
  });

  it('fuzzed bad input never crashes the server nor gives a 500', async () => {
    const inputs = [
      '',
      '(',
      ')',
      '{',
      'sum by (',
      'rate(x[5m',
      'x[5m]',
      '1 +',
      '"\\',
      'x{a="\\q"}',
      'x offset',
      '@',
      'x @ 1e400',
      'label_replace(x, "a", "$1", "b", "(")',
      'x{a=~"("}',
      'x[1y1y]',
      'topk(x, y)',
      'histogram_quantile()',
      '\u0000',
      'x'.repeat(5000),
      'sum(sum(sum(sum(sum(sum(x))))))',
      '-',
      '--1',
      'x unless on() group_left y',
      '{__name__=~""}',
    ];
    for (const query of inputs) {
      for (const path of ['/api/v1/query', '/api/v1/query_range']) {
        const { status, body } = await api(
          `${path}?${q({ query, time: NOW / 1000, start: (NOW - HOUR) / 1000, end: NOW / 1000, step: 60 })}`,
        );
        expect(status, `${path} ${query.slice(0, 40)}`).toBeLessThan(500);
        expect(['success', 'error']).toContain(body.status);
      }
    }
    const garbage = await fetch(`${service.url}/api/v1/read`, { method: 'POST', body: 'not snappy' });
    expect(garbage.status).toBe(400);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
  });
});

describe('real Prometheus clients', () => {
  it("promtool's query instant, range, series and labels", async () => {
    const instant = await promtool([
      'query',
      'instant',
      '--time',
      String((NOW - HOUR) / 1000),
      service.url,
      'fx_cpu{host="b"}',
    ]);
    expect(instant.code, instant.stderr).toBe(0);
    expect(instant.stdout).toContain(`fx_cpu{host="b", job="api"} => ${cpu(1, NOW - HOUR)}`);
    const range = await promtool([
      'query',
      'range',
      '--start',
      String((NOW - 2 * HOUR) / 1000),
      '--end',
      String((NOW - HOUR) / 1000),
      '--step',
      '30m',
      service.url,
      'max by (job) (fx_cpu)',
    ]);
    expect(range.code, range.stderr).toBe(0);
    expect(range.stdout).toMatch(/\{job="api"\} =>\n(.+ @\[\d+(\.\d+)?\]\n){3}/);
    const series = await promtool(['query', 'series', '--match', 'fx_requests_total', service.url]);
    expect(series.code, series.stderr).toBe(0);
    expect(series.stdout.trim()).toBe('{__name__="fx_requests_total", host="b"}');
    const labels = await promtool(['query', 'labels', service.url, 'job']);
    expect(labels.code, labels.stderr).toBe(0);
    expect(labels.stdout.trim().split('\n')).toEqual(['api', 'db']);
  });

  it('remote read: a real Prometheus reads our samples through remote_read', async () => {
    const prometheus = await startPrometheus(
      dir,
      `global: { scrape_interval: 1m }
remote_read:
  - url: ${service.url}/api/v1/read
    read_recent: true
`,
    );
    try {
      const t = NOW - 3 * HOUR;
      const response = await fetch(
        `${prometheus.url}/api/v1/query?${q({ query: 'fx_cpu{host="c"}', time: t / 1000 })}`,
      );
      const body = (await response.json()) as {
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      expect(body.data.result).toEqual([
        { metric: { __name__: 'fx_cpu', host: 'c', job: 'db' }, value: [t / 1000, String(cpu(2, t))] },
      ]);
      const rate = await fetch(
        `${prometheus.url}/api/v1/query?${q({ query: 'increase(fx_requests_total[10m])', time: t / 1000 + 3600 })}`,
      );
      const rateBody = (await rate.json()) as { data: { result: Array<{ value: [number, string] }> } };
      expect(Number(rateBody.data.result[0]?.value[1])).toBeCloseTo(120, 6);
    } finally {
      await prometheus.stop();
    }
    // The protocol directly: two queries, SAMPLES answers in order.
    const response = await fetch(`${service.url}/api/v1/read`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
      body: new Uint8Array(
        encodeReadRequest([
          {
            startMs: NOW - HOUR,
            endMs: NOW - HOUR + 30_000,
            matchers: [
              { name: '__name__', type: '=', value: 'fx_cpu' },
              { name: 'job', type: '=', value: 'db' },
            ],
          },
          { startMs: NOW - HOUR, endMs: NOW, matchers: [{ name: '__name__', type: '=', value: 'nothing' }] },
        ]),
      ),
    });
    expect(response.status).toBe(200);
    const results = decodeReadResponse(Buffer.from(await response.arrayBuffer()));
    expect(results).toHaveLength(2);
    expect(results[0]?.[0]?.timestamps).toEqual([NOW - HOUR, NOW - HOUR + 15_000, NOW - HOUR + 30_000]);
    expect(results[1]).toEqual([]);
  });
});

// Adds a series to the shared fixture: last, so that the exact label lists above stay as they are.
describe('series index', () => {
  it('a series whose last_seen lags its newest samples (refreshed once a minute) is still selected', async () => {
    const t = NOW - 2 * HOUR;
    const labels = { host: 'lagging' };
    const id = seriesId('fx_lag', [['host', 'lagging']]).toString();
    const db = `\`${ch.database}\``;
    await ch.client.insert({
      table: `${db}.series`,
      values: [{ metric: 'fx_lag', series_id: id, labels, kind: 'gauge', first_seen: t, last_seen: t }],
      format: 'JSONEachRow',
    });
    await ch.client.insert({
      table: `${db}.samples`,
      values: [0, 10, 20, 30, 40, 50].map((s) => ({
        metric: 'fx_lag',
        series_id: id,
        ts: t + s * 1000,
        value: s,
        kind: 'gauge',
      })),
      format: 'JSONEachRow',
    });
    const series = await api(
      `/api/v1/series?${q({ 'match[]': 'fx_lag', start: (t + 25_000) / 1000, end: (t + 55_000) / 1000 })}`,
    );
    expect(series.body.data).toEqual([{ __name__: 'fx_lag', host: 'lagging' }]);
    const instant = await api(
      `/api/v1/query?${q({ query: 'max_over_time(fx_lag[30s])', time: (t + 55_000) / 1000 })}`,
    );
    expect((instant.body.data as { result: Array<{ value: [number, string] }> }).result[0]?.value[1]).toBe(
      '50',
    );
  });
});
