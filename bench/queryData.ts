import { compactQuietPartitions } from '../sinks/compaction.js';
import { queryRows, type ClickHouse } from '../sinks/clickhouse.js';

/**
 * The query bench's seeded data set: one counter metric over `series` series, generated inside
 * ClickHouse (`INSERT … SELECT … FROM numbers(…)`), so that seeding costs no JS per row and the
 * same seed always gives the same rows.
 *
 * Series i has the labels job=job-(i mod 10), host=host-⌊i/10⌋, instance=host-⌊i/10⌋:(9100 + i mod 10)
 * and dc=dc-⌊i/100⌋ (zero-padded): `instance="host-0000:9100"` selects one series, `dc="dc-000"`
 * a hundred (ten hosts × ten jobs), the bare metric all of them.
 *
 * Its value is a counter sampled every 15 s: c(k) = r·k + j, k the sample's index since the
 * start of the data, r = 10 + i mod 40 per sample, j ∈ [0, 10) a per-series, per-hour jitter
 * (xxHash32 of the series and the hour). r ≥ 10 > j keeps it monotonic, and a jitter constant
 * within the hour makes every aggregate of a window exact in closed form: the 1m and 1h rows are
 * exactly what the topology would write for these raw samples (count, sum, min, max, avg, first,
 * last, increase within the window, rate = increase / window), except the quantile columns,
 * which interpolate between the window's last samples rather than run a sketch.
 */
export const METRIC = 'bench_requests_total';
export const RAW_INTERVAL_S = 15;
const HOUR_S = 3600;
const DAY_S = 86_400;

/** What each tier holds, in days before the end (raw: hours). */
export const SPANS = { rawHours: 1, minuteDays: 7, minuteSubsetDays: 30, hourDays: 90 } as const;

/** The `dc` of the hundred-series scope, whose 1m rows reach back 30 days. */
export const SUBSET_DC = 'dc-000';

/** The label matchers of the three scopes the queries run over. */
export const SCOPES = {
  one: { series: 1, matcher: 'instance="host-0000:9100"' },
  hundred: { series: 100, matcher: `dc="${SUBSET_DC}"` },
  all: { series: 0, matcher: '' },
} as const;
export type Scope = keyof typeof SCOPES;

export interface QueryDataSet {
  series: number;
  /** Unix seconds, a whole hour: the data ends just before it, and instant queries run at it. */
  endS: number;
  /** Unix seconds of sample index 0: endS − 90 d. */
  originS: number;
}

export interface SeedSizes {
  series: number;
  rawSamples: number;
  minuteRows: number;
  hourRows: number;
  /** Active parts and bytes on disk of each table after seeding. */
  parts: Record<string, { parts: number; bytes: number }>;
  seconds: number;
}

export function dataSet(series: number, nowMs: number): QueryDataSet {
  if (!Number.isInteger(series) || series < 100) {
    throw new RangeError(`the query bench needs at least 100 series (got ${series}): one scope selects 100`);
  }
  const endS = Math.floor(nowMs / 1000 / HOUR_S) * HOUR_S;
  return { series, endS, originS: endS - SPANS.hourDays * DAY_S };
}

const pad = (width: number, expr: string) => `leftPad(toString(${expr}), ${width}, '0')`;

/** SQL expressions of series `s` (an integer expression): its labels, id and rate. */
function seriesExprs(s: string) {
  const host = `concat('host-', ${pad(4, `intDiv(${s}, 10)`)})`;
  const job = `concat('job-', toString(${s} % 10))`;
  const instance = `concat(${host}, ':', toString(9100 + ${s} % 10))`;
  const dc = `concat('dc-', ${pad(3, `intDiv(${s}, 100)`)})`;
  return {
    labels: `map('dc', ${dc}, 'host', ${host}, 'instance', ${instance}, 'job', ${job})`,
    // core/series.ts: XXH64 of the metric and the sorted label pairs, 0xff between the parts.
    id: `xxHash64(arrayStringConcat(['${METRIC}', 'dc', ${dc}, 'host', ${host}, 'instance', ${instance}, 'job', ${job}], '\\xff'))`,
    rate: `(10 + ${s} % 40)`,
  };
}

/** c(k) of series s, with the hour's jitter j. */
const jitter = (s: string, k: string) =>
  `(xxHash32(${s} * 1000003 + intDiv(${k}, ${HOUR_S / RAW_INTERVAL_S})) % 10)`;

