import { Partitioners } from 'kafkajs';

/** kafkajs' default partitioner (Java-compatible murmur2), as producers use it, for a topic of `n` partitions. */
export function kafkajsPartition(key: string, n: number): number {
  const partitionMetadata = Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
}
