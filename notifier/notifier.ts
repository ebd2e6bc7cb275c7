import type { Kafka } from 'kafkajs';
import { parseDuration } from '../alerts/duration.js';
import type { Config } from '../core/config.js';
import { ConfigError, messageOf } from '../core/errors.js';
import { createKafka, ensureTopics } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import { Registry } from '../schemas/registry.js';
import { startAdminServer } from '../topology/adminServer.js';
import { AlertCodec } from './alertCodec.js';
import { consumeAlerts, oldestTakesAll } from './alertSource.js';
import { systemClock, type Clock } from '../streams/clock.js';
import type { NotifierConfig } from './config.js';
import { deliverWithRetries } from './delivery.js';
import { Dispatcher } from './dispatcher.js';
import { compileInhibitRules } from './inhibit.js';
import { buildIntegrations, type Integration } from './integrations/index.js';
import { createNotifierMetrics, type NotifierMetrics } from './metrics.js';
import { compileRoutes } from './routes.js';
import { SilenceTopic } from './silenceTopic.js';
import { configSilences, SilenceSet } from './silences.js';
import { createPersister, StateLog, type Offsets } from './stateLog.js';

export interface NotifierOptions {
  config: Config;
  log: Logger;
  /** Processing time for group_wait, group_interval, repeat_interval and silences (default: the wall clock). */
  clock?: Clock;
  /** Port of /healthz, /readyz and /metrics; 0 (default) picks a free one. */
  adminPort?: number;
}

export interface Notifier {
  /** Base URL of the admin server (/healthz, /readyz, /metrics). */
  url: string;
  metrics: NotifierMetrics;
  /** Resolves once the alert events present at start are applied and groups are being flushed. */
  caughtUp: Promise<void>;
  /** Rejects when the notifier fails for good (state not persisted, consumer crashed); resolves after stop(). */
  done: Promise<void>;
  /** Stops consuming, lets deliveries in progress finish (without further retries), persists, disconnects. */
  stop(): Promise<void>;
}

/** The notifier's Kafka names, derived from the config. */
export function notifierNames(config: Config): {
  alerts: string;
  log: string;
  silences: string;
  group: string;
} {
  return {
    alerts: config.notifier?.alerts_topic ?? config.topics.alerts,
    log: `${config.appId}-notifier-log`,
    silences: `${config.appId}-silences`,
    group: `${config.appId}-notifier`,
  };
}

/** The notifier section, or a ConfigError saying it is missing. */
export function notifierSettings(config: Config): NotifierConfig {
  if (!config.notifier) {
    throw new ConfigError('the configuration has no notifier section', {
      hint: 'add `notifier:` with a route and receivers (see notifier/README.md and examples/notifier.yaml)',
    });
  }
  return config.notifier;
}

/** Creates the topics the notifier reads and writes, where missing. */
export async function ensureNotifierTopics(kafka: Kafka, config: Config): Promise<void> {
  const names = notifierNames(config);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [
      { topic: names.alerts, partitions: config.topics.partitions },
      { topic: config.topics.dlq, partitions: config.topics.partitions },
      StateLog.spec(names.log),
      SilenceTopic.spec(names.silences),
    ]);
  } finally {
    await admin.disconnect();
  }
}

/**
 * `metrics-pipeline notifier`: restores its state from `<appId>-notifier-log`, follows the
 * silences topic, consumes alert events in group `<appId>-notifier` and delivers notifications.
 * Groups start flushing once the events present at start are applied.
 */
