import { describe, expect, it } from 'vitest';
import { encodeRollupBatch } from '../../schemas/encodeRollup.js';
import { frame, rollupBatchSchema, rollupBatchType, rollupSchema, type Rollup } from '../../schemas/index.js';

const base: Rollup = {
  tier: '1m',
  seriesId: '12577600325076761974',
  name: 'http_requests_total',
  labels: { method: 'GET', status: '200' },
  kind: 'counter',
  windowStart: Date.UTC(2026, 0, 1),
  windowEnd: Date.UTC(2026, 0, 1) + 60_000,
  count: 6,
  sum: 1.5,
  min: -2.25,
  max: 1e300,
  avg: 0.25,
  first: 0,
  last: -0,
  p50: Number.MIN_VALUE,
  p90: NaN,
  p99: Infinity,
  increase: 42,
  rate: 0.7,
  stddev: -1.25,
  revision: 3,
  sketch: Buffer.from([1, 2, 3, 250]),
};

describe('encodeRollupBatch', () => {
  it.each([
    ['a counter with labels', base],
    [
      'a gauge without labels and an empty sketch',
      { ...base, kind: 'gauge', labels: {}, sketch: Buffer.alloc(0) },
    ],
    ['non-ASCII and long text', { ...base, name: 'Zürich_東京', labels: { host: 'x'.repeat(5000), ü: '🌡' } }],
    [
      'large numbers',
      { ...base, count: 2 ** 40, windowStart: -1, windowEnd: 2 ** 50 + 3, revision: 2 ** 30 },
    ],
    ['a large sketch', { ...base, sketch: Buffer.alloc(100_000, 7) }],
  ] as Array<[string, Rollup]>)('writes exactly the bytes avsc writes for %s', (_, rollup) => {
    const avsc = rollupBatchType.toBuffer({ results: [rollup] });
    expect(encodeRollupBatch([rollup]).equals(avsc)).toBe(true);
    // Framed for a topic: the wire header, then the same bytes.
    expect(encodeRollupBatch([rollup], 0x01020304).equals(frame(0x01020304, avsc))).toBe(true);
  });

  it('writes exactly the bytes avsc writes for a batch of results, and for an empty one', () => {
    const results: Rollup[] = [
      base,
      { ...base, kind: 'gauge', labels: {}, sketch: Buffer.alloc(0) },
      { ...base, name: 'Zürich_東京', labels: { host: 'x'.repeat(5000) }, sketch: Buffer.alloc(100_000, 7) },
    ];
    for (const batch of [results, []]) {
      expect(encodeRollupBatch(batch).equals(rollupBatchType.toBuffer({ results: batch }))).toBe(true);
      expect(encodeRollupBatch(batch, 9).equals(frame(9, rollupBatchType.toBuffer({ results: batch })))).toBe(
        true,
      );
    }
  });

  it('holds its results as schemas/rollup.avsc spells a result (the two files do not drift apart)', () => {
    const fields = (rollupBatchSchema as { fields: Array<{ type: { items: unknown } }> }).fields;
    expect(fields[0]?.type.items).toEqual(rollupSchema);
  });
});
