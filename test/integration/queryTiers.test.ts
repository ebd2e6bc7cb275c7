import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../core/config.js';
import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { startQueryService, type QueryService } from '../../query/service.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import { ensureTables } from '../../sinks/tables.js';
import { quietLog, tempDir, testConfig, unique } from './helpers.js';
import { insertSeries, openFixture, rollUp, type FixtureSeries } from './queryFixture.js';

const dir = tempDir('query-tiers');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const H = Math.floor(Date.now() / HOUR) * HOUR;
const NOW = H + 30 * 60_000;

let config: Config;
let ch: ClickHouse;
let service: QueryService;
let old: QueryService;

const wave = (i: number, t: number) => Math.round(100 * (50 + 40 * Math.sin(t / 700_000 + i))) / 100;
function points(from: number, to: number, f: (t: number) => number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t = from; t <= to; t += 15_000) out.push([t, f(t)]);
  return out;
}

beforeAll(async () => {
  config = testConfig(join(dir, 'clickhouse'), { query: { port: 0 } });
  ch = await openFixture(config);
  const fixture: FixtureSeries[] = [
    ...[0, 1, 2].map((i) => ({
      metric: 'tx_cpu',
      labels: { host: `h${i}` },
      points: points(H - 6 * HOUR, NOW - 60_000, (t) => wave(i, t)),
    })),
    // Its minimum sits exactly at every hour boundary: a window's extreme that the range excludes.
    {
      metric: 'tx_edge',
      labels: { host: 'e' },
      points: points(H - 6 * HOUR, NOW - 60_000, (t) => (t % HOUR === 0 ? 1 : 10 + wave(0, t))),
    },
  ];
  await insertSeries(ch, fixture);
  await rollUp(ch);
  const evaluator = promqlEvaluator({ maxSamples: config.query.maxSamples });
  service = await startQueryService({
    config,
    log: quietLog,
    clickhouse: ch,
    evaluator,
    corrections: false,
    now: () => NOW,
  });

  // A second database whose raw retention is 1 day: 3-day-old data is in the tiers only.
  const oldDb: ClickHouse = { ...ch, database: unique('old') };
  const retention = { ...config.retention, rawDays: 1 };
  // Tables with the default TTL: a 1-day TTL could drop the raw rows before they are rolled up.
  await ensureTables(oldDb, config);
  await insertSeries(oldDb, [
    {
      metric: 'tx_old',
      labels: { host: 'o' },
      points: points(H - 3 * DAY, H - 3 * DAY + 6 * HOUR, (t) => wave(3, t)),
    },
  ]);
  await rollUp(oldDb);
  await oldDb.client.command({
    query: `ALTER TABLE \`${oldDb.database}\`.samples DELETE WHERE 1 SETTINGS mutations_sync = 1`,
  });
  old = await startQueryService({
    config: { ...config, retention, clickhouse: { ...config.clickhouse, database: oldDb.database } },
    log: quietLog,
    clickhouse: oldDb,
    evaluator,
    corrections: false,
    now: () => NOW,
  });
});

afterAll(async () => {
  await service?.close();
  await old?.close();
  await ch?.close();
});

type Matrix = Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
async function range(
  base: QueryService,
  query: string,
  start: number,
  end: number,
  step: string,
  extra: Record<string, string> = {},
): Promise<{
  result: Matrix;
  source: string | null;
  warnings: string[] | undefined;
  stats: Record<string, unknown>;
}> {
  const params = new URLSearchParams({
    query,
    start: String(start / 1000),
    end: String(end / 1000),
    step,
    ...extra,
  });
  const response = await fetch(`${base.url}/api/v1/query_range?${params}`);
  const body = (await response.json()) as {
    status: string;
    data: { result: Matrix; stats: Record<string, unknown> };
    warnings?: string[];
    error?: string;
  };
  expect(response.status, body.error).toBe(200);
  return {
    result: body.data.result,
    source: response.headers.get('x-source-resolution'),
    warnings: body.warnings,
    stats: body.data.stats,
  };
}

function expectSame(a: Matrix, b: Matrix): void {
  expect(a.map((s) => s.metric)).toEqual(b.map((s) => s.metric));
  a.forEach((s, i) => {
    const other = b[i] as Matrix[number];
    expect(s.values.map(([t]) => t)).toEqual(other.values.map(([t]) => t));
    s.values.forEach(([, v], j) => {
      const w = Number(other.values[j]?.[1]);
      expect(Math.abs(Number(v) - w)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(w)));
    });
  });
}

