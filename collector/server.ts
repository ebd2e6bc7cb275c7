import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { Config } from '../core/config.js';
import { ConfigError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ValidationLimits } from '../core/validate.js';
import { badRequest, HttpError, tooLarge } from './errors.js';
import type { Forwarder } from './forwarder.js';
import { decodeJsonSamples } from './formats/json.js';
import { decodeOtlpJson, decodeOtlpProtobuf } from './formats/otlp.js';
import { decodeRemoteWrite } from './formats/remoteWrite.js';
import { columnsOf, type SampleColumns } from './formats/types.js';
import { intake, type Outcome } from './intake.js';
import type { CollectorMetrics } from './metrics.js';
import { Tenants, type TenantConfig, type TenantLimits } from './tenants.js';

export interface CollectorServer {
  url: string;
  close(): Promise<void>;
}

type Endpoint = 'json' | 'remote_write' | 'otlp';

const ROUTES: Record<string, Endpoint> = {
  '/api/v1/metrics': 'json',
  '/api/v1/write': 'remote_write',
  '/v1/metrics': 'otlp',
};

/**
 * The collector's HTTP server: JSON batches, Prometheus remote_write and OTLP/HTTP metrics
 * in; every sample validated with the topology's rules, limited per tenant, and made durable
 * (Kafka or the write-ahead log) before the 202. Also `/healthz`, `/readyz` and `/metrics`.
 */
