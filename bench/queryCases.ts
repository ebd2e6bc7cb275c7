import { METRIC, SCOPES, type QueryDataSet, type Scope } from './queryData.js';

/** Which span of the data a query reads, and the tier that holds it. */
export type Span = '1h' | '7d' | '30d' | '90d';
export const TIER_OF_SPAN: Record<Span, 'raw' | '1m' | '1h'> = {
  '1h': 'raw',
  '7d': '1m',
  '30d': '1m',
  '90d': '1h',
};

export interface QueryCase {
  /** Short stable name, e.g. `7d.all.range.sum-rate`. */
  id: string;
  span: Span;
  scope: Scope;
  kind: 'instant' | 'range';
  promql: string;
  /** Query string parameters of /api/v1/query or /api/v1/query_range (Unix seconds). */
  params: Record<string, string>;
  /** The 30-day target case (≤ 200 ms cold). */
  target?: boolean;
}

const HOUR = 3600;
const DAY = 86_400;

/** The selector of a scope. */
export function selector(scope: Scope): string {
  const m = SCOPES[scope].matcher;
  return m ? `${METRIC}{${m}}` : METRIC;
}

/**
 * For each span (1 h raw, 7 d from 1m, 90 d from 1h) and scope (1, 100, all series): one instant
 * query (a plain selector on raw data, `avg_over_time` over the whole span otherwise) and two range
 * queries as a dashboard asks them (`rate`, and `sum by (job)` of it), with a step of about 60–170
 * points and a range of one step; range queries start one range after the span's start, so every
 * window lies inside the tier's data. Then the 30-day target: `avg_over_time` every 30 min over
 * the 100 series, which only the 1m tier answers exactly.
 */
export function queryCases(d: QueryDataSet): QueryCase[] {
  const end = d.endS;
  const cases: QueryCase[] = [];
  const spans: Array<{
    span: Span;
    seconds: number;
    step: number;
    window: string;
    instant: (s: string) => string;
  }> = [
    { span: '1h', seconds: HOUR, step: 60, window: '5m', instant: (s) => s },
    { span: '7d', seconds: 7 * DAY, step: HOUR, window: '1h', instant: (s) => `avg_over_time(${s}[7d])` },
    { span: '90d', seconds: 90 * DAY, step: DAY, window: '1d', instant: (s) => `avg_over_time(${s}[90d])` },
  ];
  for (const { span, seconds, step, window, instant } of spans) {
    for (const scope of Object.keys(SCOPES) as Scope[]) {
      const s = selector(scope);
      const range = {
        start: String(end - seconds + (span === '1h' ? 300 : step)),
        end: String(end),
        step: String(step),
      };
      cases.push(
        {
          id: `${span}.${scope}.instant`,
          span,
          scope,
          kind: 'instant',
          promql: instant(s),
          params: { time: String(end) },
        },
        {
          id: `${span}.${scope}.range.rate`,
          span,
          scope,
          kind: 'range',
          promql: `rate(${s}[${window}])`,
          params: range,
        },
        {
          id: `${span}.${scope}.range.sum-rate`,
          span,
          scope,
          kind: 'range',
          promql: `sum by (job) (rate(${s}[${window}]))`,
          params: range,
        },
      );
    }
  }
  cases.push({
    id: '30d.hundred.range.avg',
    span: '30d',
    scope: 'hundred',
    kind: 'range',
    promql: `avg_over_time(${selector('hundred')}[30m])`,
    params: { start: String(end - 30 * DAY + 1800), end: String(end), step: '1800' },
    target: true,
  });
  return cases;
}
