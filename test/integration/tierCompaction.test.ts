import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClickHouse, queryRows, type ClickHouse } from '../../sinks/clickhouse.js';
import { compactQuietPartitions } from '../../sinks/compaction.js';
import { ensureTables } from '../../sinks/tables.js';
import { tempDir } from './helpers.js';
import { loadConfig } from '../../core/config.js';

/** Closed tier partitions become one merged part, which FINAL then reads without merging. */
describe('tier partition compaction', () => {
  const dir = tempDir('compact');
  let ch: ClickHouse;

  // A window of minute 1 in two versions (a correction: count 5 → 6), and minute 2.
  const insert = (minute: number, count: number) =>
    ch.client.command({
      query: `INSERT INTO compact.samples_1m (metric, series_id, ts, count, sum)
              VALUES ('m', 1, toDateTime64('2026-01-01 00:0${minute}:00', 3, 'UTC'), ${count}, ${count * 10})`,
    });
  const rows = () =>
    queryRows<{ count: number; sum: number }>(ch, 'SELECT count, sum FROM compact.samples_1m ORDER BY ts');
  // Background merges may join parts at any time; the end state is what is checked.
  const expectOneMergedPart = async () => {
    const partitions = await queryRows<{ partition_id: string; parts: string; level: number }>(
      ch,
      `SELECT partition_id, count() AS parts, max(level) AS level FROM system.parts
       WHERE database = 'compact' AND table = 'samples_1m' AND active GROUP BY partition_id`,
    );
    expect(partitions).toHaveLength(1);
    expect(partitions[0]).toMatchObject({ partition_id: '20260101', parts: '1' });
    expect(partitions[0]?.level).toBeGreaterThan(0);
  };

  beforeAll(async () => {
    ch = await openClickHouse({
      path: join(dir, 'clickhouse'),
      database: 'compact',
      user: 'default',
      password: '',
    });
    await ensureTables(ch, {
      retention: { rawDays: 10_000, alertDays: 10_000 },
      tiers: loadConfig(undefined, {}).tiers.map((t) => ({ ...t, retentionDays: 10_000 })),
    });
  });
  afterAll(async () => {
    await ch.close();
  });

  it('merges a partition nobody writes to into one part, keeping the highest count of each window', async () => {
    await insert(1, 5);
    await insert(1, 6);
    await insert(2, 3);
    // Written just now (a background merge's part is just as new): not quiet for an hour.
    expect(await compactQuietPartitions(ch, 3_600_000)).toEqual([]);
    const merged = await compactQuietPartitions(ch, 0);
    expect(merged.map((m) => m.partition)).toEqual(['20260101']);
    await expectOneMergedPart();
    expect(await rows()).toEqual([
      { count: 6, sum: 60 },
      { count: 3, sum: 30 },
    ]);
    // Once merged, nothing is left to do until a correction adds a part.
    expect(await compactQuietPartitions(ch, 0)).toEqual([]);
    await insert(2, 4);
    await compactQuietPartitions(ch, 0);
    await expectOneMergedPart();
    expect(await rows()).toEqual([
      { count: 6, sum: 60 },
      { count: 4, sum: 40 },
    ]);
  });
});
