import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { notifierSection } from '../notifier/config.js';
import { startNotifier } from '../notifier/notifier.js';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import { createLogger } from '../core/log.js';
import { produceSynthetic } from '../producer/produce.js';
import { batchType, frame } from '../schemas/index.js';
import { Registry } from '../schemas/registry.js';
import { promqlEvaluator } from '../query/promqlEvaluator.js';
import { startQueryService, type QueryService } from '../query/service.js';
import { chartPageHandler } from '../query/ui/chartPage.js';
import { freePort } from '../services/ports.js';
import { openClickHouse, queryRows, type ClickHouse } from '../sinks/clickhouse.js';
import { startAdminServer } from '../streams/adminServer.js';
import { stringify } from 'yaml';
import { runPipeline } from '../topology/run.js';
import { emptyStats, type TopologyStats } from '../topology/topology.js';
import { configWithServices, type GlobalOptions } from './context.js';
import { startDemoAgents } from './demoAgents.js';
import { clickhouseEndpoints } from '../sql/adminSql.js';
import { tierTable } from '../core/tiers.js';

/** Simulated application hosts that push through the collector with the SDK. */
const AGENT_HOSTS = 10;

/** The demo's alert rules (and their tests: `metrics-pipeline rules test examples/rules/demo.test.yaml`). */
const DEMO_RULES = fileURLToPath(new URL('../examples/rules/demo.rules.yaml', import.meta.url));

/** The incident in the replayed history, in minutes before the live part: what the rules catch. */
const INCIDENT = {
  /** host-00002's CPU runs at 95 % for 10 minutes (HighCpu, CpuAnomaly). */
  spike: { host: 2, from: 60, to: 50 },
  /** host-00001 sends nothing for 10 minutes (HostSilent). */
  silence: { host: 1, from: 40, to: 30 },
};

export interface DemoFlags {
  duration: number;
  /** Hours of history replayed before the live part. */
  history: number;
  rate: number;
  series: number;
  json?: boolean;
  /** Keep serving queries (and `sql`) over the demo's data after the summary, until Ctrl-C. */
  serve?: boolean;
}

/** The demo's settings for later commands: `metrics-pipeline --config <this> sql|query`. */
const DEMO_CONFIG = '.data/demo.config.yaml';

/** What the printed promtool line asks: the regions' CPU over the demo's data, answered from the 1m tier where exact. */
const DEMO_QUERY = 'avg by (region) (avg_over_time(cpu_usage_percent{cpu="total"}[5m]))';

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
      topics: {
        ...config.topics,
        metrics: `demo-${run}-metrics`,
        dlq: `demo-${run}-dlq`,
        late: `demo-${run}-late`,
        alerts: `demo-${run}-alerts`,
      },
      // Each run's own tier topics (`<topics.metrics>-<tier>`): an earlier release's demo may have registered another schema under the defaults.
      tiers: config.tiers.map((t) => ({ ...t, topic: undefined })),
      alerts: { ...config.alerts, rules: [DEMO_RULES] },
      // Agents send 10 samples 10 s apart per record: event time within a partition runs up to
      // 100 s out of order, which the watermark must allow for.
      windows: { ...config.windows, outOfOrdernessMs: Math.max(config.windows.outOfOrdernessMs, 100_000) },
      clickhouse: config.clickhouse.url
        ? { ...config.clickhouse, database: `demo_${run}` }
        : { ...config.clickhouse, path: '.data/demo' },
    };
    if (!config.clickhouse.url) rmSync(config.clickhouse.path, { recursive: true, force: true });
    config = { ...config, query: { ...config.query, port: await freePort() } };
    // Everything a later `sql` or `query` needs to find the demo's data (no secrets: those stay in the environment).
    mkdirSync(dirname(DEMO_CONFIG), { recursive: true });
    writeFileSync(
      DEMO_CONFIG,
      stringify({
        clickhouse: config.clickhouse.url
          ? { database: config.clickhouse.database }
          : { path: config.clickhouse.path, database: config.clickhouse.database },
        query: { port: config.query.port },
      }),
    );
    const summary = await demo(config, flags);
    console.log(
      `demo: produced ${summary.produced} samples; stored ${summary.stored.raw} raw samples of ${summary.series} series, ` +
        `${config.tiers.map((t) => `${summary.tiers[t.name] ?? 0} ${t.name}`).join(', ')} window aggregates; ${summary.late} late samples; ` +
        `${summary.dlq} bad records dead-lettered with their reasons; ` +
        `the collector took ${summary.collector.accepted} samples from SDK agents and refused ${summary.collector.rejected}; ` +
        `${summary.alerts.firing} alerts fired and ${summary.alerts.resolved} resolved, ${summary.notifications} webhook notifications; ` +
        `${summary.produced === summary.stored.raw ? 'nothing lost, nothing duplicated' : 'MISMATCH between produced and stored'}.`,
    );
    const queryUrl = `http://${config.query.host}:${config.query.port}`;
    console.log(`chart page: ${queryUrl}/ (PromQL, the tiers, the demo's alerts on the time axis)`);
    console.log(
      `query service: ${queryUrl} (Prometheus API; it answered the line below with ${summary.queried} series during the demo)`,
    );
    const step = flags.history > 0 ? '5m' : '15s';
    console.log(
      `try: promtool query range --start=${new Date(summary.dataStart).toISOString()} --end=${new Date(summary.dataEnd).toISOString()} ` +
        `--step=${step} ${queryUrl} '${DEMO_QUERY}'`,
    );
    console.log(
      `try: metrics-pipeline --config ${DEMO_CONFIG} sql "SELECT metric, count() FROM samples GROUP BY metric"`,
    );
    if (!flags.serve)
      console.log(
        `(the query service stopped with the demo: serve its data again with \`metrics-pipeline --config ${DEMO_CONFIG} query\`, or run the demo with --serve)`,
      );
    for (const line of summary.timeline) console.log(`  ${line}`);
    if (flags.json) {
      const { produced, stored, dlq, late, collector, alerts, notifications } = summary;
      console.log(JSON.stringify({ produced, stored, dlq, late, collector, alerts, notifications }));
    }
    if (summary.serving) {
      say('serving queries over the demo data until Ctrl-C');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await summary.serving.stop();
    }
  } finally {
    if (services) say('stopping the services it started');
    await stopServices();
  }
}

