import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../core/partition.js';

const metadata = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
    partitionErrorCode: 0,
    offlineReplicas: [],
  }));

describe('partitionOf', () => {
  it("picks the partition of kafkajs' default partitioner for every key length and partition count", () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'ünïcødé', '18446744073709551615'];
    for (let i = 0; i < 500; i++) keys.push(String(BigInt(i) * 7919n * 1000003n + BigInt(i ** 3)));
    for (const n of [1, 3, 4, 7, 64]) {
      const partitionMetadata = metadata(n);
      for (const key of keys) {
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(partitionOf(key, n), `key ${JSON.stringify(key)}, ${n} partitions`).toBe(expected);
      }
    }
  });

  it('spreads series keys over the partitions', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[partitionOf(`series-${i}`, 4)]! += 1;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});