describe('automatic tier choice', () => {
  it('aligned ranges with a step of an hour are answered from samples_1h, exactly as from raw samples', async () => {
    // min/max_over_time of tx_cpu: see the boundary test (its extremes sit at window starts).
    for (const fn of ['avg_over_time', 'sum_over_time', 'count_over_time']) {
      const query = `${fn}(tx_cpu[1h])`;
      const tier = await range(service, query, H - 5 * HOUR, H - HOUR, '1h');
      const raw = await range(service, query, H - 5 * HOUR, H - HOUR, '1h', { max_source_resolution: 'raw' });
      expect([fn, tier.source, raw.source]).toEqual([fn, '1h', 'raw']);
      expect(tier.result).toHaveLength(3);
      expectSame(tier.result, raw.result);
      expect(tier.warnings).toBeUndefined();
    }
  });

  it('5-minute steps over 5-minute ranges come from samples_1m; aggregations on top agree with raw', async () => {
    const query = 'sum(avg_over_time(tx_cpu[5m])) / count(count_over_time(tx_cpu[5m]))';
    const tier = await range(service, query, H - 4 * HOUR, H - HOUR, '5m');
    const raw = await range(service, query, H - 4 * HOUR, H - HOUR, '5m', { max_source_resolution: 'raw' });
    expect(tier.source).toBe('1m');
    expect(tier.result[0]?.values).toHaveLength(37);
    expectSame(tier.result, raw.result);
  });

  it('raw samples answer short steps, unaligned instants, ranges of a part of a window, and unsettled windows', async () => {
    expect((await range(service, 'avg_over_time(tx_cpu[1m])', H - 2 * HOUR, H - HOUR, '30s')).source).toBe(
      'raw',
    );
    expect(
      (await range(service, 'avg_over_time(tx_cpu[1m])', H - 2 * HOUR + 7_000, H - HOUR, '1m')).source,
    ).toBe('raw');
    expect((await range(service, 'avg_over_time(tx_cpu[90s])', H - 2 * HOUR, H - HOUR, '1m')).source).toBe(
      'raw',
    );
    // The newest chunk (last instant now): its windows are not final yet.
    expect((await range(service, 'avg_over_time(tx_cpu[5m])', NOW - 10 * 60_000, NOW, '5m')).source).toBe(
      'raw',
    );
    expect((await range(service, 'deriv(tx_cpu[1h])', H - 5 * HOUR, H - HOUR, '1h')).source).toBe('raw');
  });

  it('a boundary sample that was its window extreme makes min_over_time fall back to raw samples', async () => {
    const query = 'min_over_time(tx_edge[1h])';
    const auto = await range(service, query, H - 4 * HOUR, H - HOUR, '1h');
    const raw = await range(service, query, H - 4 * HOUR, H - HOUR, '1h', { max_source_resolution: 'raw' });
    expect(auto.source).toBe('raw');
    expectSame(auto.result, raw.result);
    // max is not decided by the boundary samples: the tier answers it, exactly.
    const max = await range(service, 'max_over_time(tx_edge[1h])', H - 4 * HOUR, H - HOUR, '1h');
    expect(max.source).toBe('1h');
    expectSame(
      max.result,
      (
        await range(service, 'max_over_time(tx_edge[1h])', H - 4 * HOUR, H - HOUR, '1h', {
          max_source_resolution: 'raw',
        })
      ).result,
    );
  });

  it('max_source_resolution forces a tier; what it approximates is in the warnings', async () => {
    const forced = await range(service, 'rate(tx_cpu[1h])', H - 4 * HOUR, H - HOUR, '1h', {
      max_source_resolution: '1h',
    });
    expect(forced.source).toBe('1h');
    expect(forced.warnings?.join(' ')).toMatch(/without Prometheus' extrapolation/);
  });

  it('beyond raw retention the tiers answer, with a warning saying what was approximated', async () => {
    const start = H - 3 * DAY + 2 * HOUR;
    const avg = await range(old, 'avg_over_time(tx_old[1h])', start, start + 3 * HOUR, '1h');
    expect(avg.source).toBe('1m');
    expect(avg.warnings?.join(' ')).toMatch(/range boundaries are no longer kept/);
    const expected = (t: number) => {
      let sum = 0;
      let n = 0;
      for (let s = t - HOUR; s < t; s += 15_000) {
        sum += wave(3, s);
        n += 1;
      }
      return sum / n;
    };
    const values = avg.result[0]?.values ?? [];
    expect(values, JSON.stringify(avg)).toHaveLength(4);
    for (const [t, v] of values) expect(Number(v)).toBeCloseTo(expected(t * 1000), 6);
    const plain = await range(old, 'tx_old', start, start + HOUR, '5m');
    expect(plain.result).toEqual([]);
    expect(plain.warnings?.join(' ')).toMatch(/older than the raw retention/);
  });
});