interface Summary {
  produced: number;
  stored: { raw: number };
  /** Rows per tier table, by tier name. */
  tiers: Record<string, number>;
  series: number;
  dlq: number;
  late: number;
  /** Samples the collector took from the SDK agents (and refused from the careless client). */
  collector: { accepted: number; rejected: number };
  /** Alert state changes stored in the `alerts` table. */
  alerts: { firing: number; resolved: number };
  /** Webhook calls the notifier made to the demo's receiver. */
  notifications: number;
  /** What fired and resolved, in event time. */
  timeline: string[];
  /** Series the query service answered DEMO_QUERY with. */
  queried: number;
  /** The span of the demo's data, Unix ms. */
  dataStart: number;
  dataEnd: number;
  /** With --serve: the query service (and `sql` endpoint) still running, and how to stop them. */
  serving?: { stop(): Promise<void> };
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
        `window results ${config.tiers.map((t) => `${t.name} ${stats.rollups[t.name] ?? 0}`).join(' ')} · dead-lettered ${stats.deadLettered} · late ${stats.late}`,
    );
  }, 2000);

  // First a few hours of history as fast as Kafka takes it, so that both tiers fill; then live
  // samples at `rate`, event time tracking the wall clock (interval = series / rate).
  const historySeries = Math.min(flags.series, 500);
  const historyMs = flags.history * 3_600_000;
  const liveStart = Math.ceil(Date.now() / 60_000) * 60_000;
  const minutesBefore = (m: number) => liveStart - m * 60_000;
  const incident = {
    spike: {
      host: INCIDENT.spike.host,
      from: minutesBefore(INCIDENT.spike.from),
      to: minutesBefore(INCIDENT.spike.to),
    },
    silence: {
      host: INCIDENT.silence.host,
      from: minutesBefore(INCIDENT.silence.from),
      to: minutesBefore(INCIDENT.silence.to),
    },
  };
  // The notifier delivers to a webhook receiver of the demo's own.
  const receiver = await startReceiver();
  const notifier = await startNotifier({
    config: {
      ...config,
      notifier: notifierSection.parse(demoNotifierSection(receiver.url)),
    },
    log,
  });
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
      ...(historyMs >= INCIDENT.spike.from * 60_000 ? { incident } : {}),
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
  let alerts = { firing: 0, resolved: 0 };
  let timeline: string[] = [];
  let series = 0;
  const tierRows: Record<string, number> = {};
  let queried = 0;
  let service: QueryService | undefined;
  let serving: Summary['serving'];
  const dataStart = liveStart - historyMs;
  try {
    stats = await runPipeline({
      config,
      log,
      exitWhenIdle: true,
      idleAfter: production,
      onProgress: (s) => (stats = s),
      // The query service reads through the topology's own client: the embedded folder admits one process.
      onStarted: async (ch) => {
        if (!ch) return;
        service = await startQueryService({
          config,
          log,
          clickhouse: ch,
          evaluator: promqlEvaluator({
            maxSamples: config.query.maxSamples,
            maxPoints: config.query.maxPoints,
          }),
          ui: chartPageHandler(log),
        });
        say(`query service on ${service.url}`);
      },
      beforeClose: async (ch) => {
        if (service)
          queried = await askService(service.url, dataStart, Date.now(), flags.history > 0 ? 300 : 15);
        const db = `\`${ch.database}\``;
        const [row] = await queryRows<Record<string, string>>(
          ch,
          `SELECT (SELECT count() FROM ${db}.samples) AS raw, (SELECT uniqExact(series_id) FROM ${db}.series) AS series` +
            config.tiers
              .map((t, i) => `, (SELECT count() FROM ${db}.${tierTable(t.name)} FINAL) AS tier${i}`)
              .join(''),
        );
        raw = Number(row?.raw ?? 0);
        series = Number(row?.series ?? 0);
        config.tiers.forEach((t, i) => (tierRows[t.name] = Number(row?.[`tier${i}`] ?? 0)));
        const events = await queryRows<{
          rule: string;
          state: string;
          ts: string;
          labels: Record<string, string>;
        }>(
          ch,
          // Firing alerts and their resolution (not pending alerts that cleared before they fired).
          `SELECT rule, state, ts, labels FROM ${db}.alerts FINAL
           WHERE state = 'firing' OR (state = 'resolved' AND fingerprint IN
             (SELECT fingerprint FROM ${db}.alerts WHERE state = 'firing'))
           ORDER BY ts, rule`,
        );
        alerts = {
          firing: events.filter((e) => e.state === 'firing').length,
          resolved: events.filter((e) => e.state === 'resolved').length,
        };
        timeline = events.map(
          (e) =>
            `${e.ts.slice(11, 19)} (event time) ${e.rule} ${e.state}` +
            (e.labels.host ? ` for ${e.labels.host}` : e.labels.region ? ` in ${e.labels.region}` : ''),
        );
      },
    });
    await production;
    // The last events may still be on their way to the receiver (group_interval 1s).
    await receiver.quiet(3000, 20_000);
    if (service && flags.serve) serving = await keepServing(config, service, log);
  } finally {
    if (service && !serving) await service.close();
    clearInterval(progress);
    await notifier.stop();
    await receiver.close();
  }
  say(`done in ${Math.round((Date.now() - began) / 1000)}s`);
  return {
    produced,
    stored: { raw },
    tiers: tierRows,
    series,
    dlq: stats.deadLettered,
    late: stats.late,
    collector,
    alerts,
    notifications: receiver.count(),
    timeline,
    queried,
    dataStart,
    dataEnd: Date.now(),
    serving,
  };
}