export async function startNotifier(options: NotifierOptions): Promise<Notifier> {
  const { config, log } = options;
  const settings = notifierSettings(config);
  if (!config.schemaRegistry.url) {
    throw new ConfigError('no schema registry configured', {
      hint: 'set SCHEMA_REGISTRY_URL, or start local services with `metrics-pipeline services up`',
    });
  }
  const clock = options.clock ?? systemClock;
  const names = notifierNames(config);
  const kafka = createKafka(config.kafka.brokers, config.kafka.clientId, log);
  await ensureNotifierTopics(kafka, config);

  let finished = (): void => undefined;
  let failed: (error: unknown) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  const fail = (error: unknown) => {
    log.error({ error: messageOf(error) }, 'notifier failed');
    failed(error);
  };

  const silences = new SilenceSet();
  for (const s of configSilences(settings.silences, clock.now())) silences.set(s);
  const integrations = buildIntegrations(settings.receivers, parseDuration(settings.delivery.timeout));
  const targets = new Map<string, Integration[]>();
  for (const i of integrations) targets.set(i.receiver, [...(targets.get(i.receiver) ?? []), i]);

  const producer = kafka.producer();
  await producer.connect();
  const stateLog = new StateLog(kafka, names.log, `${config.appId}-notifier-restore`);
  const restored = await stateLog.restore();
  const applied: Offsets = { ...restored.offsets };
  /** Notification log entries with a delivered notification and nothing in doubt, as of the last collect. */
  let notified = 0;
  const persist = createPersister(
    () => {
      notified = 0;
      for (const [, e] of dispatcher.nflog.entries()) if (!e.inDoubt?.length && e.at > 0) notified++;
      return { entries: dispatcher.changes(), offsets: { ...applied } };
    },
    async (entries, offsets) => {
      await stateLog.write(producer, entries, offsets);
      log.debug({ entries: entries.length, notified, offsets }, 'state persisted');
    },
    fail,
    restored.offsets,
  );
  const dispatcher: Dispatcher = new Dispatcher({
    root: compileRoutes(settings.route),
    targets,
    inhibitRules: compileInhibitRules(settings.inhibit_rules),
    silences,
    clock,
    deliver: deliverWithRetries(settings, integrations, () => metrics, log),
    externalURL: settings.external_url,
    log,
    onChange: () => persist.soon(),
    persist: () => persist.now(),
    onNotified: (t) => metrics.sent.inc({ receiver: t.receiver, integration: t.integration }),
    onFailed: (t) => metrics.failed.inc({ receiver: t.receiver, integration: t.integration }),
    onMuted: (reason) => metrics.muted.inc({ reason }),
  });
  const metrics = createNotifierMetrics({
    alerts: () => dispatcher.counts(),
    silences: () => silences.counts(clock.now()),
  });
  dispatcher.restore(restored.entries);
  log.info(
    {
      alerts: dispatcher.alerts.size,
      groups: dispatcher.groups.size,
      log: dispatcher.nflog.size,
      offsets: applied,
    },
    'notifier state restored',
  );

  const following = await new SilenceTopic(kafka, names.silences, `${config.appId}-notifier-silences`).follow(
    (record) => ('deleted' in record ? silences.delete(record.deleted) : silences.set(record.silence)),
    log,
    fail,
  );
  await following.caughtUp;

  // Short fetch waits: an idle consumer answers a stop within a second rather than five.
  const consumer = kafka.consumer({
    groupId: names.group,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    maxWaitTimeInMs: 1000,
    partitionAssigners: [oldestTakesAll(Date.now())],
  });
  const source = await consumeAlerts({
    kafka,
    consumer,
    producer,
    topic: names.alerts,
    groupId: names.group,
    dlqTopic: config.topics.dlq,
    applied,
    codec: new AlertCodec(new Registry(config.schemaRegistry.url)),
    dispatcher,
    persist: () => persist.now(),
    metrics,
    log,
    fail,
  });
  let stopping: Promise<void> | undefined;
  const caughtUp = source.caughtUp.then(() => {
    if (stopping) return;
    dispatcher.start();
    log.info({ alerts: dispatcher.alerts.size, groups: dispatcher.groups.size }, 'notifier caught up');
  });
  const admin = await startAdminServer({
    port: options.adminPort ?? 0,
    clickhouse: undefined,
    ready: source.isCaughtUp,
    log,
    metrics,
  });
  log.info(
    { alerts: names.alerts, group: names.group, log: names.log, silences: names.silences },
    'notifier started',
  );

  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all([consumer.disconnect(), following.stop()]);
      await dispatcher.stop();
      await persist.now();
      await producer.disconnect();
      await admin.close();
      for (const i of integrations) i.close();
      finished();
      log.info('notifier stopped');
    })());
  return { url: admin.url, metrics, caughtUp, done, stop };
}
