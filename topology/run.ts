import type { Config } from '../core/config.js';
import { ConfigError, messageOf } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import { Registry } from '../schemas/registry.js';
import { startCompaction } from '../sinks/compaction.js';
import { openClickHouse, type ClickHouse } from '../sinks/clickhouse.js';
import { loadRuleFiles, type RuleSet } from '../alerts/rules.js';
import { startAlertStage } from './alertStage.js';
import {
  alertTopic,
  rollupTopics,
  startTopicLoader,
  type LoadedTopic,
  type TopicLoader,
} from './topicLoader.js';
import { startTopology, type RunningTopology, type TopologyStats } from './topology.js';
import { startStreamThreads, streamThreadCount } from './streamThreads.js';
import { ensureTables } from '../sinks/tables.js';
import { clickhouseEndpoints } from '../sql/adminSql.js';
import { startAdminServer } from '../streams/adminServer.js';

export interface RunOptions {
  config: Config;
  log: Logger;
  /** Consume to the end of the input, flush, commit and return. */
  exitWhenIdle?: boolean;
  /** With exitWhenIdle: look for the end of the input only once this settles (e.g. a producer finished). */
  idleAfter?: Promise<unknown>;
  /**
   * With exitWhenIdle: how often to look for the end of the input besides each time the records
   * fetched are all written (default 500 ms).
   */
  idlePollMs?: number;
  /** Port of the admin server (health, SQL); 0 picks a free one. */
  adminPort?: number;
  /** Stops the run (like SIGTERM) when aborted. */
  signal?: AbortSignal;
  /** Called about once a second with the counts so far. */
  onProgress?: (stats: TopologyStats) => void;
  /** Called once the topology runs, with the ClickHouse it holds (e.g. to serve queries over it meanwhile). */
  onStarted?: (clickhouse: ClickHouse | undefined) => Promise<void> | void;
  /** Called after the topology stopped, before ClickHouse closes (e.g. to count what was stored). */
  beforeClose?: (clickhouse: ClickHouse) => Promise<void>;
  /**
   * `all` (default): windows and every sink in this process. `windows`: no ClickHouse, window
   * results to the tier topics only (several instances in one group). `load`: no windows; raw
   * samples from the input and window results from the tier topics into ClickHouse.
   */
  mode?: 'all' | 'windows' | 'load';
}

/** `metrics-pipeline run`: the topology with its edges opened and closed around it. */
export async function runPipeline(options: RunOptions): Promise<TopologyStats> {
  const { config, log } = options;
  const mode = options.mode ?? 'all';
  if (!config.schemaRegistry.url) {
    throw new ConfigError('no schema registry configured', {
      hint: 'set SCHEMA_REGISTRY_URL, or start local services with `metrics-pipeline services up`',
    });
  }
  // Every rule file loads, or nothing starts (file:line:col of the first problems).
  const rules: RuleSet | undefined =
    config.alerts.rules.length > 0 && mode !== 'load' ? loadRuleFiles(config.alerts.rules) : undefined;
  const kafka = createKafka(config.kafka.brokers, config.kafka.clientId, log);
  const registry = new Registry(config.schemaRegistry.url);
  const clickhouse = mode === 'windows' ? undefined : await openClickHouse(config.clickhouse);
  try {
    // The loader runs on this thread; the windows on `streams.threads` threads.
    const threads = mode === 'load' ? 1 : streamThreadCount(config);
    let topology: RunningTopology;
    if (threads > 1) {
      // Once here, rather than by every thread at once.
      if (clickhouse) await ensureTables(clickhouse, config, log);
      topology = await startStreamThreads({
        config,
        log,
        clickhouse,
        threads,
        alerting: rules !== undefined,
      });
    } else {
      topology = await startTopology({
        config,
        kafka,
        registry,
        clickhouse,
        log,
        windows: mode !== 'load',
        rules,
      });
    }
    // Anything failing after the topology started (another stage, the admin port taken) stops
    // it before ClickHouse closes: its threads would otherwise go on writing to a closed engine.
    let stopping = false;
    try {
      const alerting = rules
        ? await startAlertStage({
            config,
            kafka,
            registry,
            rules,
            metrics: topology.metrics,
            log,
            wiring: topology.wiring,
          })
        : undefined;
      // Topics into ClickHouse: window results from instances with `--sink topics` (the loader);
      // alert events into the `alerts` table, by the loader or by the one process with ClickHouse
      // (rules or not: instances with `--sink topics` may evaluate them).
      const loaded: Array<[string, LoadedTopic<never>[]]> = [];
      if (clickhouse && mode === 'load') loaded.push(['rollups', rollupTopics(config, clickhouse)]);
      if (clickhouse && (mode === 'load' || rules)) loaded.push(['alerts', [alertTopic(config, clickhouse)]]);
      const loaders: TopicLoader[] = [];
      for (const [name, topics] of loaded)
        loaders.push(
          await startTopicLoader({
            config,
            kafka,
            registry,
            groupId: `${config.appId}-loader-${name}`,
            what: name,
            topics,
            log,
          }),
        );
      // The process that writes the tiers merges their closed partitions (see sinks/compaction.ts).
      const compaction =
        clickhouse && mode !== 'windows'
          ? startCompaction(clickhouse, config.clickhouse.compactQuietMs, log)
          : undefined;
      const admin = await startAdminServer({
        port: options.adminPort ?? 0,
        ready: () => true,
        // Not ready while a consumer has not joined, or once one failed (until the process exits).
        extensions: [
          {
            problem: () =>
              [topology, ...(alerting ? [alerting] : []), ...loaders]
                .map((loop) => loop.problem())
                .find((p) => p !== undefined),
          },
          ...(clickhouse ? [clickhouseEndpoints(clickhouse)] : []),
        ],
        log,
        metrics: topology.metrics,
      });
      const progress = setInterval(() => options.onProgress?.(topology.stats), 1000);
      try {
        await options.onStarted?.(clickhouse);
        const idle = await untilStopped(
          {
            // Any consumer loop that fails ends the run with its error.
            done: Promise.all([topology.done, alerting?.done, ...loaders.map((l) => l.done)]).then(
              () => undefined,
            ),
            // In pipeline order: the input, then the alert stage's input, then the loaders' topics.
            isIdle: async () => {
              const waiting = !(await topology.isIdle())
                ? 'topology'
                : alerting && !(await alerting.isIdle())
                  ? 'alert stage'
                  : loaderName(await firstBusy(loaders));
              if (waiting) log.debug({ waiting }, 'not at the end of the input yet');
              return waiting === undefined;
            },
            onSettled: topology.onSettled,
          },
          options,
        );
        // Asked to stop: writes waiting for ClickHouse (a full disk, a server down) give up rather
        // than hold the stop; their records are not committed and come again at the next start.
        if (!idle) clickhouse?.health.abandon();
        // At the end of the input, windows close as if time had run out (no more records will come).
        stopping = true;
        await topology.stop({ closeWindows: idle, abandon: !idle });
        await alerting?.stop();
        for (const loader of loaders) await loader.stop();
      } finally {
        clearInterval(progress);
        await compaction?.stop();
        await admin.close();
      }
    } catch (error) {
      if (!stopping) await topology.stop({ abandon: true }).catch(() => undefined);
      throw error;
    }
    options.onProgress?.(topology.stats);
    log.info({ ...topology.stats, stateBytes: topology.stateBytes() }, 'topology stopped');
    if (clickhouse) await options.beforeClose?.(clickhouse);
    return topology.stats;
  } finally {
    await clickhouse?.close();
  }
}

