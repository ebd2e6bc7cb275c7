import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startCollector } from '../collector/index.js';
import type { Config } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { createMetricsClient } from '../sdk/index.js';

export interface DemoAgents {
  /** Flushes the agents, stops the collector, and says what the collector took. */
  stop(): Promise<{ accepted: number; rejected: number }>;
}

/**
 * The demo's push-model agents: simulated application hosts instrumented with the SDK
 * (a request counter, a CPU gauge, a latency histogram), pushing every second through an
 * in-process collector into the demo's metrics topic; plus one careless client whose batch
 * has a sample with an invalid name, which the collector rejects with its reason.
 */
export async function startDemoAgents(config: Config, log: Logger, hosts = 10): Promise<DemoAgents> {
  // Each demo has its own topic: a log left by an earlier one must not drain into it.
  const walDir = join(config.clickhouse.path, '..', 'demo-collector-wal');
  rmSync(walDir, { recursive: true, force: true });
  const collector = await startCollector({
    config: {
      ...config,
      collector: {
        ...config.collector,
        port: 0,
        tenants: [],
        wal: { ...config.collector.wal, dir: walDir },
      },
    },
    log,
  });
  const client = createMetricsClient({
    url: collector.url,
    defaultLabels: { service: 'demo-shop' },
    pushIntervalMs: 1000,
    onError: (error) => log.warn({ error: error.message }, 'demo agent push failed'),
  });
  const requests = client.counter('shop_requests_total', { labelNames: ['host', 'route'] });
  const cpu = client.gauge('shop_cpu_ratio', { labelNames: ['host'] });
  const latency = client.histogram('shop_request_duration_seconds', {
    labelNames: ['host'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1],
  });
  let tick = 0;
  const work = setInterval(() => {
    tick += 1;
    for (let h = 0; h < hosts; h++) {
      const host = `shop-${h}`;
      requests.inc({ host, route: h % 2 === 0 ? '/cart' : '/pay' }, 1 + ((tick * (h + 3)) % 7));
      cpu.set({ host }, ((tick * 7 + h * 13) % 100) / 100);
      latency.observe({ host }, ((tick + h) % 20) / 40);
    }
  }, 100);
  work.unref();

  const careless = await fetch(`${collector.url}/api/v1/metrics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      samples: [
        { name: 'shop_orders', labels: { host: 'legacy-1' }, value: 3 },
        { name: 'shop orders per minute', labels: { host: 'legacy-1' }, value: 3 },
      ],
    }),
  });
  const receipt = (await careless.json()) as { accepted?: number; rejected?: number };
  let accepted = receipt.accepted ?? 0;
  let rejected = receipt.rejected ?? 0;

  return {
    stop: async () => {
      clearInterval(work);
      const stats = await client.shutdown({ timeoutMs: 10_000 });
      await collector.close();
      accepted += stats.sent;
      rejected += stats.rejected;
      return { accepted, rejected };
    },
  };
}
