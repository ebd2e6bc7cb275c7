import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../core/config.js';
import { ConfigError, PipelineError } from '../core/errors.js';
import { openClickHouse } from '../sinks/clickhouse.js';
import { databasesWithSamples, hasTables, noTablesError } from '../sql/noTables.js';
import { readOwner } from '../sql/owner.js';
import { isRead, runSql, SQL_FORMATS, type SqlFormat } from '../sql/query.js';

/**
 * `metrics-pipeline sql "<query>"`: runs the query on the configured ClickHouse. When a running
 * topology holds the embedded data folder, the query goes to that process instead. A query that
 * fails on a database without tables says so, with the folder (or server) it looked at and the
 * `--config` that reaches the data, rather than ClickHouse's `Database … does not exist`.
 */
export async function sqlCommand(
  config: Config,
  query: string,
  format: string,
  configFile?: string,
): Promise<void> {
  if (!SQL_FORMATS.includes(format as SqlFormat)) {
    throw new ConfigError(`--format ${format} is not one of ${SQL_FORMATS.join(', ')}`);
  }
  const owner = config.clickhouse.url ? undefined : readOwner(resolve(config.clickhouse.path));
  if (owner) {
    const response = await fetch(`${owner.url}/sql?format=${format}`, { method: 'POST', body: query });
    const text = await response.text();
    if (!response.ok) throw new PipelineError(`query failed: ${text.trim()}`);
    process.stdout.write(text);
    return;
  }
  // Opening the embedded engine creates its folder: a read through a mistyped path must not leave one behind.
  if (!config.clickhouse.url && isRead(query) && !existsSync(config.clickhouse.path))
    throw noTablesError(config.clickhouse, configFile);
  const clickhouse = await openClickHouse(config.clickhouse);
  try {
    process.stdout.write(await runSql(clickhouse, query, format as SqlFormat));
  } catch (error) {
    if (!(await hasTables(clickhouse)))
      throw noTablesError(
        config.clickhouse,
        configFile,
        config.clickhouse.url ? await databasesWithSamples(clickhouse) : [],
      );
    throw new PipelineError(`query failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await clickhouse.close();
  }
}
