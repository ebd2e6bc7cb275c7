/**
 * The query bench (`npm run bench -- --query`, or `--query-only`): the query service and a real
 * Prometheus answer the same PromQL over the same seeded samples, each query run cold and warm,
 * timed from the request to the last byte of the answer. Method and figures: bench/README.md,
 * "Query service".
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../core/config.js';
import { PipelineError } from '../core/errors.js';
import { openClickHouse } from '../sinks/clickhouse.js';
import { ensureTables } from '../sinks/tables.js';
import type { ProfileSummary } from './profile.js';
import { backfill, startPrometheus, type BackfillResult } from './prometheus.js';
import { queryCases, TIER_OF_SPAN, type QueryCase, type Span } from './queryCases.js';
import {
  dataSet,
  RAW_INTERVAL_S,
  SCOPES,
  SPANS,
  seed,
  type QueryDataSet,
  type Scope,
  type SeedSizes,
} from './queryData.js';
import { startQueryService } from './queryService.js';
import { ask, timings, type Answer, type QueryTarget, type Timings } from './queryTiming.js';
import { BENCH_DIR } from './workspace.js';

export interface QueryBenchOptions {
  series: number;
  /** Runs of each query, cold and warm. */
  reps: number;
  /** Profile the query service (node --cpu-prof) and summarize where its time goes. */
  cpuProf: boolean;
  keep: boolean;
  /** Only the queries whose id contains this text. */
  filter?: string;
  /** A folder seeded by an earlier run (kept with `keep`): run the queries on it, seed nothing. */
  reuse?: string;
}

/** One side's figures for one query. */
export interface SideResult {
  cold: Timings;
  warm: Timings;
  /** Series in the answer (the first run's), null on failure. */
  series: number | null;
  bytes: number;
  tier: string | null;
  error: string | null;
  /** A run took longer than the request timeout: the query was given up on that side. */
  timedOut: boolean;
}

export interface QueryCaseResult {
  id: string;
  span: Span;
  /** The tier that should answer it. */
  expectedTier: 'raw' | '1m' | '1h';
  scope: Scope;
  kind: 'instant' | 'range';
  promql: string;
  params: Record<string, string>;
  ours: SideResult;
  prometheus: SideResult;
  /** Ours warm p50 ≤ Prometheus' warm p50. */
  warmAtMostPrometheus: boolean | null;
  target?: boolean;
}

export interface QueryBenchResult {
  dataSet: {
    series: number;
    rawIntervalSeconds: number;
    spans: typeof SPANS;
    end: string;
    scopes: Record<Scope, string>;
  };
  clickhouse: SeedSizes;
  prometheus: BackfillResult & { version: string };
  reps: number;
  cases: QueryCaseResult[];
  targets: {
    /** The 30-day, 100-series range from the 1m tier, cold p50 (ms), and whether ≤ 200 ms. */
    thirtyDayColdP50Ms: number | null;
    thirtyDayColdP99Ms: number | null;
    thirtyDayColdMet: boolean | null;
    /** Cases whose warm p50 is at most Prometheus' warm p50, of those both answered. */
    warmAtMostPrometheus: { met: number; of: number };
  };
  loadAverage: { start: number; end: number };
  /** Times the query service exited on its own (and was started again). */
  serviceCrashes: number;
  seconds: number;
  profile?: ProfileSummary;
}

export const THIRTY_DAY_TARGET_MS = 200;

/** Both sides are asked with `timeout` this long; a query that hits it is not run again. */
export const REQUEST_TIMEOUT_S = 30;

/** Time one side may spend on the cold runs of a query, and again on the warm runs: at least one run each. */
const PHASE_BUDGET_MS = 20_000;

/** What a seeded folder holds, written next to the data so that `--query-data` can run on it again. */
interface Seeded {
  d: QueryDataSet;
  sizes: SeedSizes;
  filled: BackfillResult;
}
const SEEDED_FILE = 'seeded.json';

