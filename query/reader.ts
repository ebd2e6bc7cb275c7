import type { ClickHouse } from '../sinks/clickhouse.js';
import { readOwner } from '../sql/owner.js';
import { ApiError } from './errors.js';

/**
 * Where the query service's SQL goes: a read-only statement with ClickHouse query parameters,
 * answered as TabSeparated text. Over the process's own client, or, when another process holds
 * the embedded data folder (the engine admits one process per folder), over that process's
 * admin `/sql` endpoint, which takes the same parameters (see sql/adminSql.ts).
 */
export interface SqlReader {
  readonly database: string;
  read(
    query: string,
    params: Record<string, unknown>,
    format: ReadFormat,
    signal?: AbortSignal,
  ): Promise<string>;
}

/** TabSeparated for samples (compact, `nan`/`inf` kept); JSONCompactEachRow for maps and strings. */
export type ReadFormat = 'TabSeparated' | 'JSONCompactEachRow';

/** Reads through a ClickHouse client this process holds (its own, or the topology's in `run`/`demo`). */
export function clientReader(ch: ClickHouse): SqlReader {
  return {
    database: ch.database,
    async read(query, params, format, signal) {
      const result = await ch.client.query({
        query,
        query_params: params,
        format,
        abort_signal: signal,
      });
      return result.text();
    },
  };
}

/** Reads through the admin endpoint of the process that holds the embedded folder `dataPath`. */
export function ownerReader(dataPath: string, database: string): SqlReader {
  return {
    database,
    async read(query, params, format, signal) {
      const owner = readOwner(dataPath);
      if (!owner)
        throw new ApiError('unavailable', `no process holds the embedded ClickHouse at ${dataPath} any more`);
      const response = await fetch(`${owner.url}/sql?format=${format}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ query, params }, (_k, v: unknown) =>
          typeof v === 'bigint' ? v.toString() : v,
        ),
        signal,
      });
      const text = await response.text();
      if (!response.ok) throw new ApiError('execution', `ClickHouse: ${text.trim()}`);
      return text;
    },
  };
}

/** Rows of JSONCompactEachRow text. */
export function jsonRows<T extends unknown[]>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line !== '') rows.push(JSON.parse(line) as T);
  return rows;
}

/** Rows of TabSeparated text, each split into its fields (ClickHouse escapes tabs and newlines in values). */
export function tsvRows(text: string): string[][] {
  const rows: string[][] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    rows.push(text.slice(start, end).split('\t'));
    start = end + 1;
  }
  return rows;
}

/** A Float64 as ClickHouse writes it in text formats (`nan`, `inf`, `-inf` included). */
export function parseFloat64(text: string): number {
  switch (text) {
    case 'nan':
    case '-nan':
      return Number.NaN;
    case 'inf':
    case '+inf':
      return Number.POSITIVE_INFINITY;
    case '-inf':
      return Number.NEGATIVE_INFINITY;
    default:
      return Number(text);
  }
}

/** Undoes TabSeparated escaping of a String field. */
export function unescapeTsv(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(.)/g, (_m, c: string) => {
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case '0':
        return '\0';
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      default:
        return c;
    }
  });
}
