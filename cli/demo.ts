import { rmSync } from 'node:fs';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import { createLogger } from '../core/log.js';
import { produceSynthetic } from '../producer/produce.js';
import { batchType, frame } from '../schemas/index.js';
import { Registry } from '../schemas/registry.js';
import { queryRows } from '../sinks/clickhouse.js';
import { runPipeline } from '../topology/run.js';
import { emptyStats, type TopologyStats } from '../topology/topology.js';
import { configWithServices, type GlobalOptions } from './context.js';
import { startDemoAgents } from './demoAgents.js';

/** Simulated application hosts that push through the collector with the SDK. */
const AGENT_HOSTS = 10;

export interface DemoFlags {
  duration: number;
  /** Hours of history replayed before the live part. */
  history: number;
  rate: number;
  series: number;
  json?: boolean;
}

const say = (line: string) => process.stderr.write(`[demo] ${line}\n`);

/**
 * `npm start`: starts what is not configured (Kafka, registry; ClickHouse is embedded), streams
 * synthetic metrics for `duration` seconds with a few bad records among them, runs the topology
 * until it has consumed everything, prints a summary, and stops what it started.
 */
export async function demoCommand(global: GlobalOptions, flags: DemoFlags): Promise<void> {
  const run = Date.now().toString(36);
  const started = await configWithServices(global, say);
  let config = started.config;
  const services = started.services;
  const stopServices = () => services?.stop();
  process.once('SIGINT', () => void stopServices());
  try {
    config = {
      ...config,
      appId: `demo-${run}`,
      topics: { ...config.topics, metrics: `demo-${run}-metrics`, dlq: `demo-${run}-dlq` },
      // Agents send 10 samples 10 s apart per record: event time within a partition runs up to
      // 100 s out of order, which the watermark must allow for.
      windows: { ...config.windows, outOfOrdernessMs: Math.max(config.windows.outOfOrdernessMs, 100_000) },
      clickhouse: config.clickhouse.url
        ? { ...config.clickhouse, database: `demo_${run}` }
        : { ...config.clickhouse, path: '.data/demo' },
    };
    if (!config.clickhouse.url) rmSync(config.clickhouse.path, { recursive: true, force: true });
    const summary = await demo(config, flags);
    console.log(
      `demo: produced ${summary.produced} samples; stored ${summary.stored.raw} raw samples of ${summary.series} series, ` +
        `${summary.stored['1m']} 1-minute and ${summary.stored['1h']} 1-hour aggregates; ${summary.late} late samples; ` +
        `${summary.dlq} bad records dead-lettered with their reasons; ` +
        `the collector took ${summary.collector.accepted} samples from SDK agents and refused ${summary.collector.rejected}; ` +
        `${summary.produced === summary.stored.raw ? 'nothing lost, nothing duplicated' : 'MISMATCH between produced and stored'}.`,
    );
    console.log(
      `try: metrics-pipeline sql "SELECT metric, count() FROM samples GROUP BY metric" (with CLICKHOUSE path ${config.clickhouse.url ?? config.clickhouse.path})`,
    );
    if (flags.json) {
      const { produced, stored, dlq, late, collector } = summary;
      console.log(JSON.stringify({ produced, stored, dlq, late, collector }));
    }
  } finally {
    if (services) say('stopping the services it started');
    await stopServices();
  }
}

interface Summary {
  produced: number;
  stored: { raw: number; '1m': number; '1h': number };
  series: number;
  dlq: number;
  late: number;
  /** Samples the collector took from the SDK agents (and refused from the careless client). */
  collector: { accepted: number; rejected: number };
}

