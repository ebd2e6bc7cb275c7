import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../core/config.js';
import { tierTopic, type TierConfig } from '../../core/tiers.js';
import { createKafka } from '../../core/kafka.js';
import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { startQueryService, type QueryService } from '../../query/service.js';
import { encodeRollupBatch } from '../../schemas/encodeRollup.js';
import { rollupBatchSchema } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import { onesResult, quietLog, tempDir, testConfig } from './helpers.js';
import { insertSeries, openFixture } from './queryFixture.js';

const dir = tempDir('query-cache');
const HOUR = 3_600_000;
const H = Math.floor(Date.now() / HOUR) * HOUR;
let now = H + 30 * 60_000;

let config: Config;
let ch: ClickHouse;
let service: QueryService;

beforeAll(async () => {
  config = testConfig(join(dir, 'clickhouse'), { query: { port: 0 } });
  ch = await openFixture(config);
  const points: Array<[number, number]> = [];
  for (let t = H - 8 * HOUR; t <= H + 2 * HOUR; t += 30_000) points.push([t, (t / 30_000) % 97]);
  await insertSeries(ch, [
    { metric: 'cx_load', labels: { host: 'a' }, points },
    { metric: 'cx_load', labels: { host: 'b' }, points: points.map(([t, v]) => [t, v * 2]) },
  ]);
  service = await startQueryService({
    config,
    log: quietLog,
    clickhouse: ch,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples }),
    corrections: true,
    now: () => now,
  });
});

afterAll(async () => {
  await service?.close();
  await ch?.close();
});

/** The dashboard's panel: the last 6 h at a 30 s step, start aligned to the step as Grafana does. */
async function refresh(): Promise<{ computed: number; cached: number; calls: number; values: number }> {
  const end = Math.floor(now / 30_000) * 30_000;
  const params = new URLSearchParams({
    query: 'sum(cx_load)',
    start: String((end - 6 * HOUR) / 1000),
    end: String(end / 1000),
    step: '30',
  });
  const before = service.store.calls;
  const response = await fetch(`${service.url}/api/v1/query_range?${params}`);
  const body = (await response.json()) as {
    data: { result: Array<{ values: unknown[] }>; stats: { chunksComputed: number; chunksCached: number } };
  };
  expect(response.status).toBe(200);
  return {
    computed: body.data.stats.chunksComputed,
    cached: body.data.stats.chunksCached,
    calls: service.store.calls - before,
    values: body.data.result[0]?.values.length ?? 0,
  };
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return Number(line?.split(' ').pop() ?? 0);
}

describe('results cache', () => {
  it('a dashboard refreshing a 6 h range every 30 s recomputes only its newest chunk', async () => {
    const first = await refresh();
    expect(first).toMatchObject({ computed: 7, cached: 0, values: 721 });
    // One evaluation of `sum(cx_load)` (its series, then its samples) for the six settled chunks
    // together, one for the newest.
    expect(first.calls).toBe(4);
    now += 30_000;
    const second = await refresh();
    expect(second).toMatchObject({ computed: 1, cached: 6, calls: 2, values: 721 });
    expect(await metric('query_cache_hits_total')).toBe(6);
    expect(await metric('query_cache_misses_total')).toBe(6);
  });

  it('chunks expire by the age of their data: under an hour old after 60 s, older after 300 s', async () => {
    now += 61_000;
    // The chunk of the last hour expired; the older ones (TTL 300 s) did not.
    expect(await refresh()).toMatchObject({ computed: 2, cached: 5 });
    expect(await metric('query_cache_evictions_total{reason="expired"}')).toBe(1);
  });

  it('a corrected window drops the cached chunks over it', async () => {
    const registry = new Registry(config.schemaRegistry.url as string);
    const schemaId = await registry.register(
      `${tierTopic(config, config.tiers[0] as TierConfig)}-value`,
      rollupBatchSchema,
    );
    const producer = createKafka(config.kafka.brokers, 'test', quietLog).producer();
    await producer.connect();
    const windowStart = H - 3 * HOUR;
    await producer.send({
      topic: tierTopic(config, config.tiers[0] as TierConfig),
      messages: [
        {
          key: 'x',
          value: encodeRollupBatch(
            [
              onesResult({
                seriesId: '1',
                name: 'cx_load',
                labels: { host: 'a' },
                windowStart,
                count: 3,
                revision: 2,
              }),
            ],
            schemaId,
          ),
        },
      ],
    });
    await producer.disconnect();
    for (let i = 0; (await metric('query_cache_evictions_total{reason="correction"}')) === 0; i++) {
      if (i > 300) throw new Error('the correction never reached the cache');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Chunks from H-3h on held the corrected window or read it through their ranges.
    expect(await metric('query_cache_evictions_total{reason="correction"}')).toBe(3);
    expect(await refresh()).toMatchObject({ computed: 4, cached: 3 });
  });
});
