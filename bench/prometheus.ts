import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  createWriteStream,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { PipelineError, ServiceError } from '../core/errors.js';
import { freePort, HOST } from '../services/ports.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { METRIC, SPANS, SUBSET_DC, type QueryDataSet } from './queryData.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

/**
 * Block length of the backfill: what a Prometheus with 100 days of retention compacts its blocks
 * to (its largest range not above 10 % of the retention: 2 h × 3⁴ = 162 h), so its long-range
 * queries open as many blocks as they would on a server that had scraped these 90 days.
 */
const BLOCK_MS = 162 * 3_600_000;
const RETENTION = '100d';

export interface BackfillResult {
  samples: number;
  blocks: number;
  /** Bytes of OpenMetrics text promtool read (each window's file is removed after its block). */
  textBytes: number;
  bytesOnDisk: number;
  exportSeconds: number;
  promtoolSeconds: number;
}

/**
 * What Prometheus gets of the seeded data, the finest resolution the store holds at each time:
 * every raw sample of the last hour, one sample per minute (the raw value at the minute's start:
 * the 1m row's `first`) where the 1m tier reaches, one per hour (the 1h row's `first`) before
 * that. As if it had scraped every 15 s, 1 min and 1 h; a real Prometheus would hold the 15 s
 * samples all the way back, 60 to 240 times more.
 */
function samplesSql(ch: ClickHouse, d: QueryDataSet, fromMs: number, toMs: number): string {
  const db = `\`${ch.database}\``;
  const rawFromS = d.endS - SPANS.rawHours * 3600;
  const minuteFrom = (days: number) => d.endS - days * 86_400;
  const within = `ts >= fromUnixTimestamp64Milli(${fromMs}, 'UTC') AND ts < fromUnixTimestamp64Milli(${toMs}, 'UTC')`;
  return `SELECT concat(l.line, ' ', toString(x.v), ' ', toString(toUnixTimestamp(x.ts))) AS line
    FROM (
      SELECT series_id, ts, first AS v, 1 AS tier FROM ${db}.samples_1h WHERE ${within}
      UNION ALL
      SELECT series_id, ts, first, 2 FROM ${db}.samples_1m WHERE ${within} AND ts < toDateTime(${rawFromS}, 'UTC')
      UNION ALL
      SELECT series_id, ts, value, 3 FROM ${db}.samples WHERE ${within}
    ) AS x
    INNER JOIN (
      SELECT series_id,
        concat('${METRIC}{', arrayStringConcat(arrayMap((k, v) -> concat(k, '="', v, '"'), mapKeys(labels), mapValues(labels)), ','), '}') AS line,
        if(labels['dc'] = '${SUBSET_DC}', ${minuteFrom(SPANS.minuteSubsetDays)}, ${minuteFrom(SPANS.minuteDays)}) AS minute_from
      FROM ${db}.series
    ) AS l ON l.series_id = x.series_id
    WHERE x.tier = 3 OR (x.tier = 2 AND toUnixTimestamp(x.ts) >= l.minute_from)
      OR (x.tier = 1 AND toUnixTimestamp(x.ts) < l.minute_from)
    ORDER BY x.series_id, x.ts`;
}

/**
 * Writes the samples into Prometheus TSDB blocks under `tsdbDir` with promtool, one 162 h window
 * at a time: promtool reads its whole input once per block window, so each window gets its own
 * file, written by ClickHouse itself (no row passes through JS).
 */
