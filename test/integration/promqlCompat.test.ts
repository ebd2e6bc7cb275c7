import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryQuerier } from '../../query/promql/index.js';
import { compareWithPrometheus, engineApi, loadCorpus, type CompatReport } from '../promql/compat.js';
import { compatSeries } from '../promql/compatData.js';
import { pushSeries, startPrometheus, type PrometheusServer } from '../promql/prometheusServer.js';

const CORPUS = new URL('../promql/queries.txt', import.meta.url).pathname;

/**
 * Where our engine and the reference knowingly differ, by `kind query`, with the reason. The
 * reference is Debian's Prometheus 2.42; the engine follows Prometheus 3 where they differ.
 */
const KNOWN_DISAGREEMENTS: ReadonlyMap<string, string> = new Map([
  // Prometheus 3 drops the metric name for atan2 as for every arithmetic operator; 2.42 kept it.
  ['instant compat_gauge atan2 10', 'atan2 drops __name__ in Prometheus 3'],
  ['range compat_gauge atan2 10', 'atan2 drops __name__ in Prometheus 3'],
  // Prometheus 3 limits the start extrapolation to half an interval before the zero point
  // (threshold first, then zero point); 2.42 applied the zero point first. Differs on a step
  // where the series has a gap at the window start.
  ['range rate(compat_irregular[20m])', 'extrapolatedRate order of threshold and zero point (Prometheus 3)'],
  // Nested subqueries put inner windows on the outer step grid, so `(T-5m, T]` meets a 1m inner
  // step exactly: Prometheus 3 excludes that left point, 2.42 included it.
  [
    'instant max_over_time(max_over_time(compat_gauge[5m:1m])[15m:3m])',
    'left-open subquery windows (Prometheus 3)',
  ],
  [
    'range max_over_time(max_over_time(compat_gauge[5m:1m])[15m:3m])',
    'left-open subquery windows (Prometheus 3)',
  ],
]);

/** The share of agreement this corpus reached; the test fails below it. */
const AGREEMENT_FLOOR = 0.99;

describe('PromQL compatibility with a real Prometheus', () => {
  let prometheus: PrometheusServer;
  // On a whole hour, so every run puts the data at the same place on the step grids.
  const endMs = Math.floor((Date.now() - 60_000) / 3_600_000) * 3_600_000;
  const series = compatSeries(endMs);

  beforeAll(async () => {
    prometheus = await startPrometheus();
    await pushSeries(prometheus.baseUrl, series);
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
    const timeMs = endMs - 5 * 60_000 + 123;
    const cases = loadCorpus(CORPUS, {
      timeMs,
      startMs: timeMs - 3_600_000,
      endMs: timeMs,
      stepMs: 60_000,
      // Off the minute grid, so `@` windows of subqueries do not start on an inner step.
      atMs: endMs - 40 * 60_000 + 30_500,
    });
    expect(cases.length).toBeGreaterThan(300);
    const report: CompatReport = await compareWithPrometheus(
      engineApi(new MemoryQuerier(series)),
      prometheus.baseUrl,
      cases,
    );
    const unexpected = report.disagreements.filter(
      (d) => !KNOWN_DISAGREEMENTS.has(`${d.case.kind} ${d.case.query}`),
    );
    console.log(
      `PromQL compatibility: ${report.agreed}/${report.total} agree (${(report.share * 100).toFixed(1)} %; ` +
        `${report.bothFailed} where both fail, ${report.bothEmpty} where both are empty)` +
        report.disagreements
          .map(
            (d) =>
              `\n  ${KNOWN_DISAGREEMENTS.has(`${d.case.kind} ${d.case.query}`) ? 'known' : 'NEW'} ${d.case.kind} ${d.case.query}: ${d.reason}` +
              (d.ours.status === 'error' ? ` (ours: ${d.ours.error})` : '') +
              (d.theirs.status === 'error' ? ` (theirs: ${d.theirs.error})` : ''),
          )
          .join(''),
    );
    expect(unexpected.map((d) => `${d.case.kind} ${d.case.query}: ${d.reason}`)).toEqual([]);
    expect(report.share).toBeGreaterThanOrEqual(AGREEMENT_FLOOR);
  });
});