/** Seeds ClickHouse, then backfills Prometheus from it, in a fresh `dir`. */
async function seedBoth(
  config: Config,
  dir: string,
  series: number,
  say: (line: string) => void,
): Promise<Seeded> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const d = dataSet(series, Date.now());
  const ch = await openClickHouse(config.clickhouse);
  try {
    await ensureTables(ch, config);
    say(`seeding ${series.toLocaleString('en-US')} series into ClickHouse`);
    const sizes = await seed(ch, d, say);
    say(
      `seeded in ${sizes.seconds} s: ${sizes.rawSamples.toLocaleString('en-US')} raw samples, ` +
        `${sizes.minuteRows.toLocaleString('en-US')} 1m rows, ${sizes.hourRows.toLocaleString('en-US')} 1h rows`,
    );
    const filled = await backfill(ch, d, dir, join(dir, 'prometheus-data'), say);
    say(
      `Prometheus backfilled: ${filled.samples.toLocaleString('en-US')} samples in ${filled.blocks} blocks ` +
        `(export ${filled.exportSeconds} s, promtool ${filled.promtoolSeconds} s)`,
    );
    const seeded = { d, sizes, filled };
    writeFileSync(join(dir, SEEDED_FILE), JSON.stringify(seeded));
    return seeded;
  } finally {
    // The embedded engine admits one process per data folder: the query service opens it next.
    await ch.close();
  }
}

/**
 * A folder seeded earlier (kept with `--keep`). Its data ends where it ended then; the tiers are
 * chosen by the clock now, so it is good for the day after seeding (raw retention is 1 day here).
 */
function readSeeded(dir: string): Seeded {
  const file = join(dir, SEEDED_FILE);
  if (!existsSync(file))
    throw new PipelineError(`${dir} holds no seeded query data set (no ${SEEDED_FILE})`, {
      hint: 'seed one with `bench --query-only --keep`; the folder is printed at the end',
    });
  const seeded = JSON.parse(readFileSync(file, 'utf8')) as Seeded;
  if (Date.now() - seeded.d.endS * 1000 > 23 * 3_600_000)
    throw new PipelineError(
      `the data set in ${dir} is more than 23 h old: its raw hour is past raw retention`,
      {
        hint: 'seed a new one',
      },
    );
  return seeded;
}

/** Retention the seeded store is run with: raw data only for its last hour, 1m rows for 30 days (+1 of slack). */
const RETENTION = { rawDays: 1, alertDays: 365 };
const TIER_RETENTION: Record<string, number> = { '1m': 31, '1h': 365 };

export async function queryBench(
  base: Config,
  benchId: string,
  options: QueryBenchOptions,
  say: (line: string) => void,
  /** Where the Prometheus and the query service are registered while they run, for an interrupt to stop them. */
  children: Set<{ stop(): Promise<void> }> = new Set(),
): Promise<QueryBenchResult> {
  const began = Date.now();
  const loadStart = os.loadavg()[0] ?? 0;
  const dir = options.reuse ? resolve(options.reuse) : resolve(BENCH_DIR, benchId, 'query');
  const config: Config = {
    ...base,
    retention: { ...base.retention, ...RETENTION },
    tiers: base.tiers.map((t) => ({ ...t, retentionDays: TIER_RETENTION[t.name] ?? t.retentionDays })),
    // Always the embedded engine: the Prometheus export writes files where ClickHouse runs.
    clickhouse: {
      ...base.clickhouse,
      url: undefined,
      database: 'bench_query',
      path: join(dir, 'clickhouse'),
    },
  };
  const { d, sizes, filled } = options.reuse
    ? readSeeded(dir)
    : await seedBoth(config, dir, options.series, say);
  const cases = queryCases(d);
  const prometheus = await startPrometheus(dir, join(dir, 'prometheus-data'));
  children.add(prometheus);
  const version = await prometheusVersion(prometheus.url);
  const service = await startQueryService(config, dir, { cpuProf: options.cpuProf }).catch(async (error) => {
    await prometheus.stop();
    throw error;
  });
  children.add(service);
  const results: QueryCaseResult[] = [];
  try {
    const ours: QueryTarget = { name: 'query service', url: service.url };
    const prom: QueryTarget = { name: 'Prometheus', url: prometheus.url };
    const chosen = options.filter ? cases.filter((c) => c.id.includes(options.filter as string)) : cases;
    for (const [i, c] of chosen.entries()) {
      say(`query ${i + 1}/${chosen.length}: ${c.id}  ${c.promql}`);
      const mine = await measure(ours, c, options.reps, (stuck) =>
        stuck ? service.restart() : service.restartIfGone(),
      );
      const theirs = await measure(prom, c, options.reps, () => Promise.resolve());
      const t = (x: SideResult) =>
        x.error ??
        `cold ${x.cold.p50Ms}/${x.cold.p99Ms} warm ${x.warm.p50Ms}/${x.warm.p99Ms} ms, ${x.series} series`;
      say(`  ours (${mine.tier ?? '?'}): ${t(mine)} | Prometheus: ${t(theirs)}`);
      results.push({
        id: c.id,
        span: c.span,
        expectedTier: TIER_OF_SPAN[c.span],
        scope: c.scope,
        kind: c.kind,
        promql: c.promql,
        params: c.params,
        ours: mine,
        prometheus: theirs,
        warmAtMostPrometheus:
          mine.warm.p50Ms !== null &&
          theirs.warm.p50Ms !== null &&
          mine.error === null &&
          theirs.error === null
            ? mine.warm.p50Ms <= theirs.warm.p50Ms
            : null,
        ...(c.target ? { target: true } : {}),
      });
    }
  } finally {
    await service.stop();
    await prometheus.stop();
    children.delete(service);
    children.delete(prometheus);
  }
  const profile = options.cpuProf ? service.profile() : undefined;
  if (options.keep || options.reuse)
    say(`query data set kept in ${dir} (run again on it with --query-data ${dir})`);
  else {
    rmSync(join(dir, 'clickhouse'), { recursive: true, force: true });
    rmSync(join(dir, 'prometheus-data'), { recursive: true, force: true });
  }
  const target = results.find((r) => r.target);
  const compared = results.filter((r) => r.warmAtMostPrometheus !== null);
  return {
    dataSet: {
      series: d.series,
      rawIntervalSeconds: RAW_INTERVAL_S,
      spans: SPANS,
      end: new Date(d.endS * 1000).toISOString(),
      scopes: Object.fromEntries(
        (Object.keys(SCOPES) as Scope[]).map((s) => [s, SCOPES[s].matcher || '(all)']),
      ) as Record<Scope, string>,
    },
    clickhouse: sizes,
    prometheus: { ...filled, version },
    reps: options.reps,
    cases: results,
    targets: {
      thirtyDayColdP50Ms: target?.ours.cold.p50Ms ?? null,
      thirtyDayColdP99Ms: target?.ours.cold.p99Ms ?? null,
      thirtyDayColdMet:
        target && target.ours.error === null && target.ours.cold.p50Ms !== null
          ? target.ours.cold.p50Ms <= THIRTY_DAY_TARGET_MS
          : null,
      warmAtMostPrometheus: {
        met: compared.filter((r) => r.warmAtMostPrometheus).length,
        of: compared.length,
      },
    },
    loadAverage: { start: loadStart, end: os.loadavg()[0] ?? 0 },
    serviceCrashes: service.crashes,
    seconds: Math.round((Date.now() - began) / 100) / 10,
    ...(profile ? { profile } : {}),
  };
}

