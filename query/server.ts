import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError } from '../collector/errors.js';
import { Tenants } from '../collector/tenants.js';
import type { Config } from '../core/config.js';
import { ConfigError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { parseRequestUrl } from '../core/requestUrl.js';
import type { ApiAnswer, Caller, QueryApi } from './api.js';
import { ApiError } from './errors.js';
import type { QueryMetrics } from './metrics.js';
import { Params } from './params.js';
import type { ClickHouseQuerier } from './querier.js';
import { decodeReadRequest, encodeReadResponse } from './remoteRead.js';

/** A handler for the paths the API does not serve (the chart page mounts one at `/`). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface QueryServer {
  url: string;
  /** Serves every non-API path (not `/api/…`, `/metrics`, `/healthz`, `/readyz`) with `handler`. */
  mount(handler: RequestHandler): void;
  close(): Promise<void>;
}

const MAX_FORM_BYTES = 4 * 1024 * 1024;
const MAX_READ_BYTES = 64 * 1024 * 1024;

type Endpoint = (p: Params, caller: Caller, signal: AbortSignal) => Promise<ApiAnswer> | ApiAnswer;

/**
 * The query service's HTTP server: Prometheus' API v1 read endpoints (GET, and form POST where
 * Prometheus takes it), remote read, the alert-events extension, and the admin endpoints.
 * Every answer is Prometheus' envelope; every failure is an error envelope with Prometheus'
 * error type and status, never a crash: a handler's exception becomes a 500 `internal`.
 */
