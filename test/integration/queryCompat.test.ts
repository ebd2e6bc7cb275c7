import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { startQueryService, type QueryService } from '../../query/service.js';
import type { ClickHouse } from '../../sinks/clickhouse.js';
import { compareWithPrometheus, corpusCases } from '../promql/compat.js';
import { compatSeries } from '../promql/compatData.js';
import { pushSeries, startPrometheus, type PrometheusServer } from '../promql/prometheusServer.js';
import { quietLog, tempDir, testConfig } from './helpers.js';
import { insertSeries, openFixture } from './queryFixture.js';

/** The share of the corpus our HTTP service over ClickHouse agrees on; the test fails below it. */
const AGREEMENT_FLOOR = 0.99;

/**
 * The engine helper's corpus (test/promql/) through the whole service: the same samples pushed
 * to a real Prometheus by remote_write and stored in the embedded ClickHouse tables, then every
 * query sent over HTTP to both.
 */
describe('the query service against a real Prometheus', () => {
  let prometheus: PrometheusServer;
  let ch: ClickHouse;
  let service: QueryService;
  const endMs = Math.floor((Date.now() - 60_000) / 3_600_000) * 3_600_000;
  const series = compatSeries(endMs);

  beforeAll(async () => {
    prometheus = await startPrometheus();
    await pushSeries(`${prometheus.baseUrl}/api/v1/write`, series);
    const config = testConfig(join(tempDir('query-compat'), 'clickhouse'), { query: { port: 0 } });
    ch = await openFixture(config);
    await insertSeries(
      ch,
      series
        .filter((s) => s.timestamps.length > 0)
        .map((s) => {
          const { __name__: metric = '', ...labels } = s.labels;
          return {
            metric,
            labels,
            points: Array.from(s.timestamps, (t, i): [number, number] => [t, s.values[i] as number]),
          };
        }),
    );
    service = await startQueryService({
      config,
      log: quietLog,
      clickhouse: ch,
      evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples }),
      corrections: false,
    });
  });

  afterAll(async () => {
    await service?.close();
    await ch?.close();
    await prometheus?.stop();
  });

  it('agrees on the corpus over HTTP', async () => {
    const cases = corpusCases(endMs);
    const report = await compareWithPrometheus(service.url, prometheus.baseUrl, cases);
    console.log(
      `query service vs Prometheus: ${report.agreed}/${report.total} agree (${(report.share * 100).toFixed(1)} %; ` +
        `${report.bothFailed} both fail, ${report.bothEmpty} both empty)` +
        report.disagreements
          .map((d) => `\n  ${d.case.run} ${d.case.kind} ${d.case.query}: ${d.reason}`)
          .join(''),
    );
    expect(report.share).toBeGreaterThanOrEqual(AGREEMENT_FLOOR);
  });
});
