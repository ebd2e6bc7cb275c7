import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { PipelineError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';

/** A record read back from a topic. */
export interface ReadRecord {
  partition: number;
  offset: number;
  key: string;
  value: Buffer | null;
}

/**
 * Every record of `topic` up to its end as of the call, in offset order per partition (a fresh
 * consumer group that commits nothing; the topic must exist). For changelog restores and
 * `silence list`.
 */
export async function readToEnd(kafka: Kafka, topic: string, groupPrefix: string): Promise<ReadRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const remaining = new Map<number, number>();
  try {
    for (const p of await withRetry(() => admin.fetchTopicOffsets(topic)))
      if (Number(p.high) > Number(p.low)) remaining.set(p.partition, Number(p.high));
  } finally {
    await admin.disconnect();
  }
  const records: ReadRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({
    groupId: `${groupPrefix}-${randomUUID()}`,
    maxBytesPerPartition: 16 << 20,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = remaining.get(batch.partition);
            if (end === undefined) return;
            for (const m of batch.messages) {
              if (Number(m.offset) >= end) break;
              records.push({
                partition: batch.partition,
                offset: Number(m.offset),
                key: m.key?.toString() ?? '',
                value: m.value,
              });
            }
            if (Number(batch.lastOffset()) >= end - 1) {
              remaining.delete(batch.partition);
              if (remaining.size === 0) resolve();
            }
          },
        })
        .catch(reject);
    });
  } catch (error) {
    throw new PipelineError(`cannot read topic ${topic}: ${(error as Error).message}`, {
      cause: error,
      retriable: true,
    });
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
