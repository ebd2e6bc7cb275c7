import { readFileSync } from 'node:fs';
import {
  formatQueryData,
  instantQuery,
  PromQLError,
  rangeQuery,
  type EvalResult,
  type Querier,
  type QueryData,
} from '../../query/promql/index.js';

/** A response of Prometheus' `/api/v1/query` or `/api/v1/query_range`, the parts compared. */
export type ApiResponse =
  | { status: 'success'; data: QueryData; warnings?: string[] }
  | { status: 'error'; errorType: string; error: string };

/** One query as the corpus runs it: instant at `time`, or range over `start`..`end` by `step` (seconds). */
export interface CompatCase {
  /** Which corpus run the case belongs to (the corpus runs at several times). */
  run: string;
  query: string;
  kind: 'instant' | 'range';
  /** Form parameters of the API call. */
  params: Record<string, string>;
}

/** Something that answers like Prometheus' API: a base URL, or a function (our engine in process). */
export type PromApi = string | ((c: CompatCase) => Promise<ApiResponse>);

export interface Disagreement {
  case: CompatCase;
  reason: string;
  ours: ApiResponse;
  theirs: ApiResponse;
}

export interface CompatReport {
  total: number;
  agreed: number;
  share: number;
  /** Agreements where both sides failed with the same `errorType` (messages differ between versions). */
  bothFailed: number;
  /** Agreements on an empty vector or matrix. */
  bothEmpty: number;
  disagreements: Disagreement[];
}

export interface CorpusTimes {
  /** Names the run in reports. */
  run: string;
  /** Instant of instant queries, Unix ms. */
  timeMs: number;
  /** Range queries. */
  startMs: number;
  endMs: number;
  stepMs: number;
  /** Substituted for `$AT` in queries (an `@` time inside the data), Unix ms. */
  atMs: number;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/**
 * The corpus file: one query a line, `#` comments; a line starting `instant:` runs as an instant
 * query only (range vectors, strings), every other line both as an instant and as a range query.
 */
export function loadCorpus(path: string, times: CorpusTimes): CompatCase[] {
  const cases: CompatCase[] = [];
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const instantOnly = line.startsWith('instant:');
    const query = (instantOnly ? line.slice('instant:'.length).trim() : line).replaceAll(
      '$AT',
      seconds(times.atMs),
    );
    cases.push({ run: times.run, query, kind: 'instant', params: { query, time: seconds(times.timeMs) } });
    if (!instantOnly) {
      cases.push({
        run: times.run,
        query,
        kind: 'range',
        params: {
          query,
          start: seconds(times.startMs),
          end: seconds(times.endMs),
          step: seconds(times.stepMs),
        },
      });
    }
  }
  return cases;
}

