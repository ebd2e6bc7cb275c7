import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { parseRequestUrl } from '../core/requestUrl.js';

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

/**
 * What a layer above adds to the admin server (sql/adminSql.ts: `/sql` and ClickHouse's
 * readiness), so that the runtime knows nothing of the stores behind it.
 */
export interface AdminExtension {
  /** Answers the request and returns true, or returns false to leave it to others. */
  handle?(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
  /** Why the process cannot take work now, or undefined when it can. */
  problem?(): string | undefined;
  listening?(url: string): void;
  closing?(): void;
}

/**
 * A process's HTTP side: `/healthz` (alive), `/readyz` (503 while `ready()` is false, or with
 * the reason an extension gives, e.g. ClickHouse waiting for a full disk), `/metrics`
 * (Prometheus text, when given a registry), and the routes of its extensions. Listens on
 * loopback only.
 */
export async function startAdminServer(options: {
  port: number;
  ready: () => boolean;
  log: Logger;
  metrics?: { registry: Registry };
  extensions?: ReadonlyArray<AdminExtension>;
}): Promise<AdminServer> {
  const { ready, log, metrics } = options;
  const extensions = options.extensions ?? [];
  const problem = () => {
    for (const extension of extensions) {
      const why = extension.problem?.();
      if (why !== undefined) return why;
    }
    return undefined;
  };
  const server: Server = createServer((req, res) => {
    const url = parseRequestUrl(req.url);
    if (!url) {
      res.statusCode = 400;
      return void res.end('invalid request URL\n');
    }
    if (req.method === 'GET' && url.pathname === '/healthz') return void res.end('ok\n');
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const why = ready() ? problem() : '';
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
    for (const extension of extensions) if (extension.handle?.(req, res, url)) return;
    res.statusCode = 404;
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const extension of extensions) extension.listening?.(url);
  log.info({ url }, 'admin server listening');
  return {
    url,
    close: async () => {
      for (const extension of extensions) extension.closing?.();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections of clients (`sql`, the query service) would hold the close for seconds.
        server.closeIdleConnections();
      });
    },
  };
}