/** How often `run --exit-when-idle` looks for the end of the input (also whenever the topology settles). */
const IDLE_POLL_MS = 500;

/** Loaders are named after what they load, in the order they were started. */
const loaderName = (loader: TopicLoader | undefined) => loader && `loader of ${loader.what}`;

/** The first loader not yet at the end of its topics. */
async function firstBusy(loaders: TopicLoader[]): Promise<TopicLoader | undefined> {
  for (const loader of loaders) if (!(await loader.isIdle())) return loader;
  return undefined;
}

/**
 * Resolves when the run should end: true when the input is consumed to its end (if asked),
 * false when aborted or signalled; rejects if the topology fails.
 */
async function untilStopped(
  topology: {
    done: Promise<void>;
    isIdle(): Promise<boolean>;
    onSettled?(listener: () => void): () => void;
  },
  options: RunOptions,
): Promise<boolean> {
  const stopped = new AbortController();
  const onSignal = () => stopped.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  options.signal?.addEventListener('abort', onSignal, { once: true });
  // Aborted before the run got here (while it started): it stops now.
  if (options.signal?.aborted) onSignal();
  let failure: { error: unknown } | undefined;
  topology.done.then(onSignal, (error: unknown) => {
    failure = { error };
    onSignal();
  });
  let idleChecks = !options.idleAfter;
  options.idleAfter?.finally(() => (idleChecks = true)).catch(() => undefined);
  // A settle (every record fetched is written: the end, maybe) wakes the loop; one that comes
  // while the loop looks is kept for the next turn, so that the last one is never missed.
  let settled = false;
  let wake: (() => void) | undefined;
  const offSettled = options.exitWhenIdle
    ? topology.onSettled?.(() => {
        settled = true;
        wake?.();
      })
    : undefined;
  const pollMs = options.idlePollMs ?? IDLE_POLL_MS;
  try {
    while (!stopped.signal.aborted) {
      if (!settled)
        await new Promise<void>((resolve) => {
          const look = () => {
            clearTimeout(poll);
            stopped.signal.removeEventListener('abort', look);
            wake = undefined;
            resolve();
          };
          const poll = setTimeout(look, pollMs);
          stopped.signal.addEventListener('abort', look, { once: true });
          wake = look;
        });
      settled = false;
      if (options.exitWhenIdle && idleChecks && !stopped.signal.aborted) {
        try {
          if (await topology.isIdle()) return true;
        } catch (error) {
          options.log.debug({ error: messageOf(error) }, 'idle check failed');
        }
      }
    }
    if (failure) throw failure.error;
    return false;
  } finally {
    offSettled?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
