import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { QueryApi } from '../../query/api.js';
import type { ClickHouseQuerier } from '../../query/querier.js';
import { queryMetrics } from '../../query/metrics.js';
import { startQueryServer, type QueryServer } from '../../query/server.js';
import { startAdminServer, type AdminServer } from '../../streams/adminServer.js';

const log = createLogger('query-server-test', 'silent');

/** Sends `head` as the raw request head (fetch cannot send a malformed target) and returns the answer. */
function rawRequest(url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
    let answer = '';
    socket.on('connect', () => socket.end(`${head}\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('utf8')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('query server request parsing', () => {
  let server: QueryServer;
  let admin: AdminServer;
  const labelValues: string[] = [];

  beforeAll(async () => {
    const config = loadConfig(undefined, {}, { query: { port: 0, host: '127.0.0.1' } });
    const api = {
      labelValues: (name: string) => {
        labelValues.push(name);
        return { data: [] };
      },
    } as unknown as QueryApi;
    server = await startQueryServer({
      config,
      api,
      metrics: queryMetrics(),
      log,
      remoteQuerier: () => ({}) as ClickHouseQuerier,
      ready: () => true,
    });
    admin = await startAdminServer({ port: 0, ready: () => true, log });
  });

  afterAll(async () => {
    await server.close();
    await admin.close();
  });

  it('answers a malformed request target with 400 bad_data and keeps serving', async () => {
    const answer = await rawRequest(server.url, 'GET //[ HTTP/1.1');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer.slice(answer.indexOf('\r\n\r\n') + 4)).toBe(
      JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'invalid request URL' }),
    );
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers a malformed request target to the admin server with 400 and keeps serving', async () => {
    const answer = await rawRequest(admin.url, 'GET //[ HTTP/1.1');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('invalid request URL');
    expect((await fetch(`${admin.url}/healthz`)).status).toBe(200);
  });

  it('answers a label name with a malformed percent-encoding with 400 bad_data', async () => {
    const response = await fetch(`${server.url}/api/v1/label/%E0/values`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      status: 'error',
      errorType: 'bad_data',
      error: 'invalid label name',
    });
    const ok = await fetch(`${server.url}/api/v1/label/job%2Dx/values`);
    expect(ok.status).toBe(200);
    expect(labelValues).toEqual(['job-x']);
  });
});
