import { AGGREGATES, type AggregateDef, type AggregateName } from '../core/aggregates.js';
import type { Config } from '../core/config.js';
import { tierTable } from '../core/tiers.js';
import { SinkError } from '../core/errors.js';
import type { ClickHouse } from './clickhouse.js';
import type { Logger } from '../core/log.js';

/** The codes of the `kind` columns' Enum8, as the statements below declare them. */
export const KIND_CODES = { gauge: 1, counter: 2 } as const;

/** The aggregate columns of the tier tables, in table order: one per entry of the registry (core/aggregates.ts). */
export const TIER_AGGREGATES: readonly AggregateName[] = AGGREGATES.map((a) => a.name);

/** An aggregate's column as CREATE TABLE and ALTER TABLE spell it. */
function columnSpec(a: AggregateDef): string {
  return `${a.name} ${a.column.type} ${a.column.codec}`;
}

/**
 * A tier table: one row per series and window, a column per registry aggregate. The ALTER adds
 * the columns of aggregates added to the registry since the table was created (each after the
 * one before it, so the table keeps the registry's order); on a current table it changes nothing.
 */
function tierTableStatements(db: string, tier: string, partitionBy: string, ttlDays: number): string[] {
  const aggregates = AGGREGATES as readonly AggregateDef[];
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${tierTable(tier)} (
      metric LowCardinality(String),
      series_id UInt64 CODEC(ZSTD(1)),
      ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
      ${aggregates.map((a) => `${columnSpec(a)},`).join('\n      ')}
      revision UInt32
    ) ENGINE = ReplacingMergeTree(count)
    PARTITION BY ${partitionBy}
    ORDER BY (metric, series_id, ts)
    TTL toDateTime(ts) + INTERVAL ${ttlDays} DAY`,
    `ALTER TABLE ${db}.${tierTable(tier)} ${aggregates
      .map(
        (a, i) =>
          `ADD COLUMN IF NOT EXISTS ${columnSpec(a)} AFTER ${i === 0 ? 'ts' : aggregates[i - 1]?.name}`,
      )
      .join(', ')}`,
  ];
}

/**
 * Raw values compress in blocks of at least 256 KiB (32,768 values) rather than 64 KiB: ZSTD
 * then finds more of the repeats between neighbouring samples, 1.80 → 1.75 bytes per sample on
 * the bench's workload for the same insert time (bench/README.md, "Bytes per sample"); a read
 * of one series' hour decompresses at most 1 MiB per column, as before.
 */
const RAW_COMPRESS_BLOCK = 'min_compress_block_size = 262144';

/**
 * Raw parts merge up to about 12 at a time rather than 5 (the engine's default `merge_selector_base`):
 * the table takes a part per partition and flush and is read far less than it is written, so
 * fewer merge levels, each row rewritten fewer times, are worth a few more parts to read. On the
 * bench's batched run the merges rewrote 1.8 M rows instead of 4.5 M, and took 0.45–0.65 s of
 * CPU instead of ~1.8 s (bench/README.md, "Seventh pass"). ClickHouse 24.11 and later know the setting;
 * an older server (`CLICKHOUSE_URL`) keeps merging with its default.
 */
const RAW_MERGES = 'merge_selector_base = 12';

/**
 * The tables of the contract, created idempotently at start. The tier tables (`samples_<tier>`) hold
 * one row per series and window (`ts` = window start). Windows only grow (a correction adds late
 * records, a replay repeats the same records in offset order), so `count` orders the versions of
 * a window even across instances and restarts: the row with the most samples replaces the others
 * (ReplacingMergeTree(count): query with FINAL). `revision` says how many results it took. Time series codecs: DoubleDelta
 * for regular timestamps, Gorilla for slowly changing doubles, ZSTD on top. Raw values take Delta on their 64-bit
 * pattern instead: samples of a series, stored next to each other, share sign, exponent and leading mantissa bits,
 * so the differences are mostly zero bytes that ZSTD packs, and values that agents report in whole units or a few
 * decimals (bytes in kB, counters, percents) pack to under 2 bytes a sample; Gorilla's bit packing leaves ZSTD
 * little to find in them (2.4 bytes on the bench's workload, against 1.7).
 */
export function tableStatements(database: string, config: Pick<Config, 'retention' | 'tiers'>): string[] {
  const { retention, tiers } = config;
  const db = `\`${database}\``;
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    // Raw samples. Labels live once per series in `series`; join on series_id to filter by them.
    `CREATE TABLE IF NOT EXISTS ${db}.samples (
      metric LowCardinality(String),
      series_id UInt64 CODEC(ZSTD(1)),
      ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
      value Float64 CODEC(Delta(8), ZSTD(3)),
      kind Enum8('gauge' = 1, 'counter' = 2)
    ) ENGINE = MergeTree
    PARTITION BY toDate(ts)
    ORDER BY (metric, series_id, ts)
    TTL toDateTime(ts) + INTERVAL ${retention.rawDays} DAY
    SETTINGS non_replicated_deduplication_window = 10000, ${RAW_COMPRESS_BLOCK}`,
    // Tables created by an earlier release get it too, for the parts written from now on.
    `ALTER TABLE ${db}.samples MODIFY SETTING ${RAW_COMPRESS_BLOCK}`,
    // A setting of ClickHouse 24.11 and later: an older server keeps its default (`ensureTables`).
    `ALTER TABLE ${db}.samples MODIFY SETTING ${RAW_MERGES}`,
    // One row per series after merges; query with FINAL (or GROUP BY) to see merged first/last seen.
    `CREATE TABLE IF NOT EXISTS ${db}.series (
      metric LowCardinality(String),
      series_id UInt64,
      labels SimpleAggregateFunction(any, Map(String, String)),
      kind SimpleAggregateFunction(any, Enum8('gauge' = 1, 'counter' = 2)),
      first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
      last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
    ) ENGINE = AggregatingMergeTree
    ORDER BY (metric, series_id)`,
    // A day's partitions hold under a day of windows a few thousand rows per series; longer windows by month.
    ...tiers.flatMap((tier) =>
      tierTableStatements(
        db,
        tier.name,
        tier.sizeMs < 3_600_000 ? 'toDate(ts)' : 'toYYYYMM(ts)',
        tier.retentionDays,
      ),
    ),
    // Alert history: one row per state change of an alert instance, as on the alerts topic. A
    // replay repeats identical rows (same fingerprint, time and state), which ReplacingMergeTree
    // keeps once: query with FINAL. The alert's identity (rule, fingerprint) and time lead the
    // key, as (metric, series_id) and ts do for samples.
    `CREATE TABLE IF NOT EXISTS ${db}.alerts (
      rule LowCardinality(String),
      fingerprint String,
      ts DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
      state Enum8('pending' = 1, 'firing' = 2, 'resolved' = 3),
      severity LowCardinality(String),
      labels Map(String, String),
      annotations Map(String, String),
      value Float64,
      starts_at DateTime64(3, 'UTC'),
      ends_at Nullable(DateTime64(3, 'UTC'))
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(ts)
    ORDER BY (rule, fingerprint, ts, state)
    TTL toDateTime(ts) + INTERVAL ${retention.alertDays} DAY`,
    // Block boundaries of sink inserts, written before each insert, so that a replay after a
    // crash cuts the same blocks and ClickHouse's insert deduplication drops the repeats.
    `CREATE TABLE IF NOT EXISTS ${db}.sink_blocks (
      sink LowCardinality(String),
      topic String,
      partition UInt32,
      first_offset UInt64,
      last_offset UInt64,
      rows UInt32,
      created DateTime DEFAULT now()
    ) ENGINE = MergeTree
    ORDER BY (sink, topic, partition, first_offset)
    TTL created + INTERVAL 7 DAY`,
  ];
}

export async function ensureTables(
  ch: ClickHouse,
  config: Pick<Config, 'retention' | 'tiers'>,
  log?: Pick<Logger, 'warn'>,
): Promise<void> {
  for (const query of tableStatements(ch.database, config)) {
    try {
      await ch.client.command({ query });
    } catch (error) {
      // A tuning setting that a server older than it does not know: the table works without it.
      if (query.endsWith(`MODIFY SETTING ${RAW_MERGES}`) && isUnknownSetting(error)) {
        log?.warn(
          { setting: RAW_MERGES, error: (error as Error).message },
          'this ClickHouse does not know the setting: the raw samples table merges with its defaults',
        );
        continue;
      }
      throw new SinkError(
        `cannot create the tables in database ${ch.database}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

/** The engine's answer to a setting it does not know (code 115), from chDB or a server. */
export function isUnknownSetting(error: unknown): boolean {
  const { type, code } = (error ?? {}) as { type?: unknown; code?: unknown };
  return type === 'UNKNOWN_SETTING' || String(code) === '115';
}
