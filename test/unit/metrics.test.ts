import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import { StorageHealth } from '../../sinks/storageHealth.js';
import { embeddedInsert } from '../../sinks/insertNative.js';
import { startAdminServer, type AdminServer } from '../../streams/adminServer.js';
import { finalize, sampleAggregator } from '../../core/aggregate.js';
import { WindowResults } from '../../sinks/rollupSink.js';
import {
  createTopologyMetrics,
  EVENT_TO_STORE_EVERY,
  observeWindowResults,
  PartitionLag,
  RowSampler,
  STAGES,
  type TopologyMetrics,
} from '../../topology/metrics.js';
import { clickhouseEndpoints } from '../../sql/adminSql.js';

const log = createLogger('metrics-test', 'silent');

/** The lines of a Prometheus text exposition, for exact matches. */
async function scrape(metrics: TopologyMetrics): Promise<string[]> {
  return (await metrics.registry.metrics()).split('\n');
}

describe('createTopologyMetrics', () => {
  it('uses its own registry, not the global one', () => {
    const registry = new Registry();
    const metrics = createTopologyMetrics(registry);
    expect(metrics.registry).toBe(registry);
    expect(createTopologyMetrics().registry).not.toBe(registry);
  });

  it('starts every known stage, reject kind and tier at 0', async () => {
    const lines = await scrape(createTopologyMetrics());
    for (const stage of STAGES) {
      expect(lines).toContain(`metrics_pipeline_records_in_total{stage="${stage}"} 0`);
      expect(lines).toContain(`metrics_pipeline_records_out_total{stage="${stage}"} 0`);
    }
    expect(lines).toContain('metrics_pipeline_dead_lettered_total{reason_kind="decode"} 0');
    expect(lines).toContain('metrics_pipeline_late_total{tier="1h"} 0');
    expect(lines).toContain('metrics_pipeline_commit_total 0');
  });

  it('times an insert with startTimer', async () => {
    const metrics = createTopologyMetrics();
    const done = metrics.sinkLatencySeconds.startTimer({ table: 'samples_1m' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done()).toBeGreaterThan(0.004);
    expect(await scrape(metrics)).toContain(
      'metrics_pipeline_sink_latency_seconds_count{table="samples_1m"} 1',
    );
  });
});

describe('consumer lag', () => {
  it('drops the lag of partitions an assignment no longer holds, and keeps the others', async () => {
    const metrics = createTopologyMetrics();
    const lag = new PartitionLag(metrics.consumerLag);
    lag.set('metrics', 0, 5);
    lag.set('metrics', 1, 7);
    lag.set('repartition', 1, 2);
    lag.assigned({ metrics: [1], repartition: [0] });
    const lines = (await scrape(metrics)).filter((l) => l.startsWith('metrics_pipeline_consumer_lag{'));
    expect(lines).toEqual(['metrics_pipeline_consumer_lag{topic="metrics",partition="1"} 7']);
    // A partition that comes back is shown again once its lag is measured.
    lag.set('metrics', 0, 3);
    lag.assigned({ metrics: [0, 1] });
    expect((await scrape(metrics)).filter((l) => l.startsWith('metrics_pipeline_consumer_lag{'))).toEqual([
      'metrics_pipeline_consumer_lag{topic="metrics",partition="1"} 7',
      'metrics_pipeline_consumer_lag{topic="metrics",partition="0"} 3',
    ]);
  });
});

describe('event-to-store latency', () => {
  it('observes one row in every N of a table, across its writes, so that every row weighs the same', () => {
    const sampler = new RowSampler(4);
    const seen: number[] = [];
    const latency = { observe: (v: number) => seen.push(v) };
    // Three writes of 3, 1 and 10 rows; row k (counted across writes) has event time k seconds.
    let k = 0;
    for (const length of [3, 1, 10]) {
      const times = Float64Array.from({ length }, () => k++ * 1000);
      sampler.observe(latency, 100_000, times, length);
    }
    // Rows 0, 4, 8 and 12 of the 14.
    expect(seen).toEqual([100, 96, 92, 88]);
  });

  it("observes one window result in EVENT_TO_STORE_EVERY of a tier's writes, not every result", async () => {
    const metrics = createTopologyMetrics();
    const aggregate = finalize(sampleAggregator.create());
    const series = { name: 'm', labels: [] as Array<[string, string]>, kind: 'gauge' as const };
    const write = (n: number) =>
      WindowResults.of(
        Array.from({ length: n }, (_, i) => ({
          tier: '1m',
          seriesKey: String(i),
          series,
          start: i * 60_000,
          end: (i + 1) * 60_000,
          aggregate,
          revision: 0,
        })),
      );
    const sizes = [1000, 30, 3000];
    for (const n of sizes) observeWindowResults(metrics, write(n), performance.now());
    const total = sizes.reduce((a, b) => a + b, 0);
    const count = (await scrape(metrics)).find((l) =>
      l.startsWith('metrics_pipeline_event_to_store_seconds_count{table="samples_1m"}'),
    );
    expect(Number(count?.split(' ').at(-1))).toBe(Math.ceil(total / EVENT_TO_STORE_EVERY));
  });
});

describe('admin server', () => {
  const chdb = createChdbConnection({ path: ':memory:' });
  const clickhouse: ClickHouse = {
    // chdb and @clickhouse/client each bundle a copy of the same Connection types.
    client: createClient({ connection: chdb as never }),
    database: 'metrics',
    embeddedPath: undefined,
    health: new StorageHealth(),
    insertNative: embeddedInsert(chdb.chdb, chdb.chdb.session.path),
    close: () => clickhouse.client.close(),
  };
  const metrics = createTopologyMetrics();
  let ready = false;
  let server: AdminServer;
  let bare: AdminServer;

  beforeAll(async () => {
    server = await startAdminServer({
      port: 0,
      ready: () => ready,
      log,
      metrics,
      extensions: [clickhouseEndpoints(clickhouse)],
    });
    bare = await startAdminServer({
      port: 0,
      ready: () => ready,
      log,
      extensions: [clickhouseEndpoints(clickhouse)],
    });
  });

  afterAll(async () => {
    await server.close();
    await bare.close();
    await clickhouse.close();
  });

  it('answers /healthz, and /readyz once ready', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    const before = await fetch(`${server.url}/readyz`);
    expect([before.status, await before.text()]).toEqual([503, 'not ready\n']);
    ready = true;
    const after = await fetch(`${server.url}/readyz`);
    expect([after.status, await after.text()]).toEqual([200, 'ready\n']);
  });

  it('exposes the metrics in Prometheus text format at /metrics', async () => {
    metrics.recordsIn.inc({ stage: 'decode' }, 5);
    metrics.recordsIn.labels({ stage: 'decode' }).inc();
    metrics.recordsOut.inc({ stage: 'decode' }, 4);
    metrics.deadLettered.inc({ reason_kind: 'validate' }, 2);
    metrics.consumerLag.set({ topic: 'metrics', partition: 3 }, 42);
    metrics.watermarkSeconds.set({ tier: '1m' }, 1_700_000_000);
    metrics.sinkBatchRows.observe({ table: 'samples' }, 500);
    metrics.commits.inc();

    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const lines = (await response.text()).split('\n');
    const at = lines.indexOf('# HELP metrics_pipeline_records_in_total Records that entered a stage');
    expect(lines.slice(at, at + 4)).toEqual([
      '# HELP metrics_pipeline_records_in_total Records that entered a stage',
      '# TYPE metrics_pipeline_records_in_total counter',
      'metrics_pipeline_records_in_total{stage="source"} 0',
      'metrics_pipeline_records_in_total{stage="decode"} 6',
    ]);
    expect(lines).toEqual(
      expect.arrayContaining([
        'metrics_pipeline_records_out_total{stage="decode"} 4',
        'metrics_pipeline_dead_lettered_total{reason_kind="validate"} 2',
        'metrics_pipeline_dead_lettered_total{reason_kind="decode"} 0',
        '# TYPE metrics_pipeline_consumer_lag gauge',
        'metrics_pipeline_consumer_lag{topic="metrics",partition="3"} 42',
        'metrics_pipeline_watermark_seconds{tier="1m"} 1700000000',
        '# TYPE metrics_pipeline_sink_batch_rows histogram',
        'metrics_pipeline_sink_batch_rows_bucket{le="300",table="samples"} 0',
        'metrics_pipeline_sink_batch_rows_bucket{le="1000",table="samples"} 1',
        'metrics_pipeline_sink_batch_rows_bucket{le="+Inf",table="samples"} 1',
        'metrics_pipeline_sink_batch_rows_sum{table="samples"} 500',
        'metrics_pipeline_sink_batch_rows_count{table="samples"} 1',
        'metrics_pipeline_commit_total 1',
        'metrics_pipeline_commit_failures_total 0',
      ]),
    );
    expect(lines.some((l) => /^process_resident_memory_bytes \d+$/.test(l))).toBe(true);
  });

  it('has no /metrics without a registry, and no /sql without the embedded engine', async () => {
    expect((await fetch(`${bare.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${server.url}/sql`, { method: 'POST', body: 'SELECT 1' })).status).toBe(404);
  });
});
