import { randomUUID } from 'node:crypto';
import type { DataFormat } from '@clickhouse/client';
import type { ClickHouse } from '../sinks/clickhouse.js';

const READS = /^\s*(\(|SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i;

/** The output formats `metrics-pipeline sql --format` accepts. */
export const SQL_FORMATS = [
  'TabSeparatedWithNames',
  'TabSeparated',
  'CSVWithNames',
  'JSONEachRow',
  'JSONCompactEachRow',
  'JSON',
] as const;
export type SqlFormat = (typeof SQL_FORMATS)[number];

/**
 * Runs one statement of an analyst: reads return their rows as text in `format`, other
 * statements (DDL, INSERT … SELECT) run as commands and return ''. The default database is the
 * pipeline's, so `SELECT count() FROM samples` works as written.
 */
export async function runSql(
  ch: ClickHouse,
  query: string,
  format: SqlFormat = 'TabSeparatedWithNames',
  /** ClickHouse query parameters (`{name:Type}` in the query), e.g. from the query service. */
  params: Record<string, unknown> = {},
): Promise<string> {
  // The embedded engine keeps one session per process; a server needs a session for USE to last.
  const session = ch.embeddedPath ? {} : { session_id: randomUUID() };
  await ch.client.command({ query: `USE \`${ch.database}\``, ...session });
  if (READS.test(query)) {
    const result = await ch.client.query({
      query,
      format: format as DataFormat,
      query_params: params,
      ...session,
    });
    return result.text();
  }
  await ch.client.command({ query, query_params: params, ...session });
  return '';
}
