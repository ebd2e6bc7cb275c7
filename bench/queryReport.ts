import type { QueryBenchResult, QueryCaseResult, SideResult } from './query.js';
import { REQUEST_TIMEOUT_S, THIRTY_DAY_TARGET_MS } from './query.js';
import type { Timings } from './queryTiming.js';
import { table } from './report.js';

const n = (v: number) => v.toLocaleString('en-US');
const ms = (t: Timings) => (t.p50Ms === null ? '–' : `${fmt(t.p50Ms)} / ${fmt(t.p99Ms ?? t.p50Ms)}`);
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

function side(s: SideResult): string[] {
  if (s.timedOut && s.cold.n === 0) return [`> ${REQUEST_TIMEOUT_S} s (timeout)`, ''];
  if (s.error !== null && s.cold.n === 0 && s.warm.n === 0) return [`failed: ${s.error.slice(0, 60)}`, ''];
  return [ms(s.cold), ms(s.warm)];
}

function seriesCell(r: QueryCaseResult): string {
  const a = r.ours.series;
  const b = r.prometheus.series;
  if (a === b) return a === null ? '–' : n(a);
  return `${a ?? '–'} ≠ ${b ?? '–'}`;
}

/** The query bench as text: what each side held, then one row per query. */
export function formatQueryBench(r: QueryBenchResult): string {
  const c = r.clickhouse;
  const p = r.prometheus;
  const lines = [
    `query service vs Prometheus ${p.version}: ${n(r.dataSet.series)} series of one counter, data up to ${r.dataSet.end}; ` +
      `${r.reps} runs per query and side; took ${r.seconds} s; load average ${r.loadAverage.start.toFixed(1)} at start, ` +
      `${r.loadAverage.end.toFixed(1)} at end (shared machine: figures are noisy)`,
    `ClickHouse: ${n(c.rawSamples)} raw samples (last ${r.dataSet.spans.rawHours} h, every ${r.dataSet.rawIntervalSeconds} s), ` +
      `${n(c.minuteRows)} 1m rows (${r.dataSet.spans.minuteDays} d; ${r.dataSet.spans.minuteSubsetDays} d for the 100-series scope), ` +
      `${n(c.hourRows)} 1h rows (${r.dataSet.spans.hourDays} d); seeded in ${c.seconds} s`,
    `Prometheus: ${n(p.samples)} samples in ${p.blocks} blocks, ${mb(p.bytesOnDisk)} (raw for the last hour, one a minute where ` +
      `the 1m tier reaches, one an hour before); ${mb(p.textBytes)} of OpenMetrics, export ${p.exportSeconds} s, promtool ${p.promtoolSeconds} s`,
    '',
  ];
  const rows: string[][] = [
    [
      'query',
      'tier',
      'series',
      'ours cold p50 / p99 ms',
      'ours warm',
      'Prometheus cold',
      'Prometheus warm',
      'warm ≤ Prom',
    ],
  ];
  for (const q of r.cases) {
    const [ourCold, ourWarm] = side(q.ours);
    const [promCold, promWarm] = side(q.prometheus);
    const tier =
      q.ours.tier && q.ours.tier !== q.expectedTier
        ? `${q.ours.tier} (≠ ${q.expectedTier})`
        : (q.ours.tier ?? q.expectedTier);
    rows.push([
      `${q.id}${q.target ? ' *' : ''}`,
      tier,
      seriesCell(q),
      ourCold ?? '',
      ourWarm ?? '',
      promCold ?? '',
      promWarm ?? '',
      q.warmAtMostPrometheus === null ? '–' : q.warmAtMostPrometheus ? 'yes' : 'no',
    ]);
  }
  lines.push(...table(rows), '');
  const t = r.targets;
  lines.push(
    `* target: 30-day range over 100 series from the 1m tier, cold ≤ ${THIRTY_DAY_TARGET_MS} ms: ` +
      (t.thirtyDayColdMet === null
        ? 'not measured (no answer)'
        : `p50 ${t.thirtyDayColdP50Ms} ms, p99 ${t.thirtyDayColdP99Ms} ms: ${t.thirtyDayColdMet ? 'met' : 'missed'}`),
    `warm ≤ Prometheus (p50): ${t.warmAtMostPrometheus.met} of ${t.warmAtMostPrometheus.of} queries`,
    `Times: request to the last byte of the answer, one keep-alive connection, p50 / p99 over ${r.reps} runs (the slowest, with`,
    'so few), fewer (n in the JSON) once a side spent 20 s on a phase of one query.',
    'Cold: each run a query text neither side has seen (a distinct trailing PromQL comment): no results cache answers it.',
    'Warm: the query itself again after one run that fills the cache. The service answers it from its results cache (whole settled answers, instant ones too), Prometheus has none.',
    ...(r.serviceCrashes > 0
      ? [`! the query service exited ${r.serviceCrashes} time(s) on its own and was restarted`]
      : []),
  );
  for (const q of r.cases) {
    const errors = [
      q.ours.error && `ours: ${q.ours.error}`,
      q.prometheus.error && `Prometheus: ${q.prometheus.error}`,
    ]
      .filter(Boolean)
      .join('; ');
    if (errors) lines.push(`! ${q.id}: ${errors}`);
  }
  return lines.join('\n');
}
