import { describe, expect, it } from 'vitest';
import { kafkajsPartition } from './kafkajsPartition.js';
import { murmur2, partitionForKey, partitionForSeries } from '../../core/partitioner.js';
import { seriesSpecs } from '../../producer/synthetic.js';

describe('murmur2', () => {
  it("equals the Java client's Utils.murmur2 on its test vectors", () => {
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });
});

describe('partitionForSeries', () => {
  it('picks the partition that a producer keyed by series id gets from kafkajs', () => {
    const specs = seriesSpecs(2000, 1);
    for (const partitions of [1, 3, 4, 7, 32]) {
      for (const spec of specs) {
        expect(partitionForSeries(BigInt(spec.key), partitions)).toBe(kafkajsPartition(spec.key, partitions));
      }
    }
  });

  it('hashes the UTF-8 bytes of any key, every length modulo 4', () => {
    for (const key of ['', 'a', 'ab', 'abc', 'abcd', 'é', '18446744073709551615', 'série-ü-∑'])
      expect(partitionForKey(key, 5), key).toBe(kafkajsPartition(key, 5));
  });

  it('spreads series over every partition', () => {
    const counts = new Array<number>(4).fill(0);
    for (const spec of seriesSpecs(1000, 2)) counts[partitionForSeries(BigInt(spec.key), 4)]! += 1;
    for (const n of counts) expect(n).toBeGreaterThan(200);
  });
});
