import type { LabelMatcher, RangeFunctionRequest } from './promql/storage.js';
import { instantsSql, type InstantGrid, type InstantRow } from './tierInstants.js';
import type { TierPlan } from './tiers.js';
import { limitExceeded } from './errors.js';
import { matchersCondition } from './matchers.js';
import { jsonRows, parseFloat64, tsvRows, type SqlReader } from './reader.js';
import type { TIER_AGGREGATES } from '../sinks/tables.js';

/** A stored series: its id (decimal text of the UInt64), metric name and labels. */
export interface SeriesRef {
  id: string;
  metric: string;
  labels: Record<string, string>;
}

/** A configured tier's name (`tiers[].name`): its windows are in `samples_<name>`. */
export type Tier = string;

/** One row of a tier table: a series' window starting at `start`, with the columns asked for. */
export interface WindowRow {
  start: number;
  values: Record<string, number>;
}

/** An aggregate column of the tier tables. */
export type TierColumn = (typeof TIER_AGGREGATES)[number];

/**
 * `series` rows are refreshed at most once a minute per series (sinks/samplesSink.ts), so a
 * series' `last_seen` may lag its newest sample: time filters on it leave this much room.
 */
const LAST_SEEN_LAG_MS = 5 * 60_000;

const msParam = (name: string) => `fromUnixTimestamp64Milli({${name}:Int64}, 'UTC')`;

/**
 * The condition that selects the rows of `seriesTimeParams`' series in [from, to] (`<=`) or
 * [from, to) (`<`): the primary key (metric, series_id, ts) and the partitions prune the rest.
 */
const inSeriesAndTime = (upper: '<' | '<=') => `metric IN {metrics:Array(String)}
         AND series_id IN (SELECT toUInt64(arrayJoin({ids:Array(String)})))
         AND ts >= ${msParam('from')} AND ts ${upper} ${msParam('to')}`;

/**
 * The SQL of the query service: series by label matchers from `series`, then samples of those
 * series from `samples` or a tier table, with the time range in the WHERE clause (the tables'
 * partitions and primary key (metric, series_id, ts) prune the rest) and only the columns used.
 * Every value reaches ClickHouse as a query parameter.
 */
export class SeriesStore {
  /** Statements sent, for tests and stats. */
  calls = 0;

  /** Replaceable: a service that outlives the process's first client moves to another (the demo's `--serve`). */
  constructor(public reader: SqlReader) {}

  private get db(): string {
    return `\`${this.reader.database}\``;
  }

  private async read(
    query: string,
    params: Record<string, unknown>,
    format: 'TabSeparated' | 'JSONCompactEachRow',
    signal?: AbortSignal,
  ): Promise<string> {
    this.calls += 1;
    return this.reader.read(query, params, format, signal);
  }

  /**
   * Series matching every matcher (of any one set when several) that have samples in
   * [startMs, endMs]; more than `limit` throws the 422 of `limitName`.
   */
  async series(
    matcherSets: ReadonlyArray<readonly LabelMatcher[]>,
    startMs: number,
    endMs: number,
    limit: { value: number; name: string },
    signal?: AbortSignal,
  ): Promise<SeriesRef[]> {
    const rows = await this.seriesRows(matcherSets, startMs, endMs, limit.value + 1, signal);
    if (rows.length > limit.value) throw limitExceeded(limit.name, limit.value, 'series selected');
    return rows;
  }

