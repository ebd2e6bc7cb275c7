import { describe, expect, it } from 'vitest';
import type { ProcessedBatch, SampleRow } from '../../core/records.js';
import { openClickHouse } from '../../sinks/clickhouse.js';
import { SamplesSink } from '../../sinks/samplesSink.js';
import { ensureTables, isUnknownSetting } from '../../sinks/tables.js';
import { cli, configFile, counts, produce, quietLog, tempDir, testConfig, tierCheck } from './helpers.js';
import { columnsOf } from '../../core/sampleColumns.js';

describe('crash and restart', () => {
  it('SIGKILLed mid-stream twice, then restarted: every sample stored once, both tiers equal a batch recomputation', async () => {
    const dir = tempDir('restart');
    // Records carry 5 samples 10 s apart: event time runs up to 50 s out of order per partition.
    const { config, file } = configFile(dir, {
      sink: { maxRows: 4000, maxMs: 100 },
      windows: { outOfOrdernessMs: 60_000 },
    });
    const total = 150_000;
    // Produced at a steady rate while the topology runs, so that the kills land mid-stream: 25 s,
    // as the topology now keeps up with 15,000/s and on a loaded machine stored everything (10 s
    // of production) before the second kill.
    const production = produce(config, { series: 1000, samples: total, batch: 5, seed: 3, rate: 6_000 });

    // Kill once right after a flush was stored, once later in the middle of consuming.
    for (const pattern of [/"msg":"flushed"/, /consumed [1-9]\d{3,} records/]) {
      const run = cli(['--config', file, 'run'], { LOG_LEVEL: 'debug' });
      await run.waitFor(pattern);
      run.child.kill('SIGKILL');
      expect(await run.exit).toBe('SIGKILL');
    }
    const { rows: beforeLast } = await counts(config);
    expect(beforeLast).toBeGreaterThan(0);
    expect(beforeLast).toBeLessThan(total);

    await production;
    const last = cli(['--config', file, 'run', '--exit-when-idle']);
    expect(await last.exit, last.stderr().slice(-2000)).toBe(0);
    expect(await counts(config)).toEqual({ rows: total, distinct: total, series: 1000 });
    expect(last.stdout()).toMatch(/, 0 late samples/);
    for (const tier of ['1m', '1h'] as const) {
      const check = await tierCheck(config, tier);
      expect(check.windows).toBeGreaterThan(0);
      expect(check, tier).toMatchObject({ mismatches: 0, duplicates: 0 });
    }
  });

  it('a replay of written but uncommitted blocks, cut differently by fetches, adds no rows', async () => {
    const config = testConfig(tempDir('replay'));
    const ch = await openClickHouse(config.clickhouse);
    try {
      await ensureTables(ch, config);
      // The raw table compresses in larger blocks and merges wider than the engine's defaults (sinks/tables.ts).
      const created = await ch.client
        .query({ query: `SHOW CREATE TABLE \`${ch.database}\`.samples`, format: 'TabSeparatedRaw' })
        .then((r) => r.text());
      expect(created).toMatch(/min_compress_block_size = 262144\b/);
      expect(created).toMatch(/merge_selector_base = 12\b/);
      // The engine's answer to a setting it does not know (a server older than 24.11 answers
      // merge_selector_base so) is what ensureTables recognizes, and goes on without the setting.
      const refused = await ch.client
        .command({ query: `ALTER TABLE \`${ch.database}\`.samples MODIFY SETTING no_such_merge_setting = 1` })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(isUnknownSetting(refused)).toBe(true);
      const t0 = Math.floor(Date.now() / 1000) * 1000 - 3600_000; // inside the raw TTL
      const batch = (first: number, last: number): ProcessedBatch => {
        const rows: SampleRow[] = [];
        for (let offset = first; offset <= last; offset++) {
          for (let i = 0; i < 3; i++) {
            rows.push({
              name: 'replayed',
              labels: [['i', String(i)]],
              timestamp: t0 + offset * 1000,
              value: offset,
              kind: 'gauge',
              seriesId: BigInt(i + 1),
              seriesKey: String(i + 1),
              offset,
            });
          }
        }
        return {
          recordCount: last - first + 1,
          generation: 1,
          topic: 'replay',
          partition: 0,
          firstOffset: first,
          lastOffset: last,
          samples: columnsOf(rows),
          rejects: [],
        };
      };
      /** Rows in `samples`, and distinct (series, time) among them. */
      const stored = async () =>
        (
          await ch.client
            .query({
              query: `SELECT count() AS n, uniqExact(series_id, ts) AS d FROM \`${ch.database}\`.samples`,
              format: 'JSONEachRow',
            })
            .then((r) => r.json<{ n: string; d: string }>())
        )[0];
      // First run: blocks [0,9] and [10,19] are written; the crash comes before the commit.
      const first = new SamplesSink(ch, quietLog);
      expect((await first.write([batch(0, 9)])).get('replay\u00000')?.lastOffset).toBe(9);
      await first.write([batch(10, 19)]);
      // Restart from offset 0: fetches cut the same records as [0,4], [5,14], [15,24].
      const second = new SamplesSink(ch, quietLog);
      const d1 = await second.write([batch(0, 4)]);
      expect(d1.size).toBe(0); // [0,9] is not complete yet: nothing is durable, nothing inserted twice
      const d2 = await second.write([batch(5, 14)]);
      expect(d2.get('replay\u00000')?.lastOffset).toBe(9);
      const d3 = await second.write([batch(15, 24)]);
      expect(d3.get('replay\u00000')?.lastOffset).toBe(24);
      expect(await stored()).toEqual({ n: String(25 * 3), d: String(25 * 3) });

      // A block whose token the engine logged but whose rows it lost (a kill between the two):
      // its rows are gone, its token stays; the replay must store them again, once.
      await ch.client.command({
        query: `ALTER TABLE \`${ch.database}\`.samples DELETE WHERE toUnixTimestamp64Milli(ts) < ${t0 + 10_000}`,
        clickhouse_settings: { mutations_sync: '2' },
      });
      const third = new SamplesSink(ch, quietLog);
      expect((await third.write([batch(0, 9)])).get('replay\u00000')?.lastOffset).toBe(9);
      await third.write([batch(0, 9)]); // and again: nothing twice
      expect(await stored()).toEqual({ n: String(25 * 3), d: String(25 * 3) });
    } finally {
      await ch.close();
    }
  });
});
