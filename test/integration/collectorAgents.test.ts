import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OTLPMetricExporter as OtlpJsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OtlpProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import type { Config } from '../../core/config.js';
import { freePort } from '../../services/ports.js';
import { query, quietLog, runToEnd, tempDir, testConfig, within } from './helpers.js';

const dir = tempDir('collector-agents');
const TOKEN = 'agents-tenant-token-0123456789';
let config: Config;
let collector: Collector;

beforeAll(async () => {
  config = testConfig(join(dir, 'clickhouse'), {
    collector: { port: 0, wal: { dir: join(dir, 'wal') }, tenants: [{ name: 'agents', token: TOKEN }] },
  });
  collector = await startCollector({ config, log: quietLog });
});

afterAll(async () => {
  await collector?.close();
});

/** Samples the collector has accepted so far, from its own /metrics. */
async function accepted(): Promise<number> {
  const text = await (await fetch(`${collector.url}/metrics`)).text();
  return Number(/^collector_samples_total\{outcome="accepted"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** Resolves once `condition` holds, checking every 100 ms; fails after `timeoutMs`. */
async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const db = () => `\`${config.clickhouse.database}\``;

describe('real agents push to the collector', () => {
  it("a Prometheus server's remote_write arrives in ClickHouse with its labels", async () => {
    const port = await freePort();
    const file = join(dir, 'prometheus.yml');
    writeFileSync(
      file,
      `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ['127.0.0.1:${port}']
        labels: { env: it }
remote_write:
  - url: ${collector.url}/api/v1/write
    authorization: { credentials: ${TOKEN} }
    queue_config: { batch_send_deadline: 1s, max_samples_per_send: 2000 }
`,
    );
    const before = await accepted();
    const prometheus: ChildProcess = spawn(
      'prometheus',
      [
        `--config.file=${file}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    prometheus.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      // Three scrapes' worth: up, scrape_* and Prometheus' own metrics.
      await until(
        'Prometheus to remote-write samples',
        async () => (await accepted()) - before > 1500,
        90_000,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; prometheus said: ${stderr.slice(-2000)}`);
    } finally {
      prometheus.kill('SIGTERM');
      await new Promise((resolve) => prometheus.once('exit', resolve));
    }

    await runToEnd(config);
    const rows = await query<{ metric: string; labels: Record<string, string>; value: number }>(
      config,
      `SELECT metric, labels, argMax(value, ts) AS value FROM ${db()}.samples JOIN (SELECT series_id, any(labels) AS labels FROM ${db()}.series GROUP BY series_id) AS l USING (series_id)
       WHERE metric = 'up' GROUP BY metric, labels`,
    );
    expect(rows).toEqual([
      {
        metric: 'up',
        labels: { env: 'it', instance: `127.0.0.1:${port}`, job: 'self', tenant: 'agents' },
        value: 1,
      },
    ]);
    const [counter] = await query<{ kind: string; n: string }>(
      config,
      `SELECT any(kind) AS kind, count() AS n FROM ${db()}.samples WHERE metric = 'prometheus_http_requests_total'`,
    );
    expect(counter?.kind).toBe('counter');
    expect(Number(counter?.n)).toBeGreaterThan(0);
  });

  it.each([
    [
      'protobuf',
      () =>
        new OtlpProtoExporter({
          url: `${collector.url}/v1/metrics`,
          headers: { authorization: `Bearer ${TOKEN}` },
        }),
    ],
    [
      'JSON',
      () =>
        new OtlpJsonExporter({
          url: `${collector.url}/v1/metrics`,
          headers: { authorization: `Bearer ${TOKEN}` },
        }),
    ],
  ] as Array<[string, () => PushMetricExporter]>)(
    "the OpenTelemetry JS SDK's OTLP/HTTP %s exporter: gauges, sums and histograms arrive as documented",
    async (format, exporter) => {
      const service = `otel-${format.toLowerCase()}`;
      const reader = new PeriodicExportingMetricReader({
        exporter: exporter(),
        exportIntervalMillis: 60_000,
      });
      const provider = new MeterProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': 'i-1' }),
        readers: [reader],
      });
      const meter = provider.getMeter('it');
      meter.createCounter('orders', { unit: '{order}' }).add(5, { region: 'eu' });
      meter.createGauge('queue.depth').record(42, { queue: 'q1' });
      const latency = meter.createHistogram('request.latency', {
        unit: 's',
        advice: { explicitBucketBoundaries: [0.1, 1] },
      });
      for (const v of [0.05, 0.5, 0.7, 3]) latency.record(v, { route: '/a' });
      const before = await accepted();
      // Shutdown collects and exports once more, the last time.
      await within(`the ${format} exporter's last export`, 30_000, provider.shutdown());
      // orders, queue depth, 3 buckets + sum + count.
      expect((await accepted()) - before).toBe(7);

      await runToEnd(config);
      const rows = await query<{
        metric: string;
        labels: Record<string, string>;
        value: number;
        kind: string;
      }>(
        config,
        `SELECT metric, labels, round(value, 9) AS value, kind FROM ${db()}.samples JOIN (SELECT series_id, any(labels) AS labels FROM ${db()}.series GROUP BY series_id) AS l USING (series_id)
         WHERE labels['job'] = '${service}' ORDER BY metric, toString(labels)`,
      );
      const common = { job: service, instance: 'i-1', tenant: 'agents' };
      expect(rows).toEqual([
        { metric: 'orders_total', labels: { ...common, region: 'eu' }, value: 5, kind: 'counter' },
        { metric: 'queue_depth', labels: { ...common, queue: 'q1' }, value: 42, kind: 'gauge' },
        {
          metric: 'request_latency_seconds_bucket',
          labels: { ...common, le: '+Inf', route: '/a' },
          value: 4,
          kind: 'counter',
        },
        {
          metric: 'request_latency_seconds_bucket',
          labels: { ...common, le: '0.1', route: '/a' },
          value: 1,
          kind: 'counter',
        },
        {
          metric: 'request_latency_seconds_bucket',
          labels: { ...common, le: '1', route: '/a' },
          value: 3,
          kind: 'counter',
        },
        {
          metric: 'request_latency_seconds_count',
          labels: { ...common, route: '/a' },
          value: 4,
          kind: 'counter',
        },
        {
          metric: 'request_latency_seconds_sum',
          labels: { ...common, route: '/a' },
          value: 4.25,
          kind: 'counter',
        },
      ]);
    },
  );
});
