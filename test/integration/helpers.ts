import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { loadConfig, merge, type Config, type ConfigInput } from '../../core/config.js';
import { committedToEnd, createKafka } from '../../core/kafka.js';
import { createLogger } from '../../core/log.js';
import type { TopologyStats } from '../../topology/topology.js';
import { runPipeline, type RunOptions } from '../../topology/run.js';
import { produceSynthetic } from '../../producer/produce.js';
import { Registry } from '../../schemas/registry.js';
import type { Rollup } from '../../schemas/index.js';
import { openClickHouse, queryRows } from '../../sinks/clickhouse.js';
import { endpoints } from '../setup/endpoints.js';
import { tierTable } from '../../core/tiers.js';

export const repoRoot = new URL('../..', import.meta.url).pathname;

/** A name no other test (or earlier run) uses: topics, groups and databases get one each. */
export function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

/** A configuration on the suite's services, with its own topics, group and database. */
export function testConfig(clickhousePath: string, overrides: ConfigInput = {}): Config {
  const { brokers, registryUrl } = endpoints();
  const id = unique('t');
  const base: ConfigInput = {
    appId: `${id}-app`,
    // The tests kill instances: their partitions move after 10 s rather than the default 30 s.
    kafka: { brokers, sessionTimeoutMs: 10_000 },
    schemaRegistry: { url: registryUrl },
    clickhouse: { path: clickhousePath, database: id },
    topics: {
      metrics: `${id}-metrics`,
      dlq: `${id}-dlq`,
      late: `${id}-late`,
      alerts: `${id}-alerts`,
      partitions: 3,
    },
  };
  return loadConfig(undefined, {}, merge(base, overrides) as ConfigInput);
}

export const quietLog = createLogger('test', process.env.LOG_LEVEL ?? 'warn');

/**
 * `promise`, or an error naming `what` once `ms` have passed without it settling (`what` as a
 * function: asked then, e.g. for the log lines written meanwhile).
 */
