import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../core/config.js';
import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { decodeReadResponse, encodeReadRequest } from '../../query/remoteRead.js';
import { startQueryService, type QueryService } from '../../query/service.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import type { AlertEvent } from '../../schemas/index.js';
import { insertAlerts } from '../../sinks/alertsTable.js';
import { quietLog, tempDir, testConfig } from './helpers.js';
import { insertSeries, openFixture } from './queryFixture.js';

const dir = tempDir('query-tenants');
const MINUTE = 60_000;
const NOW = Math.floor(Date.now() / MINUTE) * MINUTE;
const ACME = 'acme-token-0123456789abcdef';
const GLOBEX = 'globex-token-0123456789abcdef';
/** The alert's transitions: pending, firing, resolved. */
const T1 = NOW - 50 * MINUTE;
const T2 = NOW - 40 * MINUTE;
const T3 = NOW - 20 * MINUTE;

let config: Config;
let ch: ClickHouse;
let service: QueryService;

beforeAll(async () => {
  config = testConfig(join(dir, 'clickhouse'), {
    query: { port: 0 },
    collector: {
      tenants: [
        { name: 'acme', token: ACME },
        { name: 'globex', token: GLOBEX },
      ],
    },
  });
  ch = await openFixture(config);
  const points = (v: number): Array<[number, number]> =>
    Array.from({ length: 60 }, (_, i): [number, number] => [NOW - 60 * MINUTE + i * MINUTE, v]);
  await insertSeries(ch, [
    { metric: 'tn_cpu', labels: { tenant: 'acme', host: 'a' }, points: points(1) },
    { metric: 'tn_cpu', labels: { tenant: 'globex', host: 'g' }, points: points(2) },
    { metric: 'tn_secret', labels: { tenant: 'globex' }, points: points(3) },
  ]);
  const event: Omit<AlertEvent, 'state' | 'timestamp'> = {
    fingerprint: 'f1',
    rule: 'HighCpu',
    severity: 'page',
    labels: { alertname: 'HighCpu', host: 'a', tenant: 'acme' },
    annotations: { summary: 'cpu' },
    value: 97,
    startsAt: T1,
    endsAt: null,
  };
  await insertAlerts(ch, [
    { ...event, state: 'pending', timestamp: T1 },
    { ...event, state: 'firing', timestamp: T2 },
    { ...event, state: 'resolved', timestamp: T3, endsAt: T3 },
  ]);
  service = await startQueryService({
    config,
    log: quietLog,
    clickhouse: ch,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples }),
    corrections: false,
    now: () => NOW,
  });
});

afterAll(async () => {
  await service?.close();
  await ch?.close();
});

async function get(path: string, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${service.url}${path}`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;
const at = (query: string, t = NOW - MINUTE) =>
  `/api/v1/query?${new URLSearchParams({ query, time: String(t / 1000) })}`;

describe('tenants', () => {
  it('a bearer token is required and must be known', async () => {
    expect(await get(at('tn_cpu'))).toMatchObject({
      status: 401,
      body: { status: 'error', errorType: 'unauthorized' },
    });
    expect((await get(at('tn_cpu'), 'not-a-token-0123456789')).status).toBe(401);
  });

  it("a tenant's queries see only its series", async () => {
    const acme = (await get(at('tn_cpu'), ACME)).body.data as { result: Vector };
    expect(acme.result.map((r) => r.metric)).toEqual([{ __name__: 'tn_cpu', host: 'a', tenant: 'acme' }]);
    const globex = (await get(at('sum(tn_cpu) + sum(tn_secret)'), GLOBEX)).body.data as { result: Vector };
    expect(globex.result[0]?.value[1]).toBe('5');
    // Asking for another tenant's series by label finds nothing.
    expect(
      ((await get(at('tn_secret{tenant="globex"}'), ACME)).body.data as { result: Vector }).result,
    ).toEqual([]);
    const names = await get('/api/v1/label/__name__/values', ACME);
    expect(names.body.data, JSON.stringify(names.body)).toEqual(['tn_cpu']);
    expect((await get('/api/v1/series?match[]=tn_cpu', GLOBEX)).body.data).toEqual([
      { __name__: 'tn_cpu', host: 'g', tenant: 'globex' },
    ]);
    const read = await fetch(`${service.url}/api/v1/read`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ACME}` },
      body: new Uint8Array(
        encodeReadRequest([
          { startMs: NOW - 60 * MINUTE, endMs: NOW, matchers: [{ name: 'host', type: '=~', value: '.+' }] },
        ]),
      ),
    });
    const series = decodeReadResponse(Buffer.from(await read.arrayBuffer()))[0] ?? [];
    expect(series.map((s) => s.labels.tenant)).toEqual(['acme']);
  });
});

describe('alerts for pages and Grafana', () => {
  it('ALERTS{alertname, alertstate, …} from the alerts table, as Prometheus exposes it', async () => {
    const pending = (await get(at('ALERTS', T1 + 5 * MINUTE), ACME)).body.data as { result: Vector };
    expect(pending.result).toEqual([
      {
        metric: {
          __name__: 'ALERTS',
          alertname: 'HighCpu',
          alertstate: 'pending',
          host: 'a',
          tenant: 'acme',
        },
        value: [(T1 + 5 * MINUTE) / 1000, '1'],
      },
    ]);
    const firing = (await get(at('ALERTS{alertstate="firing"}', T2 + 10 * MINUTE), ACME)).body.data as {
      result: Vector;
    };
    expect(firing.result.map((r) => r.metric.alertstate)).toEqual(['firing']);
    const resolved = (await get(at('ALERTS', T3 + 10 * MINUTE), ACME)).body.data as { result: Vector };
    expect(resolved.result).toEqual([]);
    expect(((await get(at('ALERTS', T2 + MINUTE), GLOBEX)).body.data as { result: Vector }).result).toEqual(
      [],
    );
  });

  it('GET /api/v1/alert_events lists the transitions in a time range', async () => {
    const params = new URLSearchParams({
      start: String((NOW - 2 * 60 * MINUTE) / 1000),
      end: String(NOW / 1000),
    });
    const { status, body } = await get(`/api/v1/alert_events?${params}`, ACME);
    expect(status).toBe(200);
    const events = body.data as Array<{
      rule: string;
      state: string;
      labels: Record<string, string>;
      ts: number;
    }>;
    expect(events.map((e) => [e.rule, e.state, e.ts])).toEqual([
      ['HighCpu', 'pending', T1 / 1000],
      ['HighCpu', 'firing', T2 / 1000],
      ['HighCpu', 'resolved', T3 / 1000],
    ]);
    expect(events[0]?.labels.host).toBe('a');
    expect((await get(`/api/v1/alert_events?${params}`, GLOBEX)).body.data).toEqual([]);
  });
});