/** The statements that seed a fresh database; each names what it writes for the progress line. */
export function seedStatements(d: QueryDataSet, database: string): Array<{ what: string; sql: string }> {
  const db = `\`${database}\``;
  const x = seriesExprs('s');
  const perHour = HOUR_S / RAW_INTERVAL_S;
  const statements: Array<{ what: string; sql: string }> = [
    {
      what: 'series',
      sql: `INSERT INTO ${db}.series (metric, series_id, labels, kind, first_seen, last_seen)
        SELECT '${METRIC}', ${x.id}, ${x.labels}, 'counter',
          toDateTime64(${d.originS}, 3, 'UTC'), toDateTime64(${d.endS - RAW_INTERVAL_S}, 3, 'UTC')
        FROM (SELECT number AS s FROM numbers(${d.series}))`,
    },
    {
      what: 'raw samples',
      sql: `INSERT INTO ${db}.samples (metric, series_id, ts, value, kind)
        SELECT '${METRIC}', ${x.id}, toDateTime64(${d.originS} + k * ${RAW_INTERVAL_S}, 3, 'UTC'),
          ${x.rate} * k + ${jitter('s', 'k')}, 'counter'
        FROM (SELECT intDiv(number, ${perHour * SPANS.rawHours}) AS s,
                     ${(d.endS - d.originS) / RAW_INTERVAL_S - perHour * SPANS.rawHours} + number % ${perHour * SPANS.rawHours} AS k
              FROM numbers(${d.series * perHour * SPANS.rawHours}))`,
    },
  ];
  // One insert per day (1m) or per month-sized slice (1h), each squashed into one part.
  for (let day = SPANS.minuteSubsetDays; day >= 1; day--) {
    const series = day > SPANS.minuteDays ? SCOPES.hundred.series : d.series;
    statements.push({
      what: `1m rows, day −${day}`,
      sql: tierInsert(d, db, '1m', d.endS - day * DAY_S, DAY_S, series),
    });
  }
  for (let from = d.originS; from < d.endS; from += 30 * DAY_S) {
    statements.push({
      what: `1h rows from day −${(d.endS - from) / DAY_S}`,
      sql: tierInsert(d, db, '1h', from, Math.min(30 * DAY_S, d.endS - from), d.series),
    });
  }
  return statements;
}

/**
 * Rows of one tier for `series` series over [fromS, fromS + spanS): window w starts at sample
 * index k0 and holds n = window / 15 s samples c(k0) … c(k0 + n − 1), all with the same jitter j
 * (a window never crosses an hour), so sum = r·(n·k0 + n(n−1)/2) + n·j.
 */
function tierInsert(
  d: QueryDataSet,
  db: string,
  tier: '1m' | '1h',
  fromS: number,
  spanS: number,
  series: number,
): string {
  const windowS = tier === '1m' ? 60 : HOUR_S;
  const n = windowS / RAW_INTERVAL_S;
  const windows = spanS / windowS;
  const x = seriesExprs('s');
  const rows = series * windows;
  return `INSERT INTO ${db}.samples_${tier}
    (metric, series_id, ts, count, sum, min, max, avg, first, last, p50, p90, p99, increase, rate, revision)
    SELECT '${METRIC}', ${x.id}, toDateTime64(${d.originS} + k0 * ${RAW_INTERVAL_S}, 3, 'UTC'), ${n},
      sum_, first_, last_, sum_ / ${n}, first_, last_,
      r * (k0 + ${(n - 1) / 2}) + j, r * (k0 + ${0.9 * (n - 1)}) + j, r * (k0 + ${0.99 * (n - 1)}) + j,
      last_ - first_, (last_ - first_) / ${windowS}, 1
    FROM (
      SELECT s, k0, ${x.rate} AS r, ${jitter('s', 'k0')} AS j,
        r * k0 + j AS first_, r * (k0 + ${n - 1}) + j AS last_, r * (${n} * k0 + ${(n * (n - 1)) / 2}) + ${n} * j AS sum_
      FROM (SELECT intDiv(number, ${windows}) AS s,
                   ${(fromS - d.originS) / RAW_INTERVAL_S} + (number % ${windows}) * ${n} AS k0
            FROM numbers(${rows})))
    SETTINGS min_insert_block_size_rows = ${rows + 1}, min_insert_block_size_bytes = 0,
      max_partitions_per_insert_block = 1000`;
}

/** Runs the seed statements into a fresh database (tables already created) and measures the result. */
export async function seed(
  ch: ClickHouse,
  d: QueryDataSet,
  onProgress: (line: string) => void,
): Promise<SeedSizes> {
  const began = Date.now();
  const statements = seedStatements(d, ch.database);
  for (const [i, s] of statements.entries()) {
    if (i % 8 === 0 || i === statements.length - 1)
      onProgress(`seeding ClickHouse: ${s.what} (${i + 1}/${statements.length})`);
    await ch.client.command({ query: s.sql });
  }
  // As a long-running store holds them: each closed tier partition one merged part.
  onProgress('seeding ClickHouse: merging each tier partition into one part');
  await compactQuietPartitions(ch, 0);
  const db = `\`${ch.database}\``;
  const count = async (table: string) =>
    Number((await queryRows<{ n: string }>(ch, `SELECT count() AS n FROM ${db}.${table}`))[0]?.n ?? 0);
  const parts = await queryRows<{ table: string; parts: string; bytes: string }>(
    ch,
    `SELECT table, count() AS parts, sum(bytes_on_disk) AS bytes FROM system.parts
     WHERE database = {db:String} AND active AND table IN ('series', 'samples', 'samples_1m', 'samples_1h')
     GROUP BY table`,
    { db: ch.database },
  );
  return {
    series: await count('series'),
    rawSamples: await count('samples'),
    minuteRows: await count('samples_1m'),
    hourRows: await count('samples_1h'),
    parts: Object.fromEntries(
      parts.map((p) => [p.table, { parts: Number(p.parts), bytes: Number(p.bytes) }]),
    ),
    seconds: Math.round((Date.now() - began) / 100) / 10,
  };
}