async function demo(config: Config, flags: DemoFlags): Promise<Summary> {
  const log = createLogger('demo', process.env.LOG_LEVEL ?? 'warn');
  const kafka = createKafka(config.kafka.brokers, config.kafka.clientId, log);
  const registry = new Registry(config.schemaRegistry.url as string);
  const began = Date.now();
  let produced = 0;
  let collector = { accepted: 0, rejected: 0 };
  let stats: TopologyStats = emptyStats();
  const progress = setInterval(() => {
    say(
      `${Math.round((Date.now() - began) / 1000)}s · produced ${produced} samples · stored ${stats.stored} · ` +
        `window results 1m ${stats.rollups['1m']} 1h ${stats.rollups['1h']} · dead-lettered ${stats.deadLettered} · late ${stats.late}`,
    );
  }, 2000);

  // First a few hours of history as fast as Kafka takes it, so that both tiers fill; then live
  // samples at `rate`, event time tracking the wall clock (interval = series / rate).
  const historySeries = Math.min(flags.series, 500);
  const historyMs = flags.history * 3_600_000;
  const liveStart = Math.ceil(Date.now() / 60_000) * 60_000;
  const production = (async () => {
    say(
      `replaying ${flags.history} h of history of ${historySeries} series (10 s apart) to ${config.topics.metrics}`,
    );
    const history = await produceSynthetic({
      kafka,
      registry,
      topic: config.topics.metrics,
      partitions: config.topics.partitions,
      series: historySeries,
      samples: historySeries * (historyMs / 10_000),
      batch: 10,
      seed: 42,
      start: liveStart - historyMs,
      intervalMs: 10_000,
      onProgress: (sent) => (produced = sent.samples),
    });
    say(
      `streaming ${flags.rate} samples/s of ${flags.series} series for ${flags.duration}s, ` +
        `and ${AGENT_HOSTS} hosts push through the collector with the SDK`,
    );
    const agents = await startDemoAgents(config, log, AGENT_HOSTS);
    const live = await produceSynthetic({
      kafka,
      registry,
      topic: config.topics.metrics,
      partitions: config.topics.partitions,
      series: flags.series,
      samples: flags.rate * flags.duration,
      rate: flags.rate,
      batch: 10,
      seed: 42,
      start: Math.max(liveStart, Date.now()),
      intervalMs: Math.max(1, Math.round((1000 * flags.series) / flags.rate)),
      onProgress: (sent) => (produced = history.samples + sent.samples),
    });
    collector = await agents.stop();
    say(`collector: ${collector.accepted} samples accepted, ${collector.rejected} rejected`);
    await produceBadRecords(kafka, config.topics.metrics, live.schemaId);
    produced = history.samples + live.samples + collector.accepted;
    return live;
  })();
  production.catch((error: unknown) => say(`producer failed: ${messageOf(error)}`));

  let raw = 0;
  let series = 0;
  let minute = 0;
  let hour = 0;
  try {
    stats = await runPipeline({
      config,
      log,
      exitWhenIdle: true,
      idleAfter: production,
      onProgress: (s) => (stats = s),
      beforeClose: async (ch) => {
        const db = `\`${ch.database}\``;
        const [row] = await queryRows<{ raw: string; series: string; m: string; h: string }>(
          ch,
          `SELECT (SELECT count() FROM ${db}.samples) AS raw, (SELECT uniqExact(series_id) FROM ${db}.series) AS series,
                  (SELECT count() FROM ${db}.samples_1m FINAL) AS m, (SELECT count() FROM ${db}.samples_1h FINAL) AS h`,
        );
        raw = Number(row?.raw ?? 0);
        series = Number(row?.series ?? 0);
        minute = Number(row?.m ?? 0);
        hour = Number(row?.h ?? 0);
      },
    });
    await production;
  } finally {
    clearInterval(progress);
  }
  say(`done in ${Math.round((Date.now() - began) / 1000)}s`);
  return {
    produced,
    stored: { raw, '1m': minute, '1h': hour },
    series,
    dlq: stats.deadLettered,
    late: stats.late,
    collector,
  };
}

/** A few records a careless producer could send, to show the dead-letter topic at work. */
async function produceBadRecords(
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  schemaId: number,
): Promise<void> {
  const now = Date.now();
  const good = {
    name: 'demo_bad_input',
    labels: { host: 'host-x' },
    timestamp: now,
    value: 1,
    kind: 'gauge' as const,
  };
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'bad-magic', value: Buffer.from('{"name":"json is not avro"}') },
        {
          key: 'nan',
          value: frame(schemaId, batchType.toBuffer({ samples: [{ ...good, value: Number.NaN }] })),
        },
        {
          key: 'bad-label',
          value: frame(
            schemaId,
            batchType.toBuffer({ samples: [{ ...good, labels: { 'bad-label': 'x' } }] }),
          ),
        },
      ],
    });
  } finally {
    await producer.disconnect();
  }
}
