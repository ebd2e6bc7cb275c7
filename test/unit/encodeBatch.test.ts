import { describe, expect, it } from 'vitest';
import { encodeSampleBatch, type PairedSample } from '../../schemas/encodeBatch.js';
import { batchType, type SampleBatch } from '../../schemas/index.js';

const asRecord = (s: PairedSample) => ({
  name: s.name,
  labels: Object.fromEntries(s.labels),
  timestamp: s.timestamp,
  value: s.value,
  kind: s.kind,
});

describe('encodeSampleBatch', () => {
  it('writes exactly the bytes avsc writes, for ASCII, non-ASCII, long strings and any number', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const texts = [
      '',
      'a',
      'host-1',
      'Zürich',
      '東京 🌡',
      'x'.repeat(63),
      'y'.repeat(64),
      'z'.repeat(5000),
      'ü'.repeat(40),
    ];
    const samples: PairedSample[] = Array.from({ length: 500 }, (_, i) => ({
      name: i % 50 === 0 ? texts[i % texts.length] || 'm' : `metric_${i % 17}`,
      labels: Array.from(
        { length: i % 5 },
        (_, j) => [`l${j}`, texts[(i + j) % texts.length] as string] as const,
      ),
      timestamp: [0, 1, 63, 64, 8191, 8192, Date.UTC(2026, 10, 25), 2 ** 50 + 3, -1, -8193][i % 10] as number,
      value: [0, -0, 1.5, -2.25, 1e300, Number.MIN_VALUE, rand() * 1e6][i % 7] as number,
      kind: i % 3 === 0 ? 'counter' : 'gauge',
    }));
    for (const batch of [[], samples.slice(0, 1), samples]) {
      const ours = encodeSampleBatch(batch);
      expect(ours.equals(batchType.toBuffer({ samples: batch.map(asRecord) }))).toBe(true);
      expect((batchType.fromBuffer(ours) as SampleBatch).samples).toEqual(batch.map(asRecord));
    }
  });

  it('returns a copy that later calls do not overwrite', () => {
    const one = encodeSampleBatch([{ name: 'a', labels: [], timestamp: 1, value: 1, kind: 'gauge' }]);
    const copy = Buffer.from(one);
    encodeSampleBatch([{ name: 'bbbb', labels: [['k', 'v']], timestamp: 2, value: 2, kind: 'counter' }]);
    expect(one.equals(copy)).toBe(true);
  });
});
