import { describe, expect, it } from 'vitest';
import { StagedSamples, toRecords, toSampleBatch, type EncodedBatch } from '../../collector/batch.js';
import { encodeSeries } from '../../schemas/encodeBatch.js';
import { batchType, WIRE_HEADER_BYTES, type Sample, type SampleBatch } from '../../schemas/index.js';

function stage(samples: Sample[], partitions: number, partitionOf: (s: Sample, i: number) => number) {
  const staged = new StagedSamples();
  staged.reset(partitions);
  samples.forEach((s, i) =>
    staged.add(
      encodeSeries(s.name, Object.entries(s.labels)),
      partitionOf(s, i),
      s.timestamp,
      s.value,
      s.kind === 'counter',
    ),
  );
  return staged.encode();
}

describe('encodeSeries and StagedSamples', () => {
  it('write exactly the bytes avsc writes, for ASCII, non-ASCII, long strings and any number', () => {
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
    const samples: Sample[] = Array.from({ length: 500 }, (_, i) => ({
      name: i % 50 === 0 ? texts[i % texts.length] || 'm' : `metric_${i % 17}`,
      labels: Object.fromEntries(
        Array.from({ length: i % 5 }, (_, j) => [`l${j}`, texts[(i + j) % texts.length] as string]),
      ),
      timestamp: [
        0,
        1,
        63,
        64,
        8191,
        8192,
        Date.UTC(2026, 10, 25),
        2 ** 50 + 3,
        -1,
        -8193,
        2 ** 27 - 1,
        2 ** 27,
        -(2 ** 27) - 1,
        2 ** 40,
      ][i % 14] as number,
      value: [0, -0, 1.5, -2.25, 1e300, Number.MIN_VALUE, rand() * 1e6][i % 7] as number,
      kind: i % 3 === 0 ? 'counter' : 'gauge',
    }));
    for (const batch of [[], samples.slice(0, 1), samples]) {
      const ours = toSampleBatch(stage(batch, 1, () => 0));
      expect(ours.equals(batchType.toBuffer({ samples: batch }))).toBe(true);
      expect((batchType.fromBuffer(ours) as SampleBatch).samples).toEqual(batch);
    }
  });

  it('returns series bytes that later calls do not overwrite', () => {
    const one = encodeSeries('a', []);
    const copy = Buffer.from(one);
    encodeSeries('bbbb', [['k', 'v']]);
    expect(one.equals(copy)).toBe(true);
  });

  it('groups samples by partition, in order, into records of at most 2,000 samples', () => {
    const samples = (from: number, count: number): Sample[] =>
      Array.from({ length: count }, (_, i) => ({
        name: 'm',
        labels: { n: String(from + i) },
        timestamp: from + i,
        value: from + i,
        kind: 'gauge',
      }));
    const partitionOf = (s: Sample) => s.timestamp % 3;
    const batches: EncodedBatch[] = [
      stage(samples(0, 4500), 3, partitionOf),
      stage(samples(4500, 1700), 3, partitionOf),
    ];
    expect(batches.map((b) => b.samples)).toEqual([4500, 1700]);
    const records = toRecords(batches, 42);
    const byPartition = new Map<number, Sample[]>();
    for (const record of records) {
      const value = record.value as Buffer;
      expect(value[0]).toBe(0);
      expect(value.readUInt32BE(1)).toBe(42);
      const { samples: inRecord } = batchType.fromBuffer(value.subarray(WIRE_HEADER_BYTES)) as SampleBatch;
      expect(inRecord.length).toBeLessThanOrEqual(2000);
      const partition = record.partition as number;
      byPartition.set(partition, [...(byPartition.get(partition) ?? []), ...inRecord]);
    }
    const all = samples(0, 6200);
    for (const p of [0, 1, 2]) expect(byPartition.get(p)).toEqual(all.filter((s) => partitionOf(s) === p));
    // 6,200 samples in 3 partitions: 2,067 per partition at most, so two records each.
    expect(records).toHaveLength(6);
  });
});
