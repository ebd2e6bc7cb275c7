import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../core/config.js';

/** Where one bench invocation keeps its files: `.bench/<id>/` (git-ignored). */
export const BENCH_DIR = '.bench';

/** One run of the bench: its own topic, consumer group, ClickHouse database and data folder. */
export interface RunWorkspace {
  /** Short name of the run (batched, unbatched, latency). */
  name: string;
  dir: string;
  config: Config;
  /** The generated config file the topology child is started with. */
  configFile: string;
  /** The child's stderr, kept for inspection and error messages. */
  logFile: string;
}

/**
 * A fresh workspace for a run: unique topic, DLQ topic, appId and database names, a fresh
 * embedded ClickHouse folder (or a fresh database on a ClickHouse server), and the config file.
 */
/**
 * `outOfOrdernessMs`: how far event time runs out of order within a partition: a record of
 * `batch` samples `interval` apart spans batch × interval.
 */
export function runWorkspace(
  base: Config,
  benchId: string,
  name: string,
  outOfOrdernessMs: number,
  /** An input topic shared with other runs instead of the run's own. */
  input?: string,
): RunWorkspace {
  const dir = resolve(BENCH_DIR, benchId, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const prefix = `bench-${benchId}-${name}`;
  const config: Config = {
    ...base,
    appId: prefix,
    topics: {
      ...base.topics,
      metrics: input ?? prefix,
      dlq: `${prefix}-dlq`,
      late: `${prefix}-late`,
    },
    // The tier topics follow topics.metrics: `${prefix}-1m`, `${prefix}-1h`.
    tiers: base.tiers.map((t) => ({ ...t, topic: undefined })),
    windows: { ...base.windows, outOfOrdernessMs: Math.max(base.windows.outOfOrdernessMs, outOfOrdernessMs) },
    clickhouse: {
      ...base.clickhouse,
      database: `bench_${benchId}_${name}`,
      path: join(dir, 'clickhouse'),
    },
  };
  const configFile = join(dir, 'config.yaml');
  // A password from the environment reaches the child through its environment, not the file.
  const written =
    process.env.CLICKHOUSE_PASSWORD === undefined
      ? config
      : { ...config, clickhouse: { ...config.clickhouse, password: '' } };
  writeFileSync(configFile, stringify(written));
  return { name, dir, config, configFile, logFile: join(dir, 'topology.log') };
}

/**
 * The environment of a topology child: ours, minus what would override the generated config
 * file (the file already holds the brokers, the registry and a ClickHouse server's URL).
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  delete env.METRICS_PIPELINE_CONFIG;
  delete env.CLICKHOUSE_DATABASE;
  return env;
}
