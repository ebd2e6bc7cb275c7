import { join } from 'node:path';
import type { Config } from '../../core/config.js';
import { createKafka, ensureTopics } from '../../core/kafka.js';
import { seriesId } from '../../core/series.js';
import { valueSubject } from '../../producer/produce.js';
import { syntheticRecords, type SyntheticRecord } from '../../producer/synthetic.js';
import { batchSchema, batchType, frame, type Sample } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import { configFile, quietLog, repoRoot, runToEnd, tempDir } from './helpers.js';

/** What `seedDemoData` stored, and where. */
export interface DemoData {
  config: Config;
  dir: string;
  /** Hosts of the synthetic workload (each reports every metric of producer/synthetic.ts). */
  hosts: number;
  /** Event time of the first and the last sample, epoch ms (the last is within a minute of now). */
  start: number;
  end: number;
  /** The host whose CPU spikes (HighCpu fires, then resolves), and when, epoch ms. */
  spike: { host: number; from: number; to: number };
}

/** producer/synthetic.ts reports eight metrics a host. */
const METRICS_PER_HOST = 8;
const INTERVAL_MS = 10_000;
const SHOP_HOSTS = 3;
const SHOP_BUCKETS = ['0.01', '0.05', '0.1', '0.5', '1', '+Inf'];

/**
 * The demo's data through the real pipeline into the embedded ClickHouse: `hours` of the
 * synthetic hosts 10 s apart with the demo's CPU spike, and the shop agents' request counter and
 * latency histogram (as cli/demoAgents.ts names them), consumed by the topology with the demo's
 * alert rules (examples/rules/demo.rules.yaml) to the end: raw samples, both tiers, series and
 * alert transitions, as after `npm start`.
 */
export async function seedDemoData(
  name: string,
  options: { hosts: number; hours: number },
): Promise<DemoData> {
  const dir = tempDir(name);
  const { config } = configFile(dir, {
    alerts: { rules: [join(repoRoot, 'examples/rules/demo.rules.yaml')], tickMs: 200 },
    windows: { outOfOrdernessMs: 100_000 },
  });
  const end = Math.floor(Date.now() / 60_000) * 60_000;
  const start = end - options.hours * 3_600_000;
  const spike = { host: 1, from: end - 120 * 60_000, to: end - 100 * 60_000 };
  const records = demoRecords({ hosts: options.hosts, start, end, spike });
  await publish(config, records);
  await runToEnd(config);
  return { config, dir, hosts: options.hosts, start, end, spike };
}

/**
 * The records `seedDemoData` publishes: the synthetic hosts and the shop, in event-time order
 * as live agents send them (a record behind the watermark would be late).
 */
export function demoRecords(window: Omit<DemoData, 'config' | 'dir'>): SyntheticRecord[] {
  const { hosts, start, end, spike } = window;
  const records = [
    ...syntheticRecords({
      series: hosts * METRICS_PER_HOST,
      samples: hosts * METRICS_PER_HOST * ((end - start) / INTERVAL_MS + 1),
      batch: 10,
      seed: 42,
      start,
      intervalMs: INTERVAL_MS,
      incident: { spike },
    }),
    ...shopRecords(start, end),
  ];
  records.sort((a, b) => (a.samples[0]?.timestamp ?? 0) - (b.samples[0]?.timestamp ?? 0));
  return records;
}

/** The shop agents' series over [start, end], 10 samples a record as the SDK pushes them. */
function shopRecords(start: number, end: number): SyntheticRecord[] {
  const records: SyntheticRecord[] = [];
  for (let h = 0; h < SHOP_HOSTS; h++) {
    const host = `shop-${h}`;
    const route = h % 2 === 0 ? '/cart' : '/pay';
    const series: Array<{ name: string; labels: Record<string, string>; perTick: (tick: number) => number }> =
      [
        { name: 'shop_requests_total', labels: { host, route }, perTick: (t) => 1 + ((t * (h + 3)) % 7) },
        // One request a tick taking ((t + h) % 20) / 40 s: a bucket counts those at most its `le`.
        ...SHOP_BUCKETS.map((le) => ({
          name: 'shop_request_duration_seconds_bucket',
          labels: { host, le },
          perTick: (t: number) => (((t + h) % 20) / 40 <= Number(le) ? 1 : 0),
        })),
        { name: 'shop_request_duration_seconds_count', labels: { host }, perTick: () => 1 },
      ];
    for (const { name, labels: own, perTick } of series) {
      const labels = { service: 'demo-shop', ...own };
      const key = seriesId(
        name,
        Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)),
      ).toString();
      let total = 0;
      let samples: Sample[] = [];
      for (let t = 0, ts = start; ts <= end; t++, ts += INTERVAL_MS) {
        total += perTick(t);
        samples.push({ name, labels, timestamp: ts, value: total, kind: 'counter' });
        if (samples.length === 10 || ts + INTERVAL_MS > end) {
          records.push({ key, samples });
          samples = [];
        }
      }
    }
  }
  return records;
}

/** Publishes records to the config's input topic in order, framed as the pipeline reads them. */
async function publish(config: Config, records: SyntheticRecord[]): Promise<void> {
  const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic: config.topics.metrics, partitions: config.topics.partitions }]);
  } finally {
    await admin.disconnect();
  }
  const registry = new Registry(config.schemaRegistry.url as string);
  const schemaId = await registry.register(valueSubject(config.topics.metrics), batchSchema);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 2000) {
      const messages = records.slice(i, i + 2000).map(({ key, samples }) => ({
        key,
        value: frame(schemaId, batchType.toBuffer({ samples })),
      }));
      await producer.send({ topic: config.topics.metrics, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}
