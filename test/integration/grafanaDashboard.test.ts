import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueryService } from '../../query/service.js';
import { seedDemoData, type DemoData } from './demoData.js';
import {
  dashboardQueries,
  durationMs,
  interpolate,
  variableText,
  type Dashboard,
  type DashboardQuery,
} from './grafanaQueries.js';
import { repoRoot } from './helpers.js';
import { serveDemoData } from './queryService.js';

const dashboard = JSON.parse(
  readFileSync(join(repoRoot, 'docker/grafana/dashboards/hosts.json'), 'utf8'),
) as Dashboard;
const datasources = parse(
  readFileSync(join(repoRoot, 'docker/grafana/provisioning/datasources/metrics-pipeline.yaml'), 'utf8'),
) as { datasources: Array<{ uid: string; jsonData: { timeInterval: string } }> };
const scrapeMs = durationMs(datasources.datasources[0]?.jsonData.timeInterval ?? '15s');

interface Answer {
  status: string;
  errorType?: string;
  error?: string;
  data?: { resultType: string; result: unknown[] } | string[];
  /** The query service's X-Source-Resolution header: the tiers that answered. */
  tiers: string;
}

let base: string;
let data: DemoData;
let service: QueryService;

async function api(path: string, params: Record<string, string | number>): Promise<Answer> {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const response = await fetch(`${base}${path}?${query}`);
  return {
    ...((await response.json()) as Omit<Answer, 'tiers'>),
    tiers: response.headers.get('x-source-resolution') ?? '',
  };
}

beforeAll(async () => {
  data = await seedDemoData('grafana', { hosts: 3, hours: 6 });
  service = await serveDemoData(data);
  base = service.url;
});

afterAll(() => service?.close());

describe('the Grafana dashboard against the query service', () => {
  it('every variable query finds values over the default range', async () => {
    const values = await resolveVariables(data.end - 6 * 3_600_000, data.end);
    expect([...values.keys()]).toEqual(['region', 'host']);
  });

  for (const range of ['1h', '6h', '7d', '30d']) {
    it(`every query succeeds over the last ${range}, with data where the data has it`, async () => {
      const toMs = data.end;
      const fromMs = toMs - durationMs(range);
      const values = await resolveVariables(fromMs, toMs);
      const queries = dashboardQueries(dashboard, { fromMs, toMs }, values, scrapeMs);
      expect(queries.length).toBeGreaterThan(15);
      const failures: string[] = [];
      const tiers = new Set<string>();
      for (const query of queries) {
        const answer = await run(query, fromMs, toMs);
        for (const tier of answer.tiers.split(',')) tiers.add(tier);
        const result = Array.isArray(answer.data) ? answer.data : (answer.data?.result ?? []);
        if (answer.status !== 'success') {
          failures.push(`${query.source}: ${answer.errorType}: ${answer.error}\n  ${query.expr}`);
        } else if (result.length === 0 && hasData(query, fromMs, toMs)) {
          failures.push(`${query.source}: no data\n  ${query.expr}`);
        }
      }
      expect(failures).toEqual([]);
      // Over a week and more, $__interval is 10 m or 1 h: the tiers answer (the coarsest exact one).
      if (durationMs(range) >= 7 * 86_400_000)
        expect([...tiers].filter((t) => t === '1m' || t === '1h')).not.toEqual([]);
    });
  }
});

/** Alerts fire only around the CPU spike; every other query has data over any range. */
function hasData(query: DashboardQuery, fromMs: number, toMs: number): boolean {
  if (!query.expr.includes('ALERTS') || query.expr.includes('vector(0)')) return true;
  return fromMs <= data.spike.to && toMs >= data.spike.from;
}

/** Grafana's range (step-aligned start and end) or instant request for a query. */
function run(query: DashboardQuery, fromMs: number, toMs: number): Promise<Answer> {
  if (query.instant) return api('/api/v1/query', { query: query.expr, time: toMs / 1000 });
  const step = query.step;
  return api('/api/v1/query_range', {
    query: query.expr,
    start: Math.floor(fromMs / 1000 / step) * step,
    end: Math.floor(toMs / 1000 / step) * step,
    step,
  });
}

/**
 * The template variables at their default (All): each `label_values(selector, label)` query as
 * Grafana sends it (`/api/v1/label/<label>/values?match[]=…`), earlier variables substituted.
 */
async function resolveVariables(fromMs: number, toMs: number): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const variable of dashboard.templating.list) {
    const match = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.query);
    expect(match, `${variable.name}: ${variable.query}`).not.toBeNull();
    const selector = interpolate(match?.[1] as string, {
      values,
      intervalMs: 0,
      rateIntervalMs: 0,
      rangeMs: 0,
    });
    const answer = await api(`/api/v1/label/${match?.[2]}/values`, {
      'match[]': selector,
      start: fromMs / 1000,
      end: toMs / 1000,
    });
    expect(answer.status, `${variable.name}: ${answer.error}`).toBe('success');
    const found = answer.data as string[];
    expect(found.length, `${variable.name} has values`).toBeGreaterThan(0);
    expect(variable.current?.value).toEqual(['$__all']);
    values.set(variable.name, variableText(found));
  }
  return values;
}
