import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalize, sampleAggregator } from '../../core/aggregate.js';
import type { ProcessedBatch, SampleRow } from '../../core/records.js';
import { seriesId } from '../../core/series.js';
import { openClickHouse, queryRows, type ClickHouse } from '../../sinks/clickhouse.js';
import { insertRollups, toRollup } from '../../sinks/rollupSink.js';
import { SamplesSink } from '../../sinks/samplesSink.js';
import { ensureTables } from '../../sinks/tables.js';
import { quietLog, tempDir, testConfig } from './helpers.js';
import { columnsOf } from '../../core/sampleColumns.js';

const config = testConfig(join(tempDir('negative-zero'), 'clickhouse'));
// Within the tables' TTL: older rows are dropped as they are inserted.
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000;
const labels: Array<[string, string]> = [['host', 'a']];
const id = seriesId('zero_test', labels);

function row(offset: number, value: number): SampleRow {
  return {
    name: 'zero_test',
    labels,
    timestamp: T0 + offset * 1000,
    value,
    kind: 'gauge',
    seriesId: id,
    seriesKey: id.toString(),
    offset,
  };
}

let ch: ClickHouse;

beforeAll(async () => {
  ch = await openClickHouse(config.clickhouse);
  await ensureTables(ch, config);
});

afterAll(async () => {
  await ch?.close();
});

/** Signs as ClickHouse keeps them: `1 / x < 0` holds for -0 (1 / -0 is -inf) and not for 0. */
async function signs(sql: string): Promise<Array<Record<string, number>>> {
  return queryRows<Record<string, number>>(ch, sql);
}

describe('the sign of zero', () => {
  it('survives the way into the raw samples table', async () => {
    const batch: ProcessedBatch = {
      recordCount: 2,
      generation: 1,
      topic: 'zero-in',
      partition: 0,
      firstOffset: 0,
      lastOffset: 1,
      samples: columnsOf([row(0, -0), row(1, 0)]),
      rejects: [],
    };
    await new SamplesSink(ch, quietLog).write([batch]);
    const rows = await signs(
      `SELECT toInt32(toUnixTimestamp64Milli(ts) - ${T0}) AS at, 1 / value < 0 AS negative
       FROM \`${ch.database}\`.samples ORDER BY ts`,
    );
    expect(rows).toEqual([
      { at: 0, negative: 1 },
      { at: 1000, negative: 0 },
    ]);
  });

  it('survives the way into a tier table (first, last, min, max and sum of a window of -0)', async () => {
    const acc = sampleAggregator.create();
    sampleAggregator.add(acc, row(0, -0), T0);
    sampleAggregator.add(acc, row(1, -0), T0 + 1000);
    const rollup = toRollup({
      tier: '1m',
      seriesKey: id.toString(),
      series: { name: 'zero_test', labels, kind: 'gauge' },
      start: T0,
      end: T0 + 60_000,
      aggregate: finalize(acc),
      revision: 1,
    });
    await insertRollups(ch, '1m', [rollup]);
    const [signsOf] = await signs(
      `SELECT 1 / first < 0 AS first, 1 / last < 0 AS last, 1 / min < 0 AS min, 1 / max < 0 AS max,
              1 / sum < 0 AS sum
       FROM \`${ch.database}\`.samples_1m FINAL`,
    );
    expect(signsOf).toEqual({ first: 1, last: 1, min: 1, max: 1, sum: 1 });
  });
});