export async function within<T>(what: string | (() => string), ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${typeof what === 'string' ? what : what()} did not finish in ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long after its deadline a run that has not ended (stuck starting or stopping) fails the test: within vitest's 120 s. */
const STUCK_MS = 5_000;

/**
 * `run --exit-when-idle` on `config`, stopped after `deadlineMs` if it has not reached the end
 * of its input by then: the test then fails naming what the run was still waiting for and its
 * counts, instead of timing out without a word.
 */
export async function runToEnd(
  config: Config,
  options: Partial<RunOptions> = {},
  deadlineMs = 90_000,
): Promise<TopologyStats> {
  const lines: string[] = [];
  const log = pino(
    { name: 'run', level: 'debug' },
    {
      write(line: string) {
        lines.push(line);
        if (lines.length > 40) lines.shift();
        if (Number(/"level":(\d+)/.exec(line)?.[1]) >= 40) process.stderr.write(line);
      },
    },
  );
  const late = new AbortController();
  const timer = setTimeout(() => late.abort(), deadlineMs);
  let stats: TopologyStats | undefined;
  try {
    // The signal stops a running topology; a start that never completes (a group never joined)
    // does not look at it: the test then fails with the run's last log lines, not its own timeout.
    stats = await within(
      () => `the run (stuck starting or stopping; last log lines:\n${lines.join('')})`,
      deadlineMs + STUCK_MS,
      runPipeline({ config, log, exitWhenIdle: true, signal: late.signal, ...options }),
    );
  } finally {
    clearTimeout(timer);
  }
  if (late.signal.aborted)
    throw new Error(
      `the run did not reach the end of its input in ${deadlineMs} ms; counts ${JSON.stringify(stats)}; last log lines:\n${lines.join('')}`,
    );
  return stats;
}

export function testKafka(): Kafka {
  return new Kafka({ brokers: endpoints().brokers, clientId: 'test', logLevel: logLevel.NOTHING });
}

/** Rows of a query on the embedded ClickHouse at `config.clickhouse`, opened for this query only. */
export async function query<T>(config: Config, sql: string): Promise<T[]> {
  const ch = await openClickHouse(config.clickhouse);
  try {
    return await queryRows<T>(ch, sql);
  } finally {
    await ch.close();
  }
}

/** Raw sample rows, distinct (series, ts) pairs and series of the test's database. */
export async function counts(config: Config): Promise<{ rows: number; distinct: number; series: number }> {
  const db = `\`${config.clickhouse.database}\``;
  const [row] = await query<{ rows: string; distinct: string; series: string }>(
    config,
    `SELECT (SELECT count() FROM ${db}.samples) AS rows,
            (SELECT uniqExact(series_id, ts) FROM ${db}.samples) AS distinct,
            (SELECT uniqExact(series_id) FROM ${db}.series) AS series`,
  );
  return { rows: Number(row?.rows), distinct: Number(row?.distinct), series: Number(row?.series) };
}

/** Reads `count` records of `topic` from the beginning (a fresh group), resolving when they are all in. */
export async function readTopic(topic: string, count: number): Promise<KafkaMessage[]> {
  const consumer = testKafka().consumer({ groupId: unique('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const messages: KafkaMessage[] = [];
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ message }) => {
          messages.push(message);
          if (messages.length >= count) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return messages;
}

export interface Cli {
  child: ChildProcess;
  /** Resolves with the exit code (or the signal name). */
  exit: Promise<number | string>;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr has a line matching `pattern` (it may already have one). */
  waitFor(pattern: RegExp): Promise<string>;
}

/** Runs `metrics-pipeline <args>` as its own process, as a user would. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/metrics-pipeline.js'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const watchers: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...watchers]) {
      const line = err.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exit = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    child,
    exit,
    stdout: () => out,
    stderr: () => err,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const line = err.split('\n').find((l) => pattern.test(l));
        if (line !== undefined) return resolve(line);
        watchers.push({ pattern, resolve });
        void exit.then((code) =>
          reject(new Error(`process exited (${code}) before printing ${pattern}:\n${err.slice(-2000)}`)),
        );
      }),
  };
}

/**
 * Rows of a tier table (FINAL) that differ from a batch recomputation over `samples` in SQL
 * (count, sum, min, max, first, last, and stddev as ClickHouse's stddevPopStable: its stddevPop subtracts squares and loses digits), plus rows present on
 * one side only; and duplicates left visible after FINAL. `tier` names one of `config.tiers`.
 */
export async function tierCheck(
  config: Config,
  tier: string,
): Promise<{ windows: number; mismatches: number; duplicates: number; missing: number; extra: number }> {
  const db = `\`${config.clickhouse.database}\``;
  const sizeMs = config.tiers.find((t) => t.name === tier)?.sizeMs;
  if (sizeMs === undefined) throw new Error(`tier ${tier} is not configured`);
  const bucket = (ts: string) => `toStartOfInterval(${ts}, INTERVAL ${sizeMs / 1000} SECOND)`;
  const table = `${db}.${tierTable(tier)}`;
  const [row] = await query<{
    windows: string;
    mismatches: string;
    duplicates: string;
    missing: string;
    extra: string;
  }>(
    config,
    `SELECT
       (SELECT count() FROM ${table} FINAL) AS windows,
       (SELECT count() FROM (
          SELECT metric, series_id, ${bucket('ts')} AS t, count() AS c, sum(value) AS s, min(value) AS mi, max(value) AS ma,
                 argMin(value, ts) AS f, argMax(value, ts) AS l, stddevPopStable(value) AS sd
          FROM ${db}.samples GROUP BY metric, series_id, t) AS b
        FULL OUTER JOIN (
          SELECT metric, series_id, ts AS t, count AS c, sum AS s, min AS mi, max AS ma, first AS f, last AS l, stddev AS sd
          FROM ${table} FINAL) AS w
        USING (metric, series_id, t)
        WHERE b.c != w.c OR abs(b.s - w.s) > 1e-9 * abs(b.s) OR b.mi != w.mi OR b.ma != w.ma OR b.f != w.f OR b.l != w.l
           OR abs(b.sd - w.sd) > 1e-9 * greatest(1, abs(b.sd))) AS mismatches,
       (SELECT count() - uniqExact(series_id, ts) FROM ${table} FINAL) AS duplicates,
       (SELECT count() FROM (SELECT DISTINCT series_id, ${bucket('ts')} AS t FROM ${db}.samples) AS b
          LEFT ANTI JOIN (SELECT series_id, ts AS t FROM ${table} FINAL) AS w USING (series_id, t)) AS missing,
       (SELECT count() FROM (SELECT series_id, ts AS t FROM ${table} FINAL) AS w
          LEFT ANTI JOIN (SELECT DISTINCT series_id, ${bucket('ts')} AS t FROM ${db}.samples) AS b USING (series_id, t)) AS extra`,
  );
  return {
    windows: Number(row?.windows),
    mismatches: Number(row?.mismatches),
    duplicates: Number(row?.duplicates),
    missing: Number(row?.missing),
    extra: Number(row?.extra),
  };
}

/** Resolves once the group has committed every partition of `topics` to its end, in that order. */
export async function caughtUp(groupId: string, topics: string[]): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    for (const topic of topics)
      while (!(await committedToEnd(admin, groupId, topic)))
        await new Promise((resolve) => setTimeout(resolve, 250));
  } finally {
    await admin.disconnect();
  }
}

/** Publishes the synthetic workload to the test's input topic (see `produceSynthetic`). */
export function produce(
  config: Config,
  workload: {
    series: number;
    samples: number;
    batch: number;
    seed: number;
    rate?: number;
    keys?: 'series' | 'round-robin';
    /** Event time between a series' samples (default 10 s). */
    intervalMs?: number;
  },
): ReturnType<typeof produceSynthetic> {
  return produceSynthetic({
    kafka: createKafka(config.kafka.brokers, 'test', quietLog),
    registry: new Registry(config.schemaRegistry.url as string),
    topic: config.topics.metrics,
    partitions: config.topics.partitions,
    ...workload,
  });
}

/** A config of the test's services written to `<dir>/config.yaml`, for commands run as processes. */
export function configFile(dir: string, overrides: ConfigInput = {}): { config: Config; file: string } {
  const config = testConfig(join(dir, 'clickhouse'), overrides);
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(config));
  return { config, file };
}

/** A 1m window result of a gauge whose `count` samples were all 1 (no sketch), as the tier topic and tables take it. */
export function onesResult(r: {
  seriesId: string;
  name: string;
  labels?: Record<string, string>;
  windowStart: number;
  count: number;
  revision: number;
}): Rollup {
  return {
    tier: '1m',
    seriesId: r.seriesId,
    name: r.name,
    labels: r.labels ?? {},
    kind: 'gauge',
    windowStart: r.windowStart,
    windowEnd: r.windowStart + 60_000,
    count: r.count,
    sum: r.count,
    min: 1,
    max: 1,
    avg: 1,
    first: 1,
    last: 1,
    p50: 1,
    p90: 1,
    p99: 1,
    increase: 0,
    rate: 0,
    stddev: 0,
    revision: r.revision,
    sketch: Buffer.alloc(0),
  };
}
