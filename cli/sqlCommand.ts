import type { Config } from '../core/config.js';
import { ConfigError, PipelineError } from '../core/errors.js';
import { openClickHouse } from '../sinks/clickhouse.js';
import { readOwner } from '../sql/owner.js';
import { runSql, SQL_FORMATS, type SqlFormat } from '../sql/query.js';
import { resolve } from 'node:path';

/**
 * `metrics-pipeline sql "<query>"`: runs the query on the configured ClickHouse. When a running
 * topology holds the embedded data folder, the query goes to that process instead.
 */
export async function sqlCommand(config: Config, query: string, format: string): Promise<void> {
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
  const clickhouse = await openClickHouse(config.clickhouse);
  try {
    process.stdout.write(await runSql(clickhouse, query, format as SqlFormat));
  } catch (error) {
    throw new PipelineError(`query failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await clickhouse.close();
  }
}
