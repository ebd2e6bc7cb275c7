import type { Config } from '../core/config.js';
import { openClickHouse, queryRows, type ClickHouse } from '../sinks/clickhouse.js';

export interface PartsSize {
  parts: number;
  rows: number;
  bytesOnDisk: number;
  /** bytes_on_disk / rows of the active parts. */
  bytesPerSample: number;
}

export interface StorageReport {
  /** `count()` of the samples table. */
  stored: number;
  /** Distinct series ids in the `series` table. */
  series: number;
  /** Active parts as the run left them, before OPTIMIZE. */
  beforeMerge: PartsSize;
  /** Active parts after `OPTIMIZE TABLE samples FINAL`. */
  afterMerge: PartsSize;
  /** Compressed bytes per sample of each column, measured on a merged wide-part copy. */
  columnBytesPerSample: Record<string, number>;
  /** Row counts of the rollup tables, null where the table does not exist. */
  rollups: { samples_1m: number | null; samples_1h: number | null };
}

/**
 * What a run left in ClickHouse, read after the topology exited (the embedded folder is free
 * again): the stored count, on-disk size per sample before and after merging the parts, and
 * the rollup tables if the topology has them.
 */
export async function inspectStorage(config: Config['clickhouse']): Promise<StorageReport> {
  const ch = await openClickHouse(config);
  try {
    const db = `\`${ch.database}\``;
    const stored = await scalar(ch, `SELECT count() AS n FROM ${db}.samples`);
    const series = await scalar(ch, `SELECT uniqExact(series_id) AS n FROM ${db}.series`);
    const beforeMerge = await partsSize(ch);
    await ch.client.command({ query: `OPTIMIZE TABLE ${db}.samples FINAL` });
    const afterMerge = await partsSize(ch);
    const columnBytesPerSample = await columnSizes(ch, afterMerge.rows);
    const tables = new Set(
      (
        await queryRows<{ name: string }>(
          ch,
          `SELECT name FROM system.tables WHERE database = {db:String} AND name IN ('samples_1m', 'samples_1h')`,
          { db: ch.database },
        )
      ).map((t) => t.name),
    );
    const rollup = async (table: string) =>
      // FINAL: a result and its correction in one insert are two rows until a merge.
      tables.has(table) ? scalar(ch, `SELECT count() AS n FROM ${db}.${table} FINAL`) : null;
    return {
      stored,
      series,
      beforeMerge,
      afterMerge,
      columnBytesPerSample,
      rollups: { samples_1m: await rollup('samples_1m'), samples_1h: await rollup('samples_1h') },
    };
  } finally {
    await ch.close();
  }
}

async function scalar(ch: ClickHouse, query: string): Promise<number> {
  const [row] = await queryRows<{ n: string }>(ch, query);
  return Number(row?.n ?? 0);
}

async function partsSize(ch: ClickHouse): Promise<PartsSize> {
  const [row] = await queryRows<{ parts: string; rows: string; bytes: string }>(
    ch,
    `SELECT count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
     WHERE database = {db:String} AND table = 'samples' AND active`,
    { db: ch.database },
  );
  const rows = Number(row?.rows ?? 0);
  const bytesOnDisk = Number(row?.bytes ?? 0);
  return {
    parts: Number(row?.parts ?? 0),
    rows,
    bytesOnDisk,
    bytesPerSample: rows > 0 ? bytesOnDisk / rows : 0,
  };
}

/**
 * Compressed bytes per sample of each column. Small parts are stored compact (all columns in
 * one file), for which ClickHouse keeps no per-column sizes, so the samples are copied into a
 * scratch table of the same columns, codecs and keys that always writes wide parts.
 */
async function columnSizes(ch: ClickHouse, rows: number): Promise<Record<string, number>> {
  const db = `\`${ch.database}\``;
  const scratch = `${db}.bench_column_sizes`;
  const [keys] = await queryRows<{ partition_key: string; sorting_key: string }>(
    ch,
    `SELECT partition_key, sorting_key FROM system.tables WHERE database = {db:String} AND name = 'samples'`,
    { db: ch.database },
  );
  const partition = keys?.partition_key ? `PARTITION BY ${keys.partition_key}` : '';
  await ch.client.command({ query: `DROP TABLE IF EXISTS ${scratch}` });
  await ch.client.command({
    query: `CREATE TABLE ${scratch} AS ${db}.samples ENGINE = MergeTree ${partition} ORDER BY (${keys?.sorting_key ?? ''})
            SETTINGS min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0`,
  });
  try {
    await ch.client.command({ query: `INSERT INTO ${scratch} SELECT * FROM ${db}.samples` });
    await ch.client.command({ query: `OPTIMIZE TABLE ${scratch} FINAL` });
    const columns = await queryRows<{ name: string; bytes: string }>(
      ch,
      `SELECT column AS name, sum(column_data_compressed_bytes) AS bytes FROM system.parts_columns
       WHERE database = {db:String} AND table = 'bench_column_sizes' AND active GROUP BY name ORDER BY name`,
      { db: ch.database },
    );
    return Object.fromEntries(columns.map((c) => [c.name, rows > 0 ? Number(c.bytes) / rows : 0]));
  } finally {
    await ch.client.command({ query: `DROP TABLE IF EXISTS ${scratch}` });
  }
}
