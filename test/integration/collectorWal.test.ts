import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import type { Config } from '../../core/config.js';
import type { SpawnedService } from '../../services/child.js';
import { findJava } from '../../services/java.js';
import { startKafka } from '../../services/kafka.js';
import { freePort, freeStablePort } from '../../services/ports.js';
import { query, quietLog, runToEnd, tempDir, testConfig, within } from './helpers.js';

const dir = tempDir('collector-wal');
const started: Array<SpawnedService | Collector> = [];

afterAll(async () => {
  for (const s of started.reverse()) await ('close' in s ? s.close() : s.stop({ removeDir: true }));
});

/** A broker of this test alone, which it stops and restarts on the same port and data. */
async function ownKafka(): Promise<{ address: string; start: () => Promise<SpawnedService> }> {
  const java = await findJava(17, 'Kafka', process.env);
  // Ports no other test can take while the broker is down.
  const [port, controllerPort] = [await freeStablePort(), await freeStablePort()];
  const kafkaDir = join(dir, 'kafka');
  mkdirSync(kafkaDir, { recursive: true });
  const start = async () => {
    const broker = await startKafka({
      java: java.bin,
      port,
      controllerPort,
      dir: kafkaDir,
      env: process.env,
      detached: false,
      timeoutMs: 120_000,
    });
    started.push(broker);
    return broker;
  };
  return { address: `127.0.0.1:${port}`, start };
}

async function push(collector: Collector, from: number, count: number): Promise<Record<string, unknown>> {
  const now = Date.now();
  const samples = Array.from({ length: count }, (_, i) => ({
    name: 'wal_test_value',
    labels: { n: String((from + i) % 100) },
    timestamp: now - 3_600_000 + from + i,
    value: from + i,
  }));
  const response = await fetch(`${collector.url}/api/v1/metrics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ samples }),
  });
  expect(response.status).toBe(202);
  return (await response.json()) as Record<string, unknown>;
}

async function openCollector(config: Config): Promise<Collector> {
  const collector = await startCollector({ config, log: quietLog });
  started.push(collector);
  return collector;
}

describe('collector write-ahead log', () => {
  it('keeps every accepted sample while Kafka is down, across a collector restart, and delivers each once', async () => {
    const kafka = await ownKafka();
    let broker = await kafka.start();
    const config = testConfig(join(dir, 'clickhouse'), {
      kafka: { brokers: [kafka.address] },
      collector: { port: 0, wal: { dir: join(dir, 'wal') } },
    });

    let collector = await openCollector(config);
    expect(await push(collector, 0, 1000)).toMatchObject({ accepted: 1000 });
    expect(collector.forwarder.kafkaUp).toBe(true);

    await broker.stop();
    expect(await push(collector, 1000, 1000)).toMatchObject({ accepted: 1000 });
    expect(collector.forwarder.kafkaUp).toBe(false);
    expect(collector.forwarder.walBytes).toBeGreaterThan(0);

    // A restart with a non-empty log keeps it, and queues new samples behind it.
    await collector.close();
    collector = await openCollector(config);
    expect(collector.forwarder.walBytes).toBeGreaterThan(0);
    expect(await push(collector, 2000, 1000)).toMatchObject({ accepted: 1000 });

    broker = await kafka.start();
    await within('draining the log into the restarted broker', 60_000, collector.forwarder.whenDrained());
    expect(collector.forwarder.walBytes).toBe(0);
    expect(await push(collector, 3000, 1000)).toMatchObject({ accepted: 1000 });

    const stats = await runToEnd(config);
    expect(stats.deadLettered).toBe(0);
    const [row] = await query<{ rows: string; distinct: string; sum: number }>(
      config,
      `SELECT count() AS rows, uniqExact(series_id, ts) AS distinct, sum(value) AS sum FROM \`${config.clickhouse.database}\`.samples`,
    );
    expect(row).toEqual({ rows: '4000', distinct: '4000', sum: (3999 * 4000) / 2 });
    // Two broker starts (up to 120 s each on a busy machine), the drain and the run.
  }, 360_000);

  it('answers 503 with Retry-After once the log is full', async () => {
    const settings = (maxBytes: number) =>
      testConfig(join(dir, 'clickhouse-full'), {
        // Nothing listens there: Kafka is unreachable from the start.
        kafka: { brokers: [`127.0.0.1:${unreachable}`] },
        collector: { port: 0, wal: { dir: join(dir, 'wal-full'), maxBytes } },
      });
    const unreachable = await freePort();
    let collector = await openCollector(settings(1 << 30));
    expect(await push(collector, 0, 1000)).toMatchObject({ accepted: 1000 });
    const logged = collector.forwarder.walBytes;
    expect(logged).toBeGreaterThan(0);
    await collector.close();

    // Room for half as much again: the next request of the same size does not fit.
    collector = await openCollector(settings(Math.round(logged * 1.5)));
    expect(collector.forwarder.walBytes).toBe(logged);
    const response = await fetch(`${collector.url}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        samples: Array.from({ length: 1000 }, (_, i) => ({
          name: 'wal_test_value',
          labels: { n: String(i % 100) },
          value: i,
        })),
      }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('30');
    expect(((await response.json()) as { error: string }).error).toMatch(/^the write-ahead log is full/);
    expect(collector.forwarder.walBytes).toBe(logged);
    // Not ready: a request of the usual size (this one) does not fit.
    expect((await fetch(`${collector.url}/readyz`)).status).toBe(503);
  });
});
