/** The parts of Prometheus' HTTP API v1 the chart page reads, as the query service serves them. */

export type Labels = Record<string, string>;

/** One series of a range query's matrix: [unix seconds, value as text]. */
export interface MatrixSeries {
  metric: Labels;
  values: Array<[number, string]>;
}

export interface RangeAnswer {
  series: MatrixSeries[];
  warnings: string[];
  /** The tier that answered (raw, 1m, 1h), when the service says so. */
  tier: string | undefined;
  /** Time the server spent on the query, seconds, when it reports it (Prometheus' `stats=all`). */
  serverSeconds: number | undefined;
}

/** A Prometheus error answer (`{"status":"error","errorType":…,"error":…}`), or a transport failure. */
export class ApiError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** One transition of an alert (extension endpoint `/api/v1/alert_events`). */
export interface AlertEvent {
  rule: string;
  state: string;
  labels: Labels;
  /** Unix seconds. */
  ts: number;
}

interface Envelope<T> {
  status?: string;
  data?: T;
  errorType?: string;
  error?: string;
  warnings?: string[];
}

/** The query service's tier header (raw, 1m, 1h or a list); `stats.sourceResolution` says the same. */
const TIER_HEADER = 'x-source-resolution';

async function getJson<T>(
  url: string,
  signal: AbortSignal,
): Promise<{ body: Envelope<T>; headers: Headers }> {
  let response: Response;
  try {
    response = await fetch(url, { signal, headers: { accept: 'application/json' } });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new ApiError('unavailable', `the query service cannot be reached (${String(error)})`, 0);
  }
  const text = await response.text();
  let body: Envelope<T>;
  try {
    body = JSON.parse(text) as Envelope<T>;
  } catch {
    throw new ApiError(
      'bad_response',
      `HTTP ${response.status}: ${text.slice(0, 300) || response.statusText}`,
      response.status,
    );
  }
  if (body.status !== 'success') {
    throw new ApiError(body.errorType ?? 'error', body.error ?? `HTTP ${response.status}`, response.status);
  }
  return { body, headers: response.headers };
}

/** `/api/v1/query_range`; `base` is the service's URL (the page's own, normally). */
export async function queryRange(
  base: string,
  query: string,
  range: { start: number; end: number; step: number },
  signal: AbortSignal,
): Promise<RangeAnswer> {
  const params = new URLSearchParams({
    query,
    start: String(range.start),
    end: String(range.end),
    step: String(range.step),
    stats: 'all',
  });
  type Data = {
    resultType: string;
    result: MatrixSeries[];
    stats?: { sourceResolution?: string; timings?: { execTotalTime?: number } };
  };
  const { body, headers } = await getJson<Data>(`${base}/api/v1/query_range?${params}`, signal);
  const data = body.data;
  if (data === undefined || data.resultType !== 'matrix' || !Array.isArray(data.result)) {
    throw new ApiError('bad_response', `expected a matrix, got ${data?.resultType ?? 'no data'}`, 200);
  }
  return {
    series: data.result,
    warnings: body.warnings ?? [],
    tier: headers.get(TIER_HEADER) ?? data.stats?.sourceResolution ?? undefined,
    serverSeconds: data.stats?.timings?.execTotalTime,
  };
}

/**
 * Alert transitions between `start` and `end` (unix seconds), or `undefined` when the service
 * has no such endpoint (a plain Prometheus): the chart then simply has no marks.
 */
export async function alertEvents(
  base: string,
  range: { start: number; end: number },
  signal: AbortSignal,
): Promise<AlertEvent[] | undefined> {
  const params = new URLSearchParams({ start: String(range.start), end: String(range.end) });
  try {
    const { body } = await getJson<AlertEvent[]>(`${base}/api/v1/alert_events?${params}`, signal);
    return Array.isArray(body.data) ? body.data : [];
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return undefined;
    throw error;
  }
}
