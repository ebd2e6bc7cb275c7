import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../core/config.js';
import { seriesId } from '../../core/series.js';
import { freePort } from '../../services/ports.js';
import { openClickHouse, type ClickHouse } from '../../sinks/clickhouse.js';
import { ensureTables } from '../../sinks/tables.js';

/** A series to store: metric name, labels, kind and its samples ([Unix ms, value]). */
export interface FixtureSeries {
  metric: string;
  labels: Record<string, string>;
  kind?: 'gauge' | 'counter';
  points: Array<[number, number]>;
}

/** Opens the test's embedded ClickHouse with the pipeline's tables. */
export async function openFixture(config: Config): Promise<ClickHouse> {
  const ch = await openClickHouse(config.clickhouse);
  await ensureTables(ch, config);
  return ch;
}

/** Inserts series and their raw samples into `series` and `samples`, as the samples sink stores them. */
export async function insertSeries(ch: ClickHouse, list: FixtureSeries[]): Promise<void> {
  const db = `\`${ch.database}\``;
  const series = [];
  const samples = [];
  for (const s of list) {
    const sorted = Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const id = seriesId(s.metric, sorted).toString();
    const times = s.points.map(([t]) => t);
    series.push({
      metric: s.metric,
      series_id: id,
      labels: s.labels,
      kind: s.kind ?? 'gauge',
      first_seen: Math.min(...times),
      last_seen: Math.max(...times),
    });
    for (const [ts, value] of s.points)
      samples.push({ metric: s.metric, series_id: id, ts, value: floatText(value), kind: s.kind ?? 'gauge' });
  }
  await ch.client.insert({ table: `${db}.series`, values: series, format: 'JSONEachRow' });
  for (let i = 0; i < samples.length; i += 100_000)
    await ch.client.insert({
      table: `${db}.samples`,
      values: samples.slice(i, i + 100_000),
      format: 'JSONEachRow',
    });
}

/** JSON has no NaN, infinities nor -0: ClickHouse reads them from these strings. */
function floatText(v: number): number | string {
  if (Object.is(v, -0)) return '-0';
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
}

/**
 * Fills `samples_1m` and `samples_1h` from `samples` in SQL, as the topology's windows would
 * (count, sum, min, max, avg, first, last, quantiles, increase within the window, stddev).
 */
export async function rollUp(ch: ClickHouse): Promise<void> {
  const db = `\`${ch.database}\``;
  for (const [tier, bucket, seconds] of [
    ['1m', 'toStartOfMinute', 60],
    ['1h', 'toStartOfHour', 3600],
  ] as const) {
    await ch.client.command({
      query: `INSERT INTO ${db}.samples_${tier}
          (metric, series_id, ts, count, sum, min, max, avg, first, last, p50, p90, p99, increase, rate, stddev, revision)
        SELECT metric, series_id, ${bucket}(ts) AS w, count(), sum(value), min(value), max(value), avg(value),
               argMin(value, ts), argMax(value, ts), quantileExact(0.5)(value), quantileExact(0.9)(value), quantileExact(0.99)(value),
               if(any(kind) = 'counter', arraySum(arrayMap((x, y) -> if(y >= x, y - x, y), arrayPopBack(arraySort((v, t) -> t, groupArray(value), groupArray(ts))), arrayPopFront(arraySort((v, t) -> t, groupArray(value), groupArray(ts))))), 0) AS inc,
               inc / ${seconds}, stddevPopStable(value), 1
        FROM ${db}.samples GROUP BY metric, series_id, w`,
    });
  }
}

/** A real Prometheus (Debian's) on a free port with `config` as its configuration. */
export async function startPrometheus(
  dir: string,
  config: string,
): Promise<{ url: string; stop(): Promise<void>; stderr(): string }> {
  const port = await freePort();
  const file = join(dir, `prometheus-${port}.yml`);
  writeFileSync(file, config);
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, `tsdb-${port}`)}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || i > 600)
      throw new Error(`prometheus did not start: ${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stderr: () => stderr,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `promtool <args>`, its stdout, stderr and exit code. */
export function promtool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('promtool', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