export async function backfill(
  ch: ClickHouse,
  d: QueryDataSet,
  workDir: string,
  tsdbDir: string,
  onProgress: (line: string) => void,
): Promise<BackfillResult> {
  mkdirSync(tsdbDir, { recursive: true });
  const fromMs = d.originS * 1000;
  const toMs = d.endS * 1000;
  const result: BackfillResult = {
    samples: 0,
    blocks: 0,
    textBytes: 0,
    bytesOnDisk: 0,
    exportSeconds: 0,
    promtoolSeconds: 0,
  };
  const first = Math.floor(fromMs / BLOCK_MS) * BLOCK_MS;
  const windows = Math.ceil((toMs - first) / BLOCK_MS);
  for (let w = first, i = 1; w < toMs; w += BLOCK_MS, i++) {
    const file = join(workDir, `backfill-${i}.om`);
    onProgress(`Prometheus backfill: window ${i}/${windows}, exporting from ClickHouse`);
    let began = Date.now();
    await ch.client.command({
      query: `INSERT INTO FUNCTION file('${file}', 'TSVRaw', 'line String')
        ${samplesSql(ch, d, Math.max(w, fromMs), Math.min(w + BLOCK_MS, toMs))}
        SETTINGS engine_file_truncate_on_insert = 1`,
    });
    appendFileSync(file, '# EOF\n');
    result.exportSeconds += (Date.now() - began) / 1000;
    result.textBytes += statSync(file).size;
    onProgress(`Prometheus backfill: window ${i}/${windows}, promtool (${mb(statSync(file).size)} of text)`);
    began = Date.now();
    await run(PROMTOOL, [
      'tsdb',
      'create-blocks-from',
      'openmetrics',
      '--quiet',
      `--max-block-duration=${BLOCK_MS / 3_600_000}h`,
      file,
      tsdbDir,
    ]);
    result.promtoolSeconds += (Date.now() - began) / 1000;
    rmSync(file, { force: true });
  }
  const stats = blockStats(tsdbDir);
  result.blocks = stats.blocks;
  result.samples = stats.samples;
  result.bytesOnDisk = folderBytes(tsdbDir);
  result.exportSeconds = round(result.exportSeconds);
  result.promtoolSeconds = round(result.promtoolSeconds);
  return result;
}

/** The blocks under `tsdbDir` and their samples, from each block's meta.json. */
function blockStats(tsdbDir: string): { blocks: number; samples: number } {
  let blocks = 0;
  let samples = 0;
  for (const name of readdirSync(tsdbDir)) {
    let meta: { stats?: { numSamples?: number } };
    try {
      meta = JSON.parse(readFileSync(join(tsdbDir, name, 'meta.json'), 'utf8')) as typeof meta;
    } catch {
      continue; // not a block (the WAL, the lock file)
    }
    blocks++;
    samples += meta.stats?.numSamples ?? 0;
  }
  return { blocks, samples };
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * A Prometheus on a free loopback port over `tsdbDir`, no scrape targets, and returns once
 * `/-/ready` answers. `--query.max-samples` is raised from 50 M so that the all-series queries
 * over 90 days are answered rather than refused (the refusal is the default's point, not speed).
 */
export async function startPrometheus(dir: string, tsdbDir: string): Promise<RunningPrometheus> {
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, 'global:\n  scrape_interval: 15s\nscrape_configs: []\n');
  const log = createWriteStream(join(dir, 'prometheus.log'));
  const child = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${tsdbDir}`,
      `--storage.tsdb.retention.time=${RETENTION}`,
      `--web.listen-address=${HOST}:${port}`,
      '--query.max-samples=500000000',
      '--query.timeout=5m',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://${HOST}:${port}`;
  const stop = () => stopChild(child, exited);
  try {
    await waitReady(`${url}/-/ready`, exited, join(dir, 'prometheus.log'));
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid ?? 0, stop };
}

async function waitReady(url: string, exited: Promise<number | null>, logFile: string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (gone) throw new ServiceError(`Prometheus exited before it was ready; see ${logFile}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    // Polling is the only readiness signal Prometheus gives (its log line format is not a contract).
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new ServiceError(`Prometheus was not ready within 120 s; see ${logFile}`);
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    child.once('error', (e) =>
      reject(new PipelineError(`cannot run ${command}: ${e.message}`, { cause: e })),
    );
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(
            new PipelineError(`${command} ${args.slice(0, 3).join(' ')} exited with ${code}: ${err.trim()}`),
          ),
    );
  });
}

/** Bytes under a folder, recursively. */
export function folderBytes(dir: string): number {
  let total = 0;
  const walk = (path: string) => {
    const s = statSync(path);
    if (!s.isDirectory()) {
      total += s.size;
      return;
    }
    for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return total;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const round = (v: number) => Math.round(v * 10) / 10;
