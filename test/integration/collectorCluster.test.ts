import { mkdirSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector } from '../../collector/index.js';
import type { Config } from '../../core/config.js';
import { batchType, WIRE_HEADER_BYTES, type SampleBatch } from '../../schemas/index.js';
import { freePort } from '../../services/ports.js';
import { cli, configFile, quietLog, tempDir, testKafka, unique, type Cli } from './helpers.js';

const dir = tempDir('collector-cluster');
const TOKEN_A = 'token-of-tenant-a-0123456789';
const TOKEN_B = 'token-of-tenant-b-0123456789';

let config: Config;
let collector: Cli;
let url: string;

/**
 * Resolves with the pid of worker `index` once it listens (a process of it other than
 * `notPid`: one started again), and takes the collector's URL from its log line.
 */
async function workerListening(c: Cli, index: number, notPid?: number): Promise<number> {
  const pid = notPid === undefined ? '\\d+' : `(?!${notPid},)\\d+`;
  const line = await c.waitFor(
    new RegExp(`"pid":${pid},"name":"collector","worker":${index},.*"msg":"collector listening"`),
  );
  const parsed = JSON.parse(line) as { pid: number; url: string };
  url = parsed.url;
  return parsed.pid;
}

/** One POST on a connection of its own: the primary hands connections to the workers in turn. */
function post(
  path: string,
  body: unknown,
  token: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        res.on('error', reject);
      },
    );
    // A connection that the primary was handing to a worker as it died is never answered nor
    // closed (node:cluster): a client's timeout covers it, as agents have one.
    req.setTimeout(5_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const now = Date.now();
/** Values of the samples of the second test start here: apart from the first test's. */
const BASE = 1_000_000;
/** Request `r` of `size` samples: values BASE + r × size + i, 5 series per metric (the tenant's limit). */
const samples = (r: number, size: number) =>
  Array.from({ length: size }, (_, i) => ({
    name: `cluster_test_${i % 10}`,
    labels: { n: String((r + i) % 5) },
    timestamp: now - 3_600_000 + r * size + i,
    value: BASE + r * size + i,
  }));

/** Posts request `r` until it is acknowledged (a request cut off by a dying worker was not). */
async function deliver(r: number, size: number): Promise<void> {
  for (;;) {
    const answer = await post('/api/v1/metrics', { samples: samples(r, size) }, TOKEN_A).catch(
      () => undefined,
    );
    if (answer?.status === 202) {
      expect(answer.body).toMatchObject({ accepted: size, rejected: 0 });
      return;
    }
  }
}

/** The sample values from BASE on in the topic, read until `expected` distinct ones are in. */
async function valuesInTopic(topic: string, expected: number): Promise<Set<number>> {
  const consumer = testKafka().consumer({ groupId: unique('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values = new Set<number>();
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ message }) => {
          const batch = batchType.fromBuffer(
            (message.value as Buffer).subarray(WIRE_HEADER_BYTES),
          ) as SampleBatch;
          for (const s of batch.samples) if (s.value >= BASE) values.add(s.value);
          if (values.size >= expected) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return values;
}

beforeAll(async () => {
  const written = configFile(dir, {
    collector: {
      port: 0,
      workers: 2,
      wal: { dir: join(dir, 'wal') },
      tenants: [
        { name: 'team-a', token: TOKEN_A, maxSeriesPerMetric: 5 },
        { name: 'team-b', token: TOKEN_B, samplesPerSecond: 10, burst: 20 },
      ],
    },
  });
  config = written.config;
  collector = cli(['--config', written.file, 'collector']);
  await Promise.all([workerListening(collector, 0), workerListening(collector, 1)]);
});

afterAll(async () => {
  if (collector && collector.child.exitCode === null) {
    collector.child.kill('SIGKILL');
    await collector.exit;
  }
});

describe('collector --workers 2', () => {
  it("keeps a tenant's rate and series limit across workers", async () => {
    // Each request on a connection of its own: consecutive ones go to different workers.
    const fifteen = Array.from({ length: 15 }, (_, i) => ({ name: 'rate_test', value: i }));
    expect((await post('/api/v1/metrics', { samples: fifteen }, TOKEN_B)).status).toBe(202);
    const second = await post('/api/v1/metrics', { samples: fifteen }, TOKEN_B);
    expect(second.status).toBe(429);
    expect(second.body.error).toMatch(/^tenant team-b is over its rate of 10 samples\/s/);

    let accepted = 0;
    for (let r = 0; r < 4; r++) {
      const series = Array.from({ length: 3 }, (_, i) => ({
        name: 'limit_test',
        labels: { user: `u${r * 3 + i}` },
        value: 1,
      }));
      const answer = await post('/api/v1/metrics', { samples: series }, TOKEN_A);
      accepted += answer.body.accepted as number;
    }
    expect(accepted).toBe(5);
  });

  it("takes samples of many requests, adds up the workers' metrics, and loses none a killed worker acknowledged", async () => {
    const size = 100;
    const acceptedSoFar = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(/^collector_samples_total\{outcome="accepted"\} (\d+)$/m.exec(text)?.[1]);
    };
    const before = await acceptedSoFar();
    // 40 requests, 8 at a time.
    for (let r = 0; r < 40; r += 8)
      await Promise.all(Array.from({ length: 8 }, (_, k) => deliver(r + k, size)));
    expect((await acceptedSoFar()) - before).toBe(40 * size);

    // 60 more, 6 at a time; worker 0 is killed once 10 of them are acknowledged.
    const victim = await workerListening(collector, 0);
    let acknowledged = 0;
    let next = 40;
    const sender = async () => {
      while (next < 100) {
        await deliver(next++, size);
        if (++acknowledged === 10) process.kill(victim, 'SIGKILL');
      }
    };
    await Promise.all(Array.from({ length: 6 }, sender));
    await collector.waitFor(/"msg":"collector worker died: starting it again on its write-ahead log"/);
    await workerListening(collector, 0, victim);

    collector.child.kill('SIGTERM');
    expect(await collector.exit).toBe(0);
    const values = await valuesInTopic(config.topics.metrics, 100 * size);
    for (let v = 0; v < 100 * size; v++) expect(values.has(BASE + v)).toBe(true);
  });
  it('drains the write-ahead log of a run with another worker count, and removes it', async () => {
    // A single collector that cannot reach Kafka logs what it accepts under wal/ itself.
    mkdirSync(join(dir, 'leftover'));
    const leftover = configFile(join(dir, 'leftover'), {
      kafka: { brokers: [`127.0.0.1:${await freePort()}`] },
      collector: { port: 0, wal: { dir: join(dir, 'leftover', 'wal') } },
    });
    const single = await startCollector({ config: leftover.config, log: quietLog });
    const body = {
      samples: Array.from({ length: 500 }, (_, i) => ({ name: 'leftover_test', value: BASE + i })),
    };
    const answer = await fetch(`${single.url}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(answer.status).toBe(202);
    expect(single.forwarder.walBytes).toBeGreaterThan(0);
    await single.close();

    // Two workers on the same log directory, with Kafka: one of them drains the single one's log.
    const workers = configFile(join(dir, 'leftover'), {
      topics: leftover.config.topics,
      collector: { port: 0, workers: 2, wal: { dir: join(dir, 'leftover', 'wal') } },
    });
    const two = cli(['--config', workers.file, 'collector']);
    try {
      // Each worker makes its own log folder before it says it listens; the drain may finish first.
      await Promise.all([
        two.waitFor(/"msg":"leftover write-ahead log drained and removed"/),
        workerListening(two, 0),
        workerListening(two, 1),
      ]);
      expect(readdirSync(join(dir, 'leftover', 'wal')).sort()).toEqual(['worker-0', 'worker-1']);
      const values = await valuesInTopic(leftover.config.topics.metrics, 500);
      expect(values.size).toBe(500);
    } finally {
      two.child.kill('SIGTERM');
      expect(await two.exit).toBe(0);
    }
  });
});
