import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { parseRequestUrl } from '../core/requestUrl.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { clearOwner, writeOwner } from '../sql/owner.js';
import { runSql, SQL_FORMATS, type SqlFormat } from '../sql/query.js';

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

const MAX_QUERY_BYTES = 1 << 20;

/**
 * The topology's HTTP side: `/healthz` (alive), `/readyz` (consuming, and ClickHouse taking
 * writes: 503 with the reason while they wait for a full disk or a server), `/metrics` (Prometheus
 * text, when given a registry), and, when it holds the embedded ClickHouse,
 * `POST /sql?format=…` so that `metrics-pipeline sql` (the statement as the body) and the query
 * service (`{"query", "params"}` as JSON, ClickHouse query parameters) work meanwhile. Listens
 * on loopback only.
 */
export async function startAdminServer(options: {
  port: number;
  /** The ClickHouse this process holds, if any (`/sql` serves it when it is the embedded engine). */
  clickhouse: ClickHouse | undefined;
  ready: () => boolean;
  log: Logger;
  metrics?: { registry: Registry };
}): Promise<AdminServer> {
  const { clickhouse, ready, log, metrics } = options;
  const server: Server = createServer((req, res) => {
    const url = parseRequestUrl(req.url);
    if (!url) {
      res.statusCode = 400;
      return void res.end('invalid request URL\n');
    }
    if (req.method === 'GET' && url.pathname === '/healthz') return void res.end('ok\n');
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const why = ready() ? clickhouse?.health.problem() : '';
      res.statusCode = why === undefined ? 200 : 503;
      return void res.end(why === undefined ? 'ready\n' : why ? `not ready: ${why}\n` : 'not ready\n');
    }
    if (req.method === 'GET' && url.pathname === '/metrics' && metrics) {
      metrics.registry.metrics().then(
        (text) => {
          res.setHeader('Content-Type', metrics.registry.contentType);
          res.end(text);
        },
        (error: unknown) => {
          res.statusCode = 500;
          res.end(`${messageOf(error)}\n`);
        },
      );
      return;
    }
    if (req.method === 'POST' && url.pathname === '/sql' && clickhouse?.embeddedPath) {
      const format = (url.searchParams.get('format') ?? 'TabSeparatedWithNames') as SqlFormat;
      if (!SQL_FORMATS.includes(format)) {
        res.statusCode = 400;
        return void res.end(`unsupported format ${format}\n`);
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
      return;
    }
    res.statusCode = 404;
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (clickhouse?.embeddedPath) writeOwner(clickhouse.embeddedPath, { pid: process.pid, url });
  log.info({ url }, 'admin server listening');
  return {
    url,
    close: async () => {
      if (clickhouse?.embeddedPath) clearOwner(clickhouse.embeddedPath);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections of clients (`sql`, the query service) would hold the close for seconds.
        server.closeIdleConnections();
      });
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
