import { messageOf } from '../core/errors.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import type { AdminExtension } from '../streams/adminServer.js';
import { clearOwner, writeOwner } from './owner.js';
import { runSql, SQL_FORMATS, type SqlFormat } from './query.js';

const MAX_QUERY_BYTES = 1 << 20;

/**
 * The ClickHouse a process holds, on its admin server: `/readyz` says 503 with the reason while
 * writes wait for a full disk or a server, and, when it is the embedded engine, `POST
 * /sql?format=…` serves it so that `metrics-pipeline sql` (the statement as the body) and the
 * query service (`{"query", "params"}` as JSON, ClickHouse query parameters) work meanwhile; the
 * owner file tells them where.
 */
export function clickhouseEndpoints(clickhouse: ClickHouse): AdminExtension {
  const embedded = clickhouse.embeddedPath;
  return {
    problem: () => clickhouse.health.problem(),
    listening: (url) => {
      if (embedded) writeOwner(embedded, { pid: process.pid, url });
    },
    closing: () => {
      if (embedded) clearOwner(embedded);
    },
    handle(req, res, url) {
      if (req.method !== 'POST' || url.pathname !== '/sql' || !embedded) return false;
      const format = (url.searchParams.get('format') ?? 'TabSeparatedWithNames') as SqlFormat;
      if (!SQL_FORMATS.includes(format)) {
        res.statusCode = 400;
        res.end(`unsupported format ${format}\n`);
        return true;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_QUERY_BYTES) req.destroy();
        else chunks.push(chunk);
      });
      req.on('end', () => {
        let statement: { query: string; params: Record<string, unknown> };
        try {
          statement = sqlStatement(req.headers['content-type'], Buffer.concat(chunks).toString('utf8'));
        } catch (error) {
          res.statusCode = 400;
          return void res.end(`${messageOf(error)}\n`);
        }
        runSql(clickhouse, statement.query, format, statement.params).then(
          (text) => res.end(text),
          (error: unknown) => {
            res.statusCode = 400;
            res.end(`${messageOf(error)}\n`);
          },
        );
      });
      return true;
    },
  };
}

/** The statement of a `/sql` request: the body as SQL, or `{"query", "params"}` when it is JSON. */
function sqlStatement(
  contentType: string | undefined,
  body: string,
): { query: string; params: Record<string, unknown> } {
  if (!(contentType ?? '').startsWith('application/json')) return { query: body, params: {} };
  const parsed = JSON.parse(body) as { query?: unknown; params?: unknown };
  if (typeof parsed.query !== 'string') throw new Error('"query" must be a string');
  const params = parsed.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params))
    throw new Error('"params" must be an object');
  return { query: parsed.query, params: params as Record<string, unknown> };
}