async function callApi(api: PromApi, c: CompatCase): Promise<ApiResponse> {
  if (typeof api !== 'string') return api(c);
  const path = c.kind === 'instant' ? '/api/v1/query' : '/api/v1/query_range';
  const response = await fetch(`${api}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(c.params).toString(),
  });
  return (await response.json()) as ApiResponse;
}

/** Our engine over a `Querier`, answering as the API would (errors as `errorType` and message). */
const CORPUS = new URL('./queries.txt', import.meta.url).pathname;

/**
 * The corpus at its two runs over the compatibility data ending at `endMs`: recent, and near
 * where compat_stopping ends (50 min before the end) and compat_irregular has its gap; `@`
 * times off the minute grid, so `@` windows of subqueries do not start on an inner step.
 */
export function corpusCases(endMs: number): CompatCase[] {
  const recent = endMs - 5 * 60_000 + 123;
  const older = endMs - 47 * 60_000 + 123;
  const atMs = endMs - 40 * 60_000 + 30_500;
  return [
    ...loadCorpus(CORPUS, {
      run: 'recent',
      timeMs: recent,
      startMs: recent - 3_600_000,
      endMs: recent,
      stepMs: 60_000,
      atMs,
    }),
    ...loadCorpus(CORPUS, {
      run: 'older',
      timeMs: older,
      startMs: older - 40 * 60_000,
      endMs: older + 10 * 60_000,
      stepMs: 15_000,
      atMs,
    }),
  ];
}

export function engineApi(querier: Querier): (c: CompatCase) => Promise<ApiResponse> {
  return async (c) => {
    const p = c.params;
    try {
      let result: EvalResult;
      let timeMs: number;
      if (c.kind === 'instant') {
        timeMs = Math.round(Number(p.time) * 1000);
        result = await instantQuery(querier, c.query, timeMs);
      } else {
        timeMs = Math.round(Number(p.start) * 1000);
        result = await rangeQuery(
          querier,
          c.query,
          timeMs,
          Math.round(Number(p.end) * 1000),
          Math.round(Number(p.step) * 1000),
        );
      }
      const { data, warnings } = formatQueryData(result, timeMs);
      return { status: 'success', data, warnings };
    } catch (error) {
      if (error instanceof PromQLError)
        return { status: 'error', errorType: error.errorType, error: error.message };
      throw error;
    }
  };
}

function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  const x = Number(a === '+Inf' ? Infinity : a === '-Inf' ? -Infinity : a);
  const y = Number(b === '+Inf' ? Infinity : b === '-Inf' ? -Infinity : b);
  if (Number.isNaN(x) && Number.isNaN(y)) return true;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return x === y;
  // Relative 1e-9, or absolute 1e-12 for results that cancel to about zero (sums in another order).
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y)) || Math.abs(x - y) <= 1e-12;
}

const labelKey = (metric: Record<string, string>) =>
  JSON.stringify(
    Object.keys(metric)
      .sort()
      .map((k) => [k, metric[k]]),
  );

type Points = Array<[number, string]>;

function pointsBySeries(data: QueryData): Map<string, Points> {
  const out = new Map<string, Points>();
  if (data.resultType === 'vector') {
    for (const r of data.result) out.set(labelKey(r.metric), [r.value]);
  } else if (data.resultType === 'matrix') {
    for (const r of data.result) out.set(labelKey(r.metric), r.values);
  }
  return out;
}

/** Why two responses differ, or undefined when they agree. */
export function difference(c: CompatCase, ours: ApiResponse, theirs: ApiResponse): string | undefined {
  if (ours.status === 'error' || theirs.status === 'error') {
    if (ours.status === 'error' && theirs.status === 'error') {
      return ours.errorType === theirs.errorType
        ? undefined
        : `errorType ${ours.errorType} vs ${theirs.errorType}`;
    }
    return `status ${ours.status} vs ${theirs.status}`;
  }
  const a = ours.data;
  const b = theirs.data;
  if (a.resultType !== b.resultType) return `resultType ${a.resultType} vs ${b.resultType}`;
  if (a.resultType === 'scalar' || a.resultType === 'string') {
    const [ta, va] = a.result;
    const [tb, vb] = b.result as [number, string];
    if (ta !== tb) return `time ${ta} vs ${tb}`;
    return a.resultType === 'string'
      ? va === vb
        ? undefined
        : `value ${va} vs ${vb}`
      : sameValue(va, vb)
        ? undefined
        : `value ${va} vs ${vb}`;
  }
  const mine = pointsBySeries(a);
  const reference = pointsBySeries(b);
  for (const key of reference.keys()) if (!mine.has(key)) return `missing series ${key}`;
  for (const key of mine.keys()) if (!reference.has(key)) return `extra series ${key}`;
  for (const [key, points] of reference) {
    const ourPoints = mine.get(key) as Points;
    if (ourPoints.length !== points.length) return `${key}: ${ourPoints.length} points vs ${points.length}`;
    for (let i = 0; i < points.length; i++) {
      const [tb, vb] = points[i] as [number, string];
      const [ta, va] = ourPoints[i] as [number, string];
      if (ta !== tb) return `${key}: time ${ta} vs ${tb}`;
      if (!sameValue(va, vb)) return `${key} at ${tb}: ${va} vs ${vb}`;
    }
  }
  // sort() and sort_desc() order an instant vector: the values must come in the same order.
  if (
    c.kind === 'instant' &&
    a.resultType === 'vector' &&
    b.resultType === 'vector' &&
    /^\s*sort(_desc)?\(/.test(c.query)
  ) {
    for (let i = 0; i < a.result.length; i++) {
      const va = (a.result[i] as { value: [number, string] }).value[1];
      const vb = (b.result[i] as { value: [number, string] }).value[1];
      if (!sameValue(va, vb)) return `order differs at ${i}: ${va} vs ${vb}`;
    }
  }
  return undefined;
}

/**
 * Runs every case against `ours` (a base URL of anything serving Prometheus' API, or our engine
 * in process) and against the reference Prometheus, and reports the share that agree: same
 * series by labels, same timestamps, values equal within 1e-9 relative or both NaN; errors agree
 * when both sides fail.
 */
export async function compareWithPrometheus(
  ours: PromApi,
  prometheusBaseUrl: string,
  cases: readonly CompatCase[],
): Promise<CompatReport> {
  const disagreements: Disagreement[] = [];
  let bothFailed = 0;
  let bothEmpty = 0;
  for (const c of cases) {
    const [mine, theirs] = await Promise.all([callApi(ours, c), callApi(prometheusBaseUrl, c)]);
    const reason = difference(c, mine, theirs);
    if (reason !== undefined) disagreements.push({ case: c, reason, ours: mine, theirs });
    else if (theirs.status === 'error') bothFailed++;
    else if (Array.isArray(theirs.data.result) && theirs.data.result.length === 0) bothEmpty++;
  }
  const agreed = cases.length - disagreements.length;
  const share = cases.length === 0 ? 0 : agreed / cases.length;
  return { total: cases.length, agreed, share, bothFailed, bothEmpty, disagreements };
}