/** Asks the query service for DEMO_QUERY over the data, as the printed promtool line does; the series it answered. */
async function askService(url: string, startMs: number, endMs: number, stepSeconds: number): Promise<number> {
  const params = new URLSearchParams({
    query: DEMO_QUERY,
    start: String(startMs / 1000),
    end: String(endMs / 1000),
    step: String(stepSeconds),
  });
  const response = await fetch(`${url}/api/v1/query_range?${params}`);
  const body = (await response.json()) as { data?: { result?: unknown[] }; error?: string };
  if (!response.ok) say(`query service answered ${response.status}: ${body.error}`);
  return body.data?.result?.length ?? 0;
}

/**
 * After the topology released the embedded folder, the query service moves to a client of the
 * demo's own, and an admin server answers `metrics-pipeline sql` for the folder meanwhile.
 */
async function keepServing(
  config: Config,
  service: QueryService,
  log: ReturnType<typeof createLogger>,
): Promise<{ stop(): Promise<void> }> {
  const ch: ClickHouse = await openClickHouse(config.clickhouse);
  service.attach(ch);
  const admin = await startAdminServer({
    port: 0,
    ready: () => true,
    log,
    extensions: [clickhouseEndpoints(ch)],
  });
  return {
    async stop() {
      await service.close();
      await admin.close();
      await ch.close();
    },
  };
}

/**
 * The demo's notifier routes: one notification per alert name and host, sent at once and again
 * when the group changes (at most once a second), to a webhook receiver of the demo's own.
 */
function demoNotifierSection(url: string): Record<string, unknown> {
  return {
    route: {
      receiver: 'demo-webhook',
      group_by: ['alertname', 'host', 'region'],
      group_wait: '0s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'demo-webhook', webhook_configs: [{ url, send_resolved: true }] }],
  };
}

/** A local webhook receiver that counts the notifications it gets. */
async function startReceiver(): Promise<{
  url: string;
  count(): number;
  /** Resolves once no notification came for `ms` (or after `maxMs`). */
  quiet(ms: number, maxMs: number): Promise<void>;
  close(): Promise<void>;
}> {
  let count = 0;
  let last = Date.now();
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count += 1;
      last = Date.now();
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    count: () => count,
    async quiet(ms, maxMs) {
      const until = Date.now() + maxMs;
      while (Date.now() - last < ms && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
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
