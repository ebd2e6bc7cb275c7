/**
 * Bytes per raw sample under other column codecs and compression block sizes: the bench's
 * workload (10,000 series, one sample every 10 s, 100 per record, seed 1) into a `samples` table
 * of a fresh embedded engine per variant, merged to one part, then the compressed bytes per
 * sample of each column (system.parts_columns) and the part on disk (system.parts).
 *
 *   npx tsx bench/rawCodecs.ts [samples]
 *
 * Prints one line per variant: insert + merge milliseconds, bytes per sample on disk, and the
 * value column's share. The table the sink creates is `sinks/tables.ts`' (variant `current`).
 */
import { Session } from 'chdb';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seriesId } from '../core/series.js';
import { syntheticRecords } from '../producer/synthetic.js';

const samples = Number(process.argv[2] ?? 2_000_000);
const KEY = 'series_id UInt64 CODEC(ZSTD(1)), ts DateTime64(3) CODEC(DoubleDelta, ZSTD(1))';
const VARIANTS: Array<{ name: string; value: string; settings?: string }> = [
  { name: 'blocks of 64 KiB (the default)', value: 'CODEC(Delta(8), ZSTD(3))' },
  {
    name: 'current: blocks of 256 KiB',
    value: 'CODEC(Delta(8), ZSTD(3))',
    settings: 'min_compress_block_size = 262144',
  },
  {
    name: 'blocks of 512 KiB',
    value: 'CODEC(Delta(8), ZSTD(3))',
    settings: 'min_compress_block_size = 524288',
  },
  {
    name: 'blocks of 1 MiB',
    value: 'CODEC(Delta(8), ZSTD(3))',
    settings: 'min_compress_block_size = 1048576',
  },
  { name: 'Delta, ZSTD(5)', value: 'CODEC(Delta(8), ZSTD(5))' },
  { name: 'Delta, ZSTD(9)', value: 'CODEC(Delta(8), ZSTD(9))' },
  { name: 'Gorilla, ZSTD(3)', value: 'CODEC(Gorilla, ZSTD(3))' },
  { name: 'FPC, ZSTD(3)', value: 'CODEC(FPC, ZSTD(3))' },
  { name: 'DoubleDelta, ZSTD(3)', value: 'CODEC(DoubleDelta, ZSTD(3))' },
];

const dir = mkdtempSync(join(tmpdir(), 'raw-codecs-'));
try {
  const lines: string[] = [];
  const workload = syntheticRecords({
    series: 10_000,
    samples,
    batch: 100,
    seed: 1,
    start: Date.UTC(2026, 11, 1),
    intervalMs: 10_000,
  });
  for (const record of workload)
    for (const s of record.samples) {
      const labels = Object.entries(s.labels).sort() as Array<[string, string]>;
      lines.push(`${s.name}\t${seriesId(s.name, labels)}\t${s.timestamp}\t${s.value}\t${s.kind}`);
    }
  const input = join(dir, 'samples.tsv');
  writeFileSync(input, lines.join('\n'));
  VARIANTS.forEach(({ name, value, settings }, i) => {
    const session = new Session(join(dir, `engine-${i}`));
    const table = `samples_${i}`;
    session.query(
      `CREATE TABLE ${table} (metric LowCardinality(String), ${KEY}, value Float64 ${value}, kind Enum8('gauge' = 1, 'counter' = 2))
       ENGINE = MergeTree PARTITION BY toDate(ts) ORDER BY (metric, series_id, ts)${settings ? ` SETTINGS ${settings}` : ''}`,
    );
    const started = performance.now();
    session.query(
      `INSERT INTO ${table} SELECT * FROM file('${input}', TabSeparated, 'metric String, series_id UInt64, ts Int64, value Float64, kind String')`,
    );
    session.query(`OPTIMIZE TABLE ${table} FINAL`);
    const ms = performance.now() - started;
    const perSample = (sql: string) => Number(String(session.query(sql, 'TSV')).trim()) / samples;
    const disk = perSample(`SELECT sum(bytes_on_disk) FROM system.parts WHERE table = '${table}' AND active`);
    const values = perSample(
      `SELECT sum(column_data_compressed_bytes) FROM system.parts_columns WHERE table = '${table}' AND active AND column = 'value'`,
    );
    console.log(
      `${name.padEnd(32)} ${Math.round(ms)} ms  ${disk.toFixed(3)} B/sample  (value ${values.toFixed(3)})`,
    );
    session.cleanup();
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