export async function startQueryServer(options: {
  config: Config;
  api: QueryApi;
  metrics: QueryMetrics;
  log: Logger;
  /** A querier for remote read, scoped to the caller. */
  remoteQuerier: (caller: Caller, signal: AbortSignal) => ClickHouseQuerier;
  ready: () => boolean;
  ui?: RequestHandler;
}): Promise<QueryServer> {
  const { config, api, metrics, log } = options;
  const settings = config.query;
  const tenants = new Tenants(config.collector.tenants);
  let ui = options.ui;

  const routes: Record<string, { methods: string[]; run: Endpoint }> = {
    '/api/v1/query': { methods: ['GET', 'POST'], run: (p, c, s) => api.query(p, c, s) },
    '/api/v1/query_range': { methods: ['GET', 'POST'], run: (p, c, s) => api.queryRange(p, c, s) },
    '/api/v1/series': { methods: ['GET', 'POST'], run: (p, c, s) => api.series(p, c, s) },
    '/api/v1/labels': { methods: ['GET', 'POST'], run: (p, c, s) => api.labels(p, c, s) },
    '/api/v1/metadata': { methods: ['GET'], run: (p, c, s) => api.metadata(p, c, s) },
    '/api/v1/status/buildinfo': { methods: ['GET'], run: () => api.buildinfo() },
    '/api/v1/alert_events': { methods: ['GET'], run: (p, c, s) => api.alertEvents(p, c, s) },
  };

  const authenticate = (req: IncomingMessage): Caller => {
    try {
      return { tenant: tenants.authenticate(req.headers.authorization).name };
    } catch (error) {
      throw new ApiError('unauthorized', messageOf(error));
    }
  };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    url: URL,
  ): Promise<string> => {
    const labelValues = /^\/api\/v1\/label\/([^/]+)\/values$/.exec(path);
    if (path === '/api/v1/read') {
      if (req.method !== 'POST') throw methodNotAllowed(res, ['POST']);
      await remoteRead(req, res, authenticate(req));
      return 'read';
    }
    const route = labelValues
      ? {
          methods: ['GET'],
          run: (p: Params, c: Caller, s: AbortSignal) =>
            api.labelValues(decodeLabelName(labelValues[1] as string), p, c, s),
        }
      : routes[path];
    const endpoint = labelValues ? 'label_values' : path.slice('/api/v1/'.length);
    if (!route) throw new ApiError('not_found', `no endpoint ${path}`);
    if (!route.methods.includes(req.method ?? '')) throw methodNotAllowed(res, route.methods);
    const caller = authenticate(req);
    const form = new URLSearchParams(url.search);
    if (req.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      const body = await readBody(req, MAX_FORM_BYTES);
      if (type === 'application/x-www-form-urlencoded')
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) form.append(k, v);
    }
    const params = new Params(form);
    const answer = await withTimeout(params.timeout(settings.timeoutMs), (signal) =>
      route.run(params, caller, signal),
    );
    for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    if (answer.body !== undefined) {
      res.setHeader('Content-Type', 'application/json');
      res.end(answer.body);
      return endpoint;
    }
    send(res, 200, {
      status: 'success',
      data: answer.data,
      ...(answer.warnings ? { warnings: answer.warnings } : {}),
    });
    return endpoint;
  };

  const remoteRead = async (req: IncomingMessage, res: ServerResponse, caller: Caller) => {
    const body = await readBody(req, MAX_READ_BYTES);
    const queries = decodeReadRequest(body, MAX_READ_BYTES);
    const results = await withTimeout(settings.timeoutMs, async (signal) => {
      const querier = options.remoteQuerier(caller, signal);
      const out = [];
      for (const q of queries)
        out.push(
          await querier.select(q.matchers, { startMs: q.startMs, endMs: q.endMs, stepMs: 0, rangeMs: 0 }),
        );
      return out;
    });
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/x-protobuf');
    res.setHeader('Content-Encoding', 'snappy');
    res.end(encodeReadResponse(results));
  };

  const server: Server = createServer((req, res) => {
    const began = process.hrtime.bigint();
    const url = parseRequestUrl(req.url);
    if (!url) return void sendError(res, new ApiError('bad_data', 'invalid request URL'));
    const path = url.pathname;
    if (!path.startsWith('/api/')) return void serveOther(req, res, path);
    let endpoint = 'unknown';
    handle(req, res, path, url)
      .then((name) => (endpoint = name))
      .catch((error: unknown) => {
        const failure = asApiError(error);
        if (failure.type === 'internal') log.error({ error: messageOf(error), path }, 'query failed');
        else log.debug({ status: failure.status, error: failure.message, path }, 'query refused');
        sendError(res, failure);
      })
      .finally(() => {
        metrics.requests.inc({ endpoint, status: String(res.statusCode) });
        metrics.duration.observe({ endpoint }, Number(process.hrtime.bigint() - began) / 1e9);
      });
  });

  const serveOther = (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (req.method === 'GET' && path === '/healthz') return void res.end('ok\n');
    if (req.method === 'GET' && path === '/readyz') {
      const ready = options.ready();
      res.statusCode = ready ? 200 : 503;
      return void res.end(ready ? 'ready\n' : 'not ready\n');
    }
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.setHeader('Content-Type', metrics.registry.contentType);
          res.end(text);
        },
        (error: unknown) => sendError(res, new ApiError('internal', messageOf(error))),
      );
      return;
    }
    if (ui) {
      Promise.resolve()
        .then(() => (ui as RequestHandler)(req, res))
        .catch((error: unknown) => {
          log.error({ error: messageOf(error), path }, 'UI handler failed');
          if (!res.headersSent) sendError(res, new ApiError('internal', messageOf(error)));
          else res.end();
        });
      return;
    }
    sendError(res, new ApiError('not_found', `no page ${path}; the API is under /api/v1/`));
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL'
          ? new ConfigError(
              `the query service cannot listen on ${settings.host}:${settings.port}: ${error.code}`,
              {
                hint: 'choose another with --port (or query.port / query.host)',
              },
            )
          : error,
      ),
    );
    server.listen(settings.port, settings.host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    mount: (handler) => (ui = handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** Runs `task` with an abort signal that fires after `ms`; then it fails with `timeout`, as Prometheus does. */
async function withTimeout<T>(ms: number, task: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new ApiError('timeout', `query timed out in expression evaluation after ${ms / 1000}s`));
    }, ms);
  });
  try {
    return await Promise.race([Promise.resolve(task(controller.signal)), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Any failure as an API error: ours as they are, ClickHouse's as `execution`, the rest `internal`. */
function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HttpError) return new ApiError('bad_data', error.message, { status: error.status });
  const message = messageOf(error);
  if (/re2|regular expression|regexp/i.test(message))
    return new ApiError('bad_data', message, { cause: error });
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^\d+$/.test(code))
    return new ApiError('execution', `ClickHouse: ${message}`, { cause: error });
  return new ApiError('internal', message, { cause: error });
}

/** A label name from the path; a malformed percent-encoding (`%E0`) is the caller's error, not ours. */
function decodeLabelName(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new ApiError('bad_data', 'invalid label name');
  }
}

function methodNotAllowed(res: ServerResponse, methods: string[]): ApiError {
  res.setHeader('Allow', methods.join(', '));
  return new ApiError('bad_data', `method not allowed; use ${methods.join(' or ')}`, { status: 405 });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) return void res.end();
  if (error.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
  send(res, error.status, { status: 'error', errorType: error.type, error: error.message });
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new ApiError('bad_data', `request body exceeds ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
