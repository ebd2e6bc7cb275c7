import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { seriesId } from '../../core/series.js';
import {
  backfill,
  startPrometheus,
  type BackfillResult,
  type RunningPrometheus,
} from '../../bench/prometheus.js';
import { queryCases } from '../../bench/queryCases.js';
import { dataSet, METRIC, seed, type SeedSizes } from '../../bench/queryData.js';
import { timings } from '../../bench/queryTiming.js';
import { openClickHouse, queryRows, type ClickHouse } from '../../sinks/clickhouse.js';
import { ensureTables } from '../../sinks/tables.js';
import { tempDir } from './helpers.js';

/** The query bench's data set at its smallest (100 series): what both sides hold, and that it is the same. */
describe('query bench data set', () => {
  const dir = tempDir('qbench');
  const d = dataSet(100, Date.now());
  let ch: ClickHouse;
  let sizes: SeedSizes;
  let filled: BackfillResult;
  let prometheus: RunningPrometheus | undefined;

  beforeAll(async () => {
    ch = await openClickHouse({
      path: join(dir, 'clickhouse'),
      database: 'qbench',
      user: 'default',
      password: '',
    });
    await ensureTables(ch, {
      retention: { rawDays: 1, alertDays: 365 },
      tiers: loadConfig(undefined, {}).tiers.map((t) => ({
        ...t,
        retentionDays: t.name === '1m' ? 31 : 365,
      })),
    });
    sizes = await seed(ch, d, () => undefined);
    filled = await backfill(ch, d, dir, join(dir, 'tsdb'), () => undefined);
  });
  afterAll(async () => {
    await prometheus?.stop();
    await ch.close();
  });

  it('seeds every tier with the sizes its spans give, series ids as the pipeline computes them', async () => {
    expect(sizes).toMatchObject({
      series: 100,
      rawSamples: 100 * 240,
      minuteRows: 100 * 30 * 1440,
      hourRows: 100 * 90 * 24,
    });
    const series = await queryRows<{ series_id: string; labels: Record<string, string> }>(
      ch,
      `SELECT series_id, labels FROM qbench.series`,
    );
    for (const s of series.slice(0, 5)) {
      const labels = Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1));
      expect(seriesId(METRIC, labels).toString()).toBe(s.series_id);
    }
    const one = series.filter((s) => s.labels.instance === 'host-0000:9100');
    expect(one).toHaveLength(1);
    expect(series.filter((s) => s.labels.dc === 'dc-000')).toHaveLength(100);
  });

  it('writes 1m and 1h rows equal to the aggregates of the raw samples they cover', async () => {
    for (const [tier, size] of [
      ['1m', 60],
      ['1h', 3600],
    ] as const) {
      const mismatches = await queryRows<{ n: string }>(
        ch,
        `SELECT count() AS n FROM (
           SELECT series_id, toStartOfInterval(ts, INTERVAL ${size} SECOND) AS w, count() AS c, sum(value) AS s,
             min(value) AS lo, max(value) AS hi, argMin(value, ts) AS f, argMax(value, ts) AS l
           FROM qbench.samples GROUP BY series_id, w) AS raw
         INNER JOIN qbench.samples_${tier} AS t ON t.series_id = raw.series_id AND t.ts = raw.w
         WHERE t.count != raw.c OR t.sum != raw.s OR t.min != raw.lo OR t.max != raw.hi OR t.first != raw.f
           OR t.last != raw.l OR t.increase != raw.l - raw.f OR t.avg != raw.s / raw.c`,
      );
      expect(mismatches[0]?.n, tier).toBe('0');
      const [covered] = await queryRows<{ n: string }>(
        ch,
        `SELECT count() AS n FROM qbench.samples_${tier} WHERE ts >= fromUnixTimestamp(${d.endS - 3600})`,
      );
      expect(Number(covered?.n), tier).toBe(tier === '1m' ? 100 * 60 : 100);
    }
  });

  it('gives Prometheus every raw sample of the last hour and one per minute / hour before, the same values', async () => {
    // 100 series (all in the 30-day scope): 240 raw, (30 d × 1440 − 60) minutes, 60 d × 24 hours each.
    expect(filled.samples).toBe(100 * (240 + 30 * 1440 - 60 + 60 * 24));
    prometheus = await startPrometheus(dir, join(dir, 'tsdb'));
    const ask = async (query: string, time: number) => {
      const body = (await (
        await fetch(`${prometheus?.url}/api/v1/query?${new URLSearchParams({ query, time: String(time) })}`)
      ).json()) as { data: { result: Array<{ value: [number, string] }> } };
      return body.data.result.map((r) => Number(r.value[1]));
    };
    expect(await ask(`sum(count_over_time(${METRIC}[91d]))`, d.endS)).toEqual([filled.samples]);
    const [raw] = await queryRows<{ v: number }>(
      ch,
      `SELECT sum(value) AS v FROM qbench.samples WHERE ts = fromUnixTimestamp(${d.endS - 15})`,
    );
    expect(await ask(`sum(${METRIC})`, d.endS)).toEqual([raw?.v]);
    const [hour] = await queryRows<{ v: number }>(
      ch,
      `SELECT sum(first) AS v FROM qbench.samples_1h WHERE ts = fromUnixTimestamp(${d.originS})`,
    );
    expect(await ask(`sum(${METRIC})`, d.originS)).toEqual([hour?.v]);
  });

  it('asks every query of a span over data that span holds', () => {
    const cases = queryCases(d);
    expect(cases).toHaveLength(28);
    for (const c of cases.filter((c) => c.kind === 'range')) {
      expect(Number(c.params.start)).toBeGreaterThan(d.originS);
      expect(Number(c.params.end)).toBe(d.endS);
    }
    expect(timings([5, 1, 3, 2, 4])).toEqual({ n: 5, p50Ms: 3, p99Ms: 5 });
    expect(timings([])).toEqual({ n: 0, p50Ms: null, p99Ms: null });
  });
});