/**
 * `reps` cold runs then `reps` warm runs of one query, the same way on both sides. Cold: each run
 * a query text the target has not seen (a distinct trailing PromQL comment), so no results cache
 * can answer it; the engines' own caches (ClickHouse's marks, the OS page cache) stay as warm as
 * Prometheus' memory-mapped blocks. Warm: the query itself, again and again, after a first run
 * that fills the cache.
 */
async function measure(
  target: QueryTarget,
  c: QueryCase,
  reps: number,
  alive: (stuck: boolean) => Promise<void>,
): Promise<SideResult> {
  const cold: Answer[] = [];
  const warm: Answer[] = [];
  let timedOut = false;
  const run = async (into: Answer[], coldRun?: number) => {
    const answer = await ask(target, c, REQUEST_TIMEOUT_S, coldRun);
    into.push(answer);
    if (answer.status !== 200 && answer.ms >= REQUEST_TIMEOUT_S * 1000) timedOut = true;
    if (answer.status === 0) await alive(timedOut);
  };
  // A query that takes many seconds says what it has to say in one run; the budget keeps such
  // queries from taking the bench's whole time (its n shows in the JSON).
  const within = (answers: Answer[]) =>
    !timedOut && answers.reduce((sum, a) => sum + a.ms, 0) < PHASE_BUDGET_MS;
  for (let i = 0; i < reps && within(cold); i++) await run(cold, i + 1);
  if (!timedOut) await run([]);
  for (let i = 0; i < reps && within(warm); i++) await run(warm);
  const firstFailure = [...cold, ...warm].find((a) => a.error !== null || a.status !== 200);
  const ok = (answers: Answer[]) =>
    answers.filter((a) => a.error === null && a.status === 200).map((a) => a.ms);
  const first = cold[0] as Answer;
  return {
    cold: timings(ok(cold)),
    warm: timings(ok(warm)),
    series: first.series,
    bytes: first.bytes,
    tier: first.tier,
    error: firstFailure ? `${firstFailure.status}: ${firstFailure.error ?? ''}`.slice(0, 300) : null,
    timedOut,
  };
}

async function prometheusVersion(url: string): Promise<string> {
  const body = (await (await fetch(`${url}/api/v1/status/buildinfo`)).json()) as {
    data?: { version?: string };
  };
  return body.data?.version ?? 'unknown';
}
