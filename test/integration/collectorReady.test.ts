import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import { freePort } from '../../services/ports.js';
import { quietLog, tempDir, testConfig } from './helpers.js';

const dir = tempDir('collector-ready');
const started: Collector[] = [];

afterAll(async () => {
  for (const c of started.reverse()) await c.close();
});

/** A request of the usual size: 200 samples of 20 series. */
function request(from: number): RequestInit {
  const now = Date.now();
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      samples: Array.from({ length: 200 }, (_, i) => ({
        name: 'ready_test_value',
        labels: { n: String(i % 20) },
        timestamp: now - 60_000 + from + i,
        value: from + i,
      })),
    }),
  };
}

describe('collector readiness', () => {
  it('is ready exactly while a request of the usual size would be accepted', async () => {
    const unreachable = await freePort();
    const config = testConfig(join(dir, 'clickhouse'), {
      // Nothing listens there: every accepted request goes to the write-ahead log.
      kafka: { brokers: [`127.0.0.1:${unreachable}`] },
      // Not a multiple of a request's entry: the log fills up part way through one.
      collector: { port: 0, wal: { dir: join(dir, 'wal'), maxBytes: 20_000 } },
    });
    const collector = await startCollector({ config, log: quietLog });
    started.push(collector);

    const history: Array<{ ready: number; push: number; walBytes: number }> = [];
    for (let i = 0; i < 100; i++) {
      const ready = (await fetch(`${collector.url}/readyz`)).status;
      const push = await fetch(`${collector.url}/api/v1/metrics`, request(i * 200));
      await push.body?.cancel();
      history.push({ ready, push: push.status, walBytes: collector.forwarder.walBytes });
      if (push.status !== 202) break;
    }
    // The log filled up: the last request was refused for it, the others taken.
    const last = history.at(-1);
    expect(last?.push).toBe(503);
    expect(history.length).toBeGreaterThan(2);
    // Ready (200) before a request means it was taken; not ready (503) means it was refused.
    for (const step of history) expect(step).toMatchObject({ ready: step.push === 202 ? 200 : 503 });
    // And readiness stays down while the log stays full.
    expect((await fetch(`${collector.url}/readyz`)).status).toBe(503);
  });
});
