import { describe, expect, it } from 'vitest';
import type { ProcessedBatch } from '../../core/records.js';
import { SampleColumnsBuilder, type BatchSeries } from '../../core/sampleColumns.js';
import { openClickHouse } from '../../sinks/clickhouse.js';
import { SamplesSink } from '../../sinks/samplesSink.js';
import { ensureTables } from '../../sinks/tables.js';
import { quietLog, tempDir, testConfig } from './helpers.js';

describe('the samples sink’s series rows', () => {
  it('one row per series and write, first and last time over all its runs, merged by id across series objects', async () => {
    const config = testConfig(tempDir('series-upsert'));
    const ch = await openClickHouse(config.clickhouse);
    try {
      await ensureTables(ch, config);
      const t0 = Math.floor(Date.now() / 1000) * 1000 - 3600_000;
      const series = (id: number): BatchSeries => ({
        id: BigInt(id),
        key: String(id),
        name: 'm',
        labels: [['s', String(id)]],
      });
      const a = series(1);
      const b = series(2);
      // Two objects for one series (a decoder that shares no labels object makes one per sample).
      const c1 = series(3);
      const c2 = series(3);
      let offset = 0;
      const batch = (samples: Array<[BatchSeries, number]>): ProcessedBatch => {
        const builder = new SampleColumnsBuilder(samples.length);
        const first = offset;
        for (const [s, seconds] of samples) builder.push(s, t0 + seconds * 1000, 1, false, offset++);
        return {
          recordCount: samples.length,
          generation: 1,
          topic: 'series-upsert',
          partition: 0,
          firstOffset: first,
          lastOffset: offset - 1,
          samples: builder.finish(),
          rejects: [],
        };
      };
      const rows = async () =>
        ch.client
          .query({
            query: `SELECT toUInt64(series_id) AS id, toUnixTimestamp64Milli(first_seen) AS first, toUnixTimestamp64Milli(last_seen) AS last
                    FROM \`${ch.database}\`.series ORDER BY id, last`,
            format: 'JSONEachRow',
          })
          .then((r) => r.json<{ id: string; first: string; last: string }>());
      const at = (seconds: number) => String(t0 + seconds * 1000);

      const sink = new SamplesSink(ch, quietLog);
      // Runs of a and b alternate: each series comes back after the other's run. c1 and c2 come
      // in different batches of the write.
      await sink.write([
        batch([
          [a, 0],
          [b, 0],
          [a, 10],
          [b, 10],
          [a, 20],
          [c1, 5],
        ]),
        batch([
          [c2, 30],
          [a, 15],
        ]),
      ]);
      expect(await rows()).toEqual([
        { id: '1', first: at(0), last: at(20) },
        { id: '2', first: at(0), last: at(10) },
        { id: '3', first: at(5), last: at(30) },
      ]);

      // The next write: a's sample 10 s later is within the refresh interval (no row), 180 s
      // later it is not (a row), whatever the series objects remember of the write before.
      await sink.write([batch([[a, 30]])]);
      expect((await rows()).length).toBe(3);
      await sink.write([
        batch([
          [b, 15],
          [a, 200],
        ]),
      ]);
      expect(await rows()).toEqual([
        { id: '1', first: at(0), last: at(20) },
        { id: '1', first: at(200), last: at(200) },
        { id: '2', first: at(0), last: at(10) },
        { id: '3', first: at(5), last: at(30) },
      ]);
    } finally {
      await ch.close();
    }
  });
});
