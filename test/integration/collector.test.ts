import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type Collector } from '../../collector/index.js';
import type { Config } from '../../core/config.js';
import { query, quietLog, runToEnd, tempDir, testConfig } from './helpers.js';

const dir = tempDir('collector');
const TOKEN_A = 'token-of-tenant-a-0123456789';
const TOKEN_B = 'token-of-tenant-b-0123456789';

let config: Config;
let collector: Collector;

beforeAll(async () => {
  config = testConfig(join(dir, 'clickhouse'), {
    collector: {
      port: 0,
      maxBodyBytes: 64 * 1024,
      requestTimeoutMs: 1000,
      wal: { dir: join(dir, 'wal') },
      tenants: [
        { name: 'team-a', token: TOKEN_A, maxSeriesPerMetric: 50 },
        { name: 'team-b', token: TOKEN_B, samplesPerSecond: 10, burst: 20 },
      ],
    },
  });
  collector = await startCollector({ config, log: quietLog });
});

afterAll(async () => {
  await collector?.close();
});

function post(
  path: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  return fetch(`${collector.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  }).then(async (r) => ({
    status: r.status,
    body: (await r.json()) as Record<string, unknown>,
    headers: r.headers,
  }));
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const now = Date.now();
const sample = (i: number, extra: Record<string, unknown> = {}) => ({
  name: 'http_requests_total',
  labels: { host: `h${i % 5}`, path: `/p${i % 3}` },
  timestamp: now - 60_000 + i,
  value: i,
  kind: 'counter',
  ...extra,
});

describe('collector: JSON batches into Kafka and on to ClickHouse', () => {
  it('accepts valid samples, rejects invalid ones with reasons, and stores the accepted ones with the tenant label', async () => {
    const samples = Array.from({ length: 300 }, (_, i) => sample(i));
    samples.push(sample(1000, { value: null }) as never);
    const bad = [
      sample(1001, { name: '1bad' }),
      sample(1002, { timestamp: now - 30 * 24 * 3600_000 }),
      sample(1003, { labels: { __reserved: 'x' } }),
    ];
    // A client's own tenant label is replaced by the token's tenant.
    const spoofed = sample(1004, { labels: { tenant: 'team-b', host: 'h9' } });

    const refused = await post('/api/v1/metrics', JSON.stringify({ samples }), auth(TOKEN_A));
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('samples[300].value: expected a number, got null');

    samples.pop();
    const ok = await post(
      '/api/v1/metrics',
      JSON.stringify({ samples: [...samples, ...bad, spoofed] }),
      auth(TOKEN_A),
    );
    expect(ok.status).toBe(202);
    expect(ok.body.accepted).toBe(301);
    expect(ok.body.rejected).toBe(3);
    const reasons = Object.keys(ok.body.reasons as object);
    expect(reasons).toHaveLength(3);
    expect(reasons.some((r) => r.startsWith('invalid metric name "1bad"'))).toBe(true);
    expect(reasons.some((r) => r.includes('is older than the accepted'))).toBe(true);
    expect(reasons.some((r) => r.includes('is reserved'))).toBe(true);

    const stats = await runToEnd(config);
    expect(stats.stored).toBe(301);
    const db = `\`${config.clickhouse.database}\``;
    const rows = await query<{ tenant: string; n: string; sum: number }>(
      config,
      `SELECT labels['tenant'] AS tenant, count() AS n, sum(value) AS sum FROM ${db}.samples s
       JOIN (SELECT series_id, any(labels) AS labels FROM ${db}.series GROUP BY series_id) AS l USING (series_id) GROUP BY tenant ORDER BY tenant`,
    );
    expect(rows).toEqual([{ tenant: 'team-a', n: '301', sum: (299 * 300) / 2 + 1004 }]);
  });

  it('answers 401 without a valid token', async () => {
    const body = JSON.stringify({ samples: [sample(1)] });
    const none = await post('/api/v1/metrics', body);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post('/api/v1/metrics', body, auth('not-a-known-token-at-all'))).status).toBe(401);
  });

  it('answers 400 with the place of the problem for malformed bodies, 415 for other content types', async () => {
    const invalid = await post('/api/v1/metrics', '{"samples": [', auth(TOKEN_A));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatch(/^invalid JSON: /);
    const wrongType = await post(
      '/api/v1/metrics',
      JSON.stringify([sample(1), sample(2, { labels: { host: 7 } })]),
      auth(TOKEN_A),
    );
    expect(wrongType).toMatchObject({
      status: 400,
      body: { error: 'samples[1].labels.host: expected a string, got number' },
    });
    const notSamples = await post('/api/v1/metrics', '{"series": []}', auth(TOKEN_A));
    expect(notSamples).toMatchObject({
      status: 400,
      body: { error: 'expected {"samples": [...]} or an array of samples' },
    });
    const text = await post('/api/v1/metrics', 'x', { ...auth(TOKEN_A), 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    const garbage = await post('/api/v1/write', Buffer.from('not snappy at all'), {
      ...auth(TOKEN_A),
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
    });
    expect(garbage.status).toBe(400);
    const otlpGarbage = await post('/v1/metrics', Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]), {
      ...auth(TOKEN_A),
      'content-type': 'application/x-protobuf',
    });
    expect(otlpGarbage.status).toBe(400);
  });

  it('answers 413 beyond the body limit, declared or streamed', async () => {
    const big = JSON.stringify({ samples: Array.from({ length: 2000 }, (_, i) => sample(i)) });
    expect(big.length).toBeGreaterThan(64 * 1024);
    const declared = await post('/api/v1/metrics', big, auth(TOKEN_A));
    expect(declared.status).toBe(413);
    expect(declared.body.error).toBe(
      `body of ${Buffer.byteLength(big)} bytes exceeds the limit of 65536 bytes`,
    );
    const streamed = await fetch(`${collector.url}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(TOKEN_A) },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it("answers 429 with Retry-After beyond a tenant's rate", async () => {
    const body = JSON.stringify({ samples: Array.from({ length: 15 }, (_, i) => sample(i)) });
    const first = await post('/api/v1/metrics', body, auth(TOKEN_B));
    expect(first.status).toBe(202);
    const second = await post('/api/v1/metrics', body, auth(TOKEN_B));
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(second.body.error).toMatch(/^tenant team-b is over its rate of 10 samples\/s/);
    const huge = await post(
      '/api/v1/metrics',
      JSON.stringify({ samples: Array.from({ length: 21 }, (_, i) => sample(i)) }),
      auth(TOKEN_B),
    );
    expect(huge.status).toBe(413);
  });

  it('rejects samples of new series beyond the series limit of a metric', async () => {
    const samples = Array.from({ length: 80 }, (_, i) => ({
      name: 'cardinality_test',
      labels: { user: `u${i}` },
      timestamp: now - 1000,
      value: 1,
    }));
    const first = await post('/api/v1/metrics', JSON.stringify({ samples }), auth(TOKEN_A));
    expect(first.body).toMatchObject({
      accepted: 50,
      rejected: 30,
      reasons: { 'metric cardinality_test has reached its limit of 50 series': 30 },
    });
    // Known series keep being accepted.
    const again = await post(
      '/api/v1/metrics',
      JSON.stringify({ samples: samples.slice(0, 10) }),
      auth(TOKEN_A),
    );
    expect(again.body).toMatchObject({ accepted: 10, rejected: 0 });
  });

  it('answers 408 to a client that sends its body too slowly, and keeps serving others', async () => {
    const { hostname, port } = new URL(collector.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          `POST /api/v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TOKEN_A}\r\nContent-Length: 100\r\n\r\n{"samp`,
        );
      });
      let received = '';
      socket.on('data', (d) => (received += d.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect((await fetch(`${collector.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    expect(metrics).toMatch(/collector_requests_total\{endpoint="json",status="202"\} \d+/);
    expect(metrics).toMatch(/collector_kafka_up 1/);
  });
});