  /** The first `limit` matching series (`/api/v1/series?limit=`), and whether there were more. */
  async seriesPage(
    matcherSets: ReadonlyArray<readonly LabelMatcher[]>,
    startMs: number,
    endMs: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<{ series: SeriesRef[]; truncated: boolean }> {
    const rows = await this.seriesRows(matcherSets, startMs, endMs, limit + 1, signal);
    return { series: rows.slice(0, limit), truncated: rows.length > limit };
  }

  private async seriesRows(
    matcherSets: ReadonlyArray<readonly LabelMatcher[]>,
    startMs: number,
    endMs: number,
    max: number,
    signal?: AbortSignal,
  ): Promise<SeriesRef[]> {
    const { where, params } = this.seriesFilter(matcherSets, startMs, endMs);
    const text = await this.read(
      `SELECT toString(series_id), metric, any(labels) FROM ${this.db}.series
       WHERE ${where}
       GROUP BY metric, series_id
       HAVING min(first_seen) <= ${msParam('to')} AND max(last_seen) >= ${msParam('from')}
       ORDER BY metric, series_id
       LIMIT {limit:UInt64}`,
      { ...params, limit: max },
      'JSONCompactEachRow',
      signal,
    );
    return jsonRows<[string, string, Record<string, string>]>(text).map(([id, metric, labels]) => ({
      id,
      metric,
      labels,
    }));
  }

  /**
   * Samples of `series` in [startMs, endMs], in time order per series; more than `maxSamples`
   * in all throws the 422 of `query.maxSamples`.
   */
  async samples(
    series: readonly SeriesRef[],
    startMs: number,
    endMs: number,
    maxSamples: number,
    signal?: AbortSignal,
  ): Promise<Map<string, { timestamps: number[]; values: number[] }>> {
    const out = new Map<string, { timestamps: number[]; values: number[] }>();
    if (series.length === 0) return out;
    for (const s of series) out.set(s.id, { timestamps: [], values: [] });
    const text = await this.read(
      `SELECT toString(series_id), toUnixTimestamp64Milli(ts), value FROM ${this.db}.samples
       WHERE ${inSeriesAndTime('<=')}
       ORDER BY metric, series_id, ts
       LIMIT {limit:UInt64}`,
      { ...seriesTimeParams(series, startMs, endMs), limit: maxSamples + 1 },
      'TabSeparated',
      signal,
    );
    const rows = tsvRows(text);
    if (rows.length > maxSamples) throw limitExceeded('query.maxSamples', maxSamples, 'samples read');
    let last: { timestamps: number[]; values: number[] } | undefined;
    let lastId = '';
    for (const [id, ts, value] of rows) {
      if (id !== lastId) {
        last = out.get(id as string);
        lastId = id as string;
      }
      if (!last) continue;
      const t = Number(ts);
      // A replayed duplicate (same series and time) counts once, as in Prometheus' TSDB.
      if (last.timestamps.length > 0 && last.timestamps[last.timestamps.length - 1] === t) continue;
      last.timestamps.push(t);
      last.values.push(parseFloat64(value as string));
    }
    return out;
  }

  /** Raw samples of `series` exactly at `times` (the boundaries of tier windows), by series and time. */
  async samplesAt(
    series: readonly SeriesRef[],
    times: readonly number[],
    signal?: AbortSignal,
  ): Promise<Map<string, Map<number, number>>> {
    const out = new Map<string, Map<number, number>>();
    if (series.length === 0 || times.length === 0) return out;
    const text = await this.read(
      `SELECT toString(series_id), toUnixTimestamp64Milli(ts), any(value) FROM ${this.db}.samples
       WHERE metric IN {metrics:Array(String)}
         AND series_id IN (SELECT toUInt64(arrayJoin({ids:Array(String)})))
         AND ts IN (SELECT fromUnixTimestamp64Milli(arrayJoin({times:Array(Int64)}), 'UTC'))
       GROUP BY series_id, ts`,
      { metrics: [...new Set(series.map((s) => s.metric))], ids: series.map((s) => s.id), times: [...times] },
      'TabSeparated',
      signal,
    );
    for (const [id, ts, value] of tsvRows(text)) {
      let at = out.get(id as string);
      if (!at) out.set(id as string, (at = new Map()));
      at.set(Number(ts), parseFloat64(value as string));
    }
    return out;
  }

  /**
   * Windows of `series` in a tier whose start is in [fromMs, toMs), with `columns`; FINAL
   * because the tables are ReplacingMergeTree (a corrected window replaces its earlier result).
   */
  async windows(
    tier: Tier,
    series: readonly SeriesRef[],
    fromMs: number,
    toMs: number,
    columns: readonly TierColumn[],
    maxRows: number,
    signal?: AbortSignal,
  ): Promise<Map<string, WindowRow[]>> {
    const out = new Map<string, WindowRow[]>();
    if (series.length === 0) return out;
    for (const s of series) out.set(s.id, []);
    const text = await this.read(
      `SELECT toString(series_id), toUnixTimestamp64Milli(ts), ${columns.map((c) => `\`${c}\``).join(', ')}
       FROM ${this.db}.samples_${tier} FINAL
       WHERE ${inSeriesAndTime('<')}
       ORDER BY metric, series_id, ts
       LIMIT {limit:UInt64}`,
      { ...seriesTimeParams(series, fromMs, toMs), limit: maxRows + 1 },
      'TabSeparated',
      signal,
    );
    const rows = tsvRows(text);
    if (rows.length > maxRows)
      throw limitExceeded('query.maxSamples', maxRows, `windows read from samples_${tier}`);
    for (const row of rows) {
      const values: Record<string, number> = {};
      columns.forEach((c, i) => (values[c] = parseFloat64(row[i + 2] as string)));
      out.get(row[0] as string)?.push({ start: Number(row[1]), values });
    }
    return out;
  }

  /**
   * `req`'s function at every instant of `grid` from a tier, combined inside ClickHouse (see
   * query/tierInstants.ts): by series, the rows of the instants that have windows, and the
   * windows read. More than `maxRows` windows throws the 422 of `query.maxSamples`.
   */
  async instants(
    plan: TierPlan,
    req: RangeFunctionRequest,
    grid: InstantGrid,
    size: number,
    series: readonly SeriesRef[],
    fromMs: number,
    toMs: number,
    maxRows: number,
    signal?: AbortSignal,
  ): Promise<{ rows: Map<string, Map<number, InstantRow>>; windowsRead: number }> {
    const rows = new Map<string, Map<number, InstantRow>>();
    if (series.length === 0) return { rows, windowsRead: 0 };
    const text = await this.read(
      instantsSql(`${this.db}.samples_${plan.tier}`, req, plan, inSeriesAndTime('<')),
      {
        ...seriesTimeParams(series, fromMs, toMs),
        first: grid.first,
        step: grid.step,
        n: grid.n,
        range: req.rangeMs,
        size,
      },
      'TabSeparated',
      signal,
    );
    const read = new Map<string, number>();
    for (const row of tsvRows(text)) {
      const id = row[0] as string;
      let at = rows.get(id);
      if (!at) rows.set(id, (at = new Map()));
      const values: number[] = [];
      for (let k = 4; k < row.length - 1; k++) values.push(parseFloat64(row[k] as string));
      at.set(Number(row[1]), { windows: Number(row[2]), count: Number(row[3]), values });
      read.set(id, (read.get(id) ?? 0) + Number(row[row.length - 1]));
    }
    let windowsRead = 0;
    for (const n of read.values()) windowsRead += Math.round(n);
    if (windowsRead > maxRows)
      throw limitExceeded('query.maxSamples', maxRows, `windows read from samples_${plan.tier}`);
    return { rows, windowsRead };
  }

  /** Label names of the matching series (all series when no sets), sorted. */
  async labelNames(
    matcherSets: ReadonlyArray<readonly LabelMatcher[]>,
    startMs: number,
    endMs: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const { where, params } = this.seriesFilter(matcherSets, startMs, endMs);
    const text = await this.read(
      `SELECT DISTINCT arrayJoin(arrayConcat(['__name__'], mapKeys(series_labels))) AS name
       FROM (${this.filteredSeries(where)})
       ORDER BY name ${limit > 0 ? 'LIMIT {limit:UInt64}' : ''}`,
      { ...params, limit },
      'JSONCompactEachRow',
      signal,
    );
    return jsonRows<[string]>(text).map(([n]) => n);
  }

  /** Values of label `name` among the matching series, sorted; `__name__` gives metric names. */
  async labelValues(
    name: string,
    matcherSets: ReadonlyArray<readonly LabelMatcher[]>,
    startMs: number,
    endMs: number,
    limit: number,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const { where, params } = this.seriesFilter(matcherSets, startMs, endMs);
    const value = name === '__name__' ? 'metric' : 'series_labels[{label:String}]';
    const text = await this.read(
      `SELECT DISTINCT ${value} AS v FROM (${this.filteredSeries(where)})
       WHERE v != '' ORDER BY v ${limit > 0 ? 'LIMIT {limit:UInt64}' : ''}`,
      { ...params, label: name, limit },
      'JSONCompactEachRow',
      signal,
    );
    return jsonRows<[string]>(text).map(([v]) => v);
  }

  /** Metric names with their kind (`gauge` | `counter`), for `/api/v1/metadata`. */
  async metricKinds(
    metric: string | undefined,
    limit: number,
    signal?: AbortSignal,
  ): Promise<Array<[string, string]>> {
    const text = await this.read(
      `SELECT metric, any(kind) FROM ${this.db}.series
       ${metric === undefined ? '' : 'WHERE metric = {metric:String}'}
       GROUP BY metric ORDER BY metric ${limit > 0 ? 'LIMIT {limit:UInt64}' : ''}`,
      { metric: metric ?? '', limit },
      'JSONCompactEachRow',
      signal,
    );
    return jsonRows<[string, string]>(text);
  }

  private seriesFilter(
    matcherSets: ReadonlyArray<readonly LabelMatcher[]>,
    startMs: number,
    endMs: number,
  ): { where: string; params: Record<string, unknown> } {
    const params: Record<string, unknown> = {
      // first/last_seen are refreshed about once a minute: a series may have samples a little
      // after its last_seen (and, out of order, before its first_seen).
      from: Math.max(0, startMs - LAST_SEEN_LAG_MS),
      to: Math.min(8.64e12, endMs + LAST_SEEN_LAG_MS),
    };
    const conditions = matcherSets.map((set, i) => {
      const c = matchersCondition(set, `s${i}m`);
      Object.assign(params, c.params);
      return `(${c.sql})`;
    });
    return { where: conditions.join(' OR ') || '1', params };
  }

  private filteredSeries(where: string): string {
    return `SELECT metric, any(labels) AS series_labels FROM ${this.db}.series WHERE ${where}
            GROUP BY metric, series_id
            HAVING min(first_seen) <= ${msParam('to')} AND max(last_seen) >= ${msParam('from')}`;
  }
}

/** The parameters of `inSeriesAndTime`: the series, and [fromMs, toMs] clamped to what DateTime64 holds. */
function seriesTimeParams(
  series: ReadonlyArray<{ metric: string; id: string }>,
  fromMs: number,
  toMs: number,
): Record<string, unknown> {
  return {
    ...seriesParams(series),
    from: Math.max(0, fromMs),
    to: Math.max(0, Math.min(8.64e12, toMs)),
  };
}

/** The query parameters that select these series: their metrics (for the primary key) and ids. */
function seriesParams(series: ReadonlyArray<{ metric: string; id: string }>): {
  metrics: string[];
  ids: string[];
} {
  return { metrics: [...new Set(series.map((s) => s.metric))], ids: series.map((s) => s.id) };
}
