import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryQuerier } from '../../query/promql/index.js';
import {
  compareWithPrometheus,
  engineApi,
  corpusCases,
  type CompatCase,
  type CompatReport,
} from '../promql/compat.js';
import { compatSeries } from '../promql/compatData.js';
import { pushSeries, startPrometheus, type PrometheusServer } from '../promql/prometheusServer.js';

/**
 * Queries on which our engine and the reference knowingly differ (in any run, instant or range),
 * with the reason. The reference is Debian's Prometheus 2.42; the engine follows Prometheus 3
 * where the two differ. Sample times avoid window boundaries (see compatData.ts), so 3's
 * left-open windows only show where subquery grids meet (nested subqueries).
 */
const KNOWN_DISAGREEMENTS: ReadonlyMap<string, string> = new Map([
  // Prometheus 3 drops the metric name for atan2 as for every arithmetic operator; 2.42 kept it.
  ['compat_gauge atan2 10', 'atan2 drops __name__ in Prometheus 3'],
  // Prometheus 3 applies the extrapolation threshold first and then the counter's zero point;
  // 2.42 did the reverse. They differ on steps where the series has a gap at the window start.
  ['rate(compat_irregular[20m])', 'extrapolatedRate: threshold before zero point (Prometheus 3)'],
  // An outer subquery evaluates the inner one on its own step grid, so the inner window
  // `(T-5m, T]` starts exactly on an inner 1m step: Prometheus 3 excludes that point, 2.42 included it.
  ['max_over_time(max_over_time(compat_gauge[5m:1m])[15m:3m])', 'left-open subquery windows (Prometheus 3)'],
]);

const caseKey = (c: CompatCase) => `${c.run} ${c.kind} ${c.query}`;

/** The share of agreement this corpus reached; the test fails below it. */
const AGREEMENT_FLOOR = 0.993;

describe('PromQL compatibility with a real Prometheus', () => {
  let prometheus: PrometheusServer;
  // On a whole hour, so every run puts the data at the same place on the step grids.
  const endMs = Math.floor((Date.now() - 60_000) / 3_600_000) * 3_600_000;
  const series = compatSeries(endMs);

  beforeAll(async () => {
    prometheus = await startPrometheus();
    await pushSeries(`${prometheus.baseUrl}/api/v1/write`, series);
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('stores every pushed series', async () => {
    const response = await fetch(
      `${prometheus.baseUrl}/api/v1/query?query=${encodeURIComponent('count({__name__=~"compat_.+"})')}&time=${endMs / 1000}`,
    );
    const body = (await response.json()) as { data: { result: Array<{ value: [number, string] }> } };
    expect(Number(body.data.result[0]?.value[1])).toBe(
      series.filter((s) => s.timestamps.length > 0).length - 1,
    );
  });

  it('agrees with Prometheus on the corpus', async () => {
    const cases = corpusCases(endMs);
    expect(cases.length).toBeGreaterThan(1000);
    const report: CompatReport = await compareWithPrometheus(
      engineApi(new MemoryQuerier(series)),
      prometheus.baseUrl,
      cases,
    );
    const unexpected = report.disagreements.filter((d) => !KNOWN_DISAGREEMENTS.has(d.case.query));
    console.log(
      `PromQL compatibility: ${report.agreed}/${report.total} agree (${(report.share * 100).toFixed(1)} %; ` +
        `${report.bothFailed} where both fail, ${report.bothEmpty} where both are empty)` +
        report.disagreements
          .map(
            (d) =>
              `\n  ${KNOWN_DISAGREEMENTS.has(d.case.query) ? 'known' : 'NEW'} ${caseKey(d.case)}: ${d.reason}` +
              (d.ours.status === 'error' ? ` (ours: ${d.ours.error})` : '') +
              (d.theirs.status === 'error' ? ` (theirs: ${d.theirs.error})` : ''),
          )
          .join(''),
    );
    expect(unexpected.map((d) => `${caseKey(d.case)}: ${d.reason}`)).toEqual([]);
    expect(report.share).toBeGreaterThanOrEqual(AGREEMENT_FLOOR);
  });
});
