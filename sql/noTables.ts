import { existsSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { queryRows, type ClickHouse } from '../sinks/clickhouse.js';

/**
 * Why a query found nothing to read: the configured database holds no tables, most often because
 * the data lies elsewhere (the demo keeps its own in `.data/demo`, while the default config points
 * at `.data/clickhouse`). The message names the folder or server looked at and where it was
 * configured; the hint names folders or databases that do hold the pipeline's tables and the
 * `--config` that reaches them.
 */
export function noTablesError(
  clickhouse: Config['clickhouse'],
  configFile: string | undefined,
  otherDatabases: string[] = [],
): ConfigError {
  const from = configFile === undefined ? 'the default configuration' : `--config ${configFile}`;
  if (clickhouse.url) {
    const hint =
      otherDatabases.length > 0
        ? `the pipeline's tables are in ${otherDatabases.map((d) => `database ${d}`).join(', ')}: set CLICKHOUSE_DATABASE, or clickhouse.database in the file passed with --config`
        : 'run the topology (`metrics-pipeline run`) against this server first, or set CLICKHOUSE_DATABASE to the database it writes to';
    return new ConfigError(
      `no tables in database ${clickhouse.database} on the ClickHouse server ${clickhouse.url} (clickhouse.database, from ${from})`,
      { hint },
    );
  }
  const folder = resolve(clickhouse.path);
  const elsewhere = foldersWithDatabase(folder, clickhouse.database);
  const hint =
    elsewhere.length > 0
      ? `database ${clickhouse.database} is in ${elsewhere.map(shown).join(', ')}: pass a config naming that folder, e.g. \`metrics-pipeline --config <file> sql …\` with a file containing "clickhouse: { path: ${shown(elsewhere[0] as string)} }"`
      : 'store data first (`metrics-pipeline run`, or `npm start` for the demo), or pass --config <file> whose clickhouse.path is the data folder of the pipeline that wrote it';
  return new ConfigError(
    `no tables in database ${clickhouse.database} of the embedded ClickHouse at ${folder} (clickhouse.path, from ${from}): nothing has been stored there`,
    { hint },
  );
}

/** Databases on a server that hold the pipeline's `samples` table. */
export async function databasesWithSamples(ch: ClickHouse): Promise<string[]> {
  const rows = await queryRows<{ database: string }>(
    ch,
    "SELECT DISTINCT database FROM system.tables WHERE name = 'samples' ORDER BY database",
  );
  return rows.map((r) => r.database);
}

/** Whether the configured database exists with at least one table. */
export async function hasTables(ch: ClickHouse): Promise<boolean> {
  const [row] = await queryRows<{ n: string }>(
    ch,
    'SELECT count() AS n FROM system.tables WHERE database = {database:String}',
    { database: ch.database },
  );
  return Number(row?.n) > 0;
}

/**
 * Embedded data folders next to `folder` (siblings in its parent, as `.data/demo` is to
 * `.data/clickhouse`) that hold `database`; read from their metadata files, without opening them.
 */
function foldersWithDatabase(folder: string, database: string): string[] {
  const parent = dirname(folder);
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return [];
  }
  return entries
    .map((e) => join(parent, e))
    .filter((p) => p !== folder && existsSync(join(p, 'metadata', `${database}.sql`)))
    .sort();
}

/** A folder as the user would type it: relative to the working folder when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}
