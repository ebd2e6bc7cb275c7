import { describe, expect, it } from 'vitest';
import { finalize, sampleAggregator, type Aggregate } from '../../core/aggregate.js';
import type { SeriesMeta } from '../../core/series.js';
import { encodeRollupBatch, encodeRollupColumns } from '../../schemas/encodeRollup.js';
import { rollupBatchType } from '../../schemas/index.js';
import {
  rollupBlock,
  rollupColumns,
  rollupColumnsBlock,
  toRollup,
  type RollupRow,
} from '../../sinks/rollupSink.js';

/** A window's aggregate over `values` (one a second from `start`), as the first tier makes it. */
function aggregateOf(values: number[], counter: boolean, start: number): Aggregate {
  let acc = sampleAggregator.create();
  values.forEach((value, i) => {
    acc = sampleAggregator.add(
      acc,
      { value, kind: counter ? 'counter' : 'gauge' } as never,
      start + i * 1000,
    );
  });
  return finalize(acc);
}

const seriesA: SeriesMeta = {
  name: 'cpu_percent',
  labels: [
    ['host', 'a'],
    ['zone', 'Zürich'],
  ],
  kind: 'gauge',
};
const seriesB: SeriesMeta = { name: 'requests_total', labels: [], kind: 'counter' };

/** Results of two tiers' kinds: empty-ish, negative, zero signs, counters with resets, large values. */
function rows(): RollupRow[] {
  const out: RollupRow[] = [];
  const cases: Array<[number[], boolean]> = [
    [[1], false],
    [[0, -0, -3.5, 1e300, 2.25], false],
    [[-0], false],
    [[5, 7, 2, 9], true],
    [[1e-300, 4e5, 4e5 + 1], false],
  ];
  cases.forEach(([values, counter], k) => {
    const start = Date.UTC(2026, 0, 1) + k * 60_000;
    out.push({
      tier: '1m',
      seriesKey: String(12577600325076761974n + BigInt(k)),
      series: counter ? seriesB : seriesA,
      start,
      end: start + 60_000,
      aggregate: aggregateOf(values, counter, start),
      revision: 1 + (k % 3),
    });
  });
  return out;
}

describe('window results as columns', () => {
  it('encode to the bytes the rows give: the tier topic batch (any subset, in any order) and the Native block', async () => {
    const results = rows();
    const columns = rollupColumns('1m', results);
    const rollups = results.map(toRollup);
    for (const subset of [[0, 1, 2, 3, 4], [4, 2, 0], [3], []]) {
      const picked = subset.map((i) => rollups[i]!);
      expect(encodeRollupColumns(columns, subset, 7).equals(encodeRollupBatch(picked, 7))).toBe(true);
      expect(encodeRollupColumns(columns, subset).equals(rollupBatchType.toBuffer({ results: picked }))).toBe(
        true,
      );
    }
    expect(rollupColumnsBlock(columns).equals(rollupBlock(rollups))).toBe(true);
  });

  it('hold every result of a write of more than one chunk', async () => {
    // Results with few bins: a sketch spanning 1e-300 to 1e300 is ~280 KB of dense protobuf.
    const [small, , , counter] = rows() as [RollupRow, RollupRow, RollupRow, RollupRow];
    const many = Array.from({ length: 12_000 }, (_, i) => ({ ...(i % 2 ? small : counter), revision: i }));
    const columns = rollupColumns('1m', many);
    expect(columns.length).toBe(12_000);
    const last = [11_999];
    expect(encodeRollupColumns(columns, last).equals(encodeRollupBatch([toRollup(many[11_999]!)]))).toBe(
      true,
    );
  });
});
