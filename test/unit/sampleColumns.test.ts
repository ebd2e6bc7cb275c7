import { describe, expect, it } from 'vitest';
import type { SampleRow } from '../../core/records.js';
import {
  columnsOf,
  concatColumns,
  rowAt,
  rowsOf,
  SampleColumnsBuilder,
  sliceColumns,
  type BatchSeries,
} from '../../core/sampleColumns.js';

const up: BatchSeries = { id: 1n, key: '1', name: 'up', labels: [['job', 'a']] };
const down: BatchSeries = { id: 2n, key: '2', name: 'down', labels: [] };

function row(
  series: BatchSeries,
  timestamp: number,
  offset: number,
  kind: SampleRow['kind'] = 'gauge',
): SampleRow {
  return {
    name: series.name,
    labels: series.labels,
    timestamp,
    value: timestamp / 10,
    kind,
    seriesId: series.id,
    seriesKey: series.key,
    offset,
  };
}

describe('SampleColumns', () => {
  it('describes each series once and keeps every sample in the typed arrays, past their first capacity', () => {
    const builder = new SampleColumnsBuilder(2);
    for (let i = 0; i < 5; i++) builder.push(i === 2 ? down : up, i, i / 10, i === 4, 100 + i);
    // An equal description of a series already seen is the same series.
    builder.push({ ...up }, 5, 0.5, false, 105);
    const columns = builder.finish();
    expect(columns.length).toBe(6);
    expect(columns.series).toEqual([up, down]);
    expect([...columns.seriesIndex]).toEqual([0, 0, 1, 0, 0, 0]);
    expect([...columns.ts]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...columns.counter]).toEqual([0, 0, 0, 0, 1, 0]);
    expect([...columns.offset]).toEqual([100, 101, 102, 103, 104, 105]);
    expect(columns.origin).toBeUndefined();
    expect(rowAt(columns, 4)).toEqual({ ...row(up, 4, 104, 'counter'), value: 0.4 });
  });

  it('round-trips rows, origins included', () => {
    const rows = [
      { ...row(up, 10, 7), origin: { partition: 3, offset: 70 } },
      { ...row(down, 20, 8, 'counter'), origin: { partition: 1, offset: 80 } },
    ];
    expect(rowsOf(columnsOf(rows))).toEqual(rows);
  });

  it('refuses a batch where only some samples have an origin', () => {
    const builder = new SampleColumnsBuilder();
    builder.push(up, 1, 1, false, 1);
    expect(() => builder.push(up, 2, 2, false, 2, { partition: 0, offset: 2 })).toThrow(/origin/);
  });

  it('slices without copying and concatenates batches, merging their series', () => {
    const a = columnsOf([row(up, 1, 1), row(down, 2, 2)]);
    const b = columnsOf([row(down, 3, 3), row(up, 4, 4), row(down, 5, 5)]);
    const tail = sliceColumns(b, 1, 3);
    expect(tail.ts.buffer).toBe(b.ts.buffer);
    expect(rowsOf(tail)).toEqual([row(up, 4, 4), row(down, 5, 5)]);
    const both = concatColumns([a, b]);
    expect(both.series.map((s) => s.key)).toEqual(['1', '2']);
    expect(rowsOf(both)).toEqual([...rowsOf(a), ...rowsOf(b)]);
    expect(concatColumns([a])).toBe(a);
  });
});