export async function startCollectorServer(options: {
  config: Config;
  forwarder: Forwarder;
  metrics: CollectorMetrics;
  log: Logger;
  now?: () => number;
  /** The limits of each configured tenant (default: kept in this process). */
  tenantLimits?: ((tenant: TenantConfig) => TenantLimits) | undefined;
  /** What `/metrics` serves (default: this process's metrics). */
  metricsText?: (() => Promise<string>) | undefined;
}): Promise<CollectorServer> {
  const { config, forwarder, metrics, log } = options;
  const settings = config.collector;
  const now = options.now ?? Date.now;
  const tenants = new Tenants(settings.tenants, now(), options.tenantLimits);
  const metricsText = options.metricsText ?? (() => metrics.registry.metrics());
  const limits: ValidationLimits = config.validation;
  if (!tenants.required) log.warn('no tenants configured: the collector takes requests without a token');

  const ingest = async (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse) => {
    const tenant = tenants.authenticate(req.headers.authorization);
    const body = decompress(req, await readBody(req, settings.maxBodyBytes), settings.maxDecodedBytes);
    const decoded = decode(endpoint, req, body, settings.maxDecodedBytes, now());
    await tenant.take(decoded.series.length, now());
    const { batch, outcome } = await intake(decoded, tenant, limits, now(), forwarder.partitionCount);
    await forwarder.write(batch);
    metrics.samples.inc({ outcome: 'accepted' }, outcome.accepted);
    metrics.samples.inc({ outcome: 'rejected' }, outcome.rejected);
    respond(endpoint, req, res, outcome);
  };

  const server: Server = createServer(
    { connectionsCheckingInterval: Math.min(1000, settings.requestTimeoutMs) },
    (req, res) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      const endpoint = ROUTES[path];
      const started = process.hrtime.bigint();
      const done = () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.requests.inc({ endpoint: endpoint ?? path, status: String(res.statusCode) });
        if (endpoint) metrics.duration.observe({ endpoint }, seconds);
      };
      res.on('finish', done);
      if (endpoint === undefined) return void serveOther(req, res, path);
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return void sendError(res, new HttpError(405, `${path} takes POST`));
      }
      ingest(endpoint, req, res).catch((error: unknown) => {
        if (!(error instanceof HttpError)) log.error({ error: messageOf(error), endpoint }, 'request failed');
        sendError(res, error instanceof HttpError ? error : new HttpError(500, messageOf(error)));
        if (error instanceof HttpError && error.status >= 400 && error.status < 500 && error.status !== 429)
          log.debug({ status: error.status, error: error.message, endpoint }, 'request refused');
      });
    },
  );
  server.requestTimeout = settings.requestTimeoutMs;
  server.headersTimeout = Math.min(settings.requestTimeoutMs, 60_000);

  const serveOther = (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (req.method === 'GET' && path === '/healthz') return void res.end('ok\n');
    if (req.method === 'GET' && path === '/readyz') {
      const ready = forwarder.acceptsUsualRequest;
      res.statusCode = ready ? 200 : 503;
      return void res.end(
        ready
          ? forwarder.kafkaUp
            ? 'ready\n'
            : 'ready (Kafka unreachable: logging to disk)\n'
          : 'not ready: write-ahead log full\n',
      );
    }
    if (req.method === 'GET' && path === '/metrics') {
      metricsText().then(
        (text) => {
          res.setHeader('Content-Type', metrics.registry.contentType);
          res.end(text);
        },
        (error: unknown) => sendError(res, new HttpError(500, messageOf(error))),
      );
      return;
    }
    sendError(
      res,
      new HttpError(404, `no endpoint ${path}; POST /api/v1/metrics, /api/v1/write or /v1/metrics`),
    );
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL'
          ? new ConfigError(
              `the collector cannot listen on ${settings.host}:${settings.port}: ${error.code}`,
              {
                hint: 'choose another with --port / --host (or collector.port / collector.host)',
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** Reads the body, refusing (413) beyond `max` bytes, by Content-Length up front or while reading. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) {
    req.resume();
    return Promise.reject(tooLarge(`body of ${declared} bytes exceeds the limit of ${max} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(`body exceeds the limit of ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** Undoes `Content-Encoding: gzip` (snappy is remote_write's own framing, undone by its decoder). */
function decompress(req: IncomingMessage, body: Buffer, maxDecoded: number): Buffer {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'gzip') return body;
  try {
    return gunzipSync(body, { maxOutputLength: maxDecoded });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw tooLarge(`gzip body decompresses to more than ${maxDecoded} bytes`);
    throw badRequest(`gzip: ${(error as Error).message}`);
  }
}

function decode(
  endpoint: Endpoint,
  req: IncomingMessage,
  body: Buffer,
  maxDecoded: number,
  now: number,
): SampleColumns {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const encoding = (req.headers['content-encoding'] ?? '').toLowerCase();
  switch (endpoint) {
    case 'json':
      if (type !== 'application/json')
        throw new HttpError(415, `expected Content-Type application/json, got ${type || 'none'}`);
      return decodeJsonSamples(body, now);
    case 'remote_write':
      if (type !== 'application/x-protobuf')
        throw new HttpError(
          415,
          `remote_write takes Content-Type application/x-protobuf, got ${type || 'none'}`,
        );
      if (encoding !== 'snappy')
        throw new HttpError(415, `remote_write takes Content-Encoding snappy, got ${encoding || 'none'}`);
      return decodeRemoteWrite(body, { maxDecodedBytes: maxDecoded });
    case 'otlp':
      if (type === 'application/x-protobuf') return columnsOf(decodeOtlpProtobuf(body));
      if (type === 'application/json') return columnsOf(decodeOtlpJson(body));
      throw new HttpError(
        415,
        `OTLP takes application/x-protobuf or application/json, got ${type || 'none'}`,
      );
  }
}

function respond(endpoint: Endpoint, req: IncomingMessage, res: ServerResponse, outcome: Outcome): void {
  res.statusCode = 202;
  res.setHeader('X-Samples-Accepted', String(outcome.accepted));
  res.setHeader('X-Samples-Rejected', String(outcome.rejected));
  const summary = Object.entries(outcome.reasons)
    .map(([reason, n]) => `${n}× ${reason}`)
    .join('; ');
  if (endpoint === 'otlp' && (req.headers['content-type'] ?? '').startsWith('application/x-protobuf')) {
    // OTLP clients read an ExportMetricsServiceResponse; partial success carries the rejections.
    res.setHeader('Content-Type', 'application/x-protobuf');
    return void res.end(otlpResponse(outcome.rejected, summary));
  }
  res.setHeader('Content-Type', 'application/json');
  const body: Record<string, unknown> = { ...outcome };
  if (endpoint === 'otlp' && outcome.rejected > 0)
    body.partialSuccess = { rejectedDataPoints: outcome.rejected, errorMessage: summary };
  res.end(JSON.stringify(body));
}

/** ExportMetricsServiceResponse { partial_success (1) { rejected_data_points (1), error_message (2) } }. */
function otlpResponse(rejected: number, message: string): Buffer {
  if (rejected === 0) return Buffer.alloc(0);
  const text = Buffer.from(message.slice(0, 4096));
  const inner = Buffer.concat([
    Buffer.from([0x08]),
    varint(rejected),
    Buffer.from([0x12]),
    varint(text.length),
    text,
  ]);
  return Buffer.concat([Buffer.from([0x0a]), varint(inner.length), inner]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) return void res.end();
  res.statusCode = error.status;
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  if (error.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
  // After refusing a body unread, the connection cannot carry another request.
  if (error.status === 413) res.setHeader('Connection', 'close');
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ error: error.message }));
}
