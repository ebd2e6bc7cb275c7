/**
 * The insert paths side by side: the same raw rows into the same `samples` table of a fresh
 * embedded engine, once as the sink wrote them until it went binary (TabSeparated text through
 * the client's connection hook, the token as a setting) and once as it writes them now (a Native
 * block from a file, `INSERT … SELECT … SETTINGS …`). Blocks of 200,000 rows (`sink.maxRows` when it was measured),
 * each with its deduplication token, encoding included in the timing.
 *
 *   npx tsx bench/insertPaths.ts [rows] [repeats]
 *
 * Prints one line per path and round: rows/s, CPU seconds of this process (all threads: the
 * engine runs inside it), and the 1-minute load average of the machine at the start.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../core/config.js';
import type { SampleRow } from '../core/records.js';
import { openClickHouse, type ClickHouse } from '../sinks/clickhouse.js';
import { columnsOf } from '../core/sampleColumns.js';
import { SAMPLE_COLUMNS, samplesBlock } from '../sinks/samplesSink.js';
import { ensureTables } from '../sinks/tables.js';

type Row = Pick<SampleRow, 'name' | 'seriesId' | 'timestamp' | 'value' | 'kind'>;

const total = Number(process.argv[2] ?? 2_000_000);
const repeats = Number(process.argv[3] ?? 2);
const BLOCK = 200_000;

/** 10,000 series, one sample every 10 s each, values in the resolutions agents report. */
function workload(): Row[] {
  const rows: Row[] = [];
  const start = Date.now() - 3_600_000;
  for (let i = 0; i < total; i++) {
    const series = i % 10_000;
    rows.push({
      name: `metric_${series % 20}`,
      seriesId: BigInt(series) * 2_654_435_761n + 1n,
      timestamp: start + Math.floor(i / 10_000) * 10_000,
      value: series % 3 === 0 ? Math.round(Math.random() * 1e6) : Math.round(Math.random() * 10_000) / 100,
      kind: series % 5 === 0 ? 'counter' : 'gauge',
    });
  }
  return rows;
}

/** The TabSeparated text the sink built before (time as Unix seconds with milliseconds). */
function tabSeparated(rows: ReadonlyArray<Row>): string {
  let body = '';
  for (const r of rows) {
    const seconds = Math.floor(r.timestamp / 1000);
    const ms = String(r.timestamp - seconds * 1000).padStart(3, '0');
    body += `${r.name}\t${r.seriesId}\t${seconds}.${ms}\t${r.value}\t${r.kind}\n`;
  }
  return body;
}

const paths: Record<string, (ch: ClickHouse, rows: ReadonlyArray<Row>, token: string) => Promise<unknown>> = {
  'TabSeparated through the client hook': (ch, rows, token) =>
    ch.client.insert({
      table: `\`${ch.database}\`.samples`,
      values: Readable.from([tabSeparated(rows)], { objectMode: false, encoding: 'utf8' }),
      format: 'TabSeparated',
      columns: [...SAMPLE_COLUMNS] as [string, ...string[]],
      clickhouse_settings: { insert_deduplication_token: token, insert_deduplicate: 1 },
    }),
  'Native file, INSERT … SELECT … SETTINGS': (ch, rows, token) =>
    ch.insertNative({
      table: `\`${ch.database}\`.samples`,
      columns: SAMPLE_COLUMNS,
      block: samplesBlock(columnsOf(rows)),
      settings: { insert_deduplication_token: token, insert_deduplicate: 1 },
    }),
};

const rows = workload();
const config = loadConfig(undefined, {});
// One engine for every round: the embedded engine binds one data folder per process.
const dir = mkdtempSync(join(os.tmpdir(), 'insert-paths-'));
const engine = await openClickHouse({ ...config.clickhouse, path: dir });
try {
  for (let round = 1; round <= repeats; round++) {
    for (const [index, [name, insert]] of Object.entries(paths).entries()) {
      const ch = { ...engine, database: `paths_${round}_${index}` };
      await ensureTables(ch, config);
      const load = os.loadavg()[0] ?? 0;
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (let at = 0; at < rows.length; at += BLOCK)
        await insert(ch, rows.slice(at, at + BLOCK), `paths:${at}`);
      const seconds = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      const [stored] = await ch.client
        .query({ query: `SELECT count() AS n FROM \`${ch.database}\`.samples`, format: 'JSONEachRow' })
        .then((r) => r.json<{ n: string }>());
      if (Number(stored?.n) !== rows.length)
        throw new Error(`${name}: ${stored?.n} rows stored of ${rows.length}`);
      console.log(
        `${name}: ${rows.length} rows in ${seconds.toFixed(2)} s = ${Math.round(rows.length / seconds)} rows/s, ` +
          `CPU ${((used.user + used.system) / 1e6).toFixed(2)} s, load ${load.toFixed(2)} (round ${round})`,
      );
    }
  }
} finally {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
}
