import type { ConsumerConfig, Kafka, KafkaMessage } from 'kafkajs';
import type { ChangelogEntry } from '../streams/stateStore.js';

export interface ReadToEndOptions {
  /** A throwaway consumer group: nothing is committed. */
  groupId: string;
  topics: ReadonlyArray<string>;
  /** Only these partitions (all of every topic when absent). */
  partitions?: ReadonlySet<number>;
  /** Fetch settings; by default 16 MiB per partition and 0.5 s of waiting at the end. */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  /** Each message before the end, per partition in offset order. */
  onMessage: (topic: string, partition: number, message: KafkaMessage) => void;
  /**
   * The bounds of the reading itself, for whoever times it: `joined` when the consumer has
   * joined its group (connect and join behind it, no fetch yet), `read` once every partition is
   * read (before the consumer disconnects, which waits for a last fetch).
   */
  steady?: { joined(): void; read(): void };
}

/**
 * Reads partitions from their start up to their end as of the call (the high watermark,
 * exclusive) with a consumer group that commits nothing, and returns once every one is read.
 * The end is found by the position of the batches, which counts transaction markers (a
 * transactional producer writes one after each transaction, and no message shows it).
 */
export async function readToEnd(kafka: Kafka, options: ReadToEndOptions): Promise<void> {
  const { topics, partitions, onMessage } = options;
  const remaining = new Map<string, number>();
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const topic of topics)
      for (const p of await admin.fetchTopicOffsets(topic))
        if ((partitions === undefined || partitions.has(p.partition)) && Number(p.high) > Number(p.low))
          remaining.set(`${topic}:${p.partition}`, Number(p.high));
  } finally {
    await admin.disconnect();
  }
  if (remaining.size === 0) return;
  const consumer = kafka.consumer({
    maxBytesPerPartition: 16 * 1024 * 1024,
    // Disconnecting waits for the last fetch, which waits this long at the end of a partition.
    maxWaitTimeInMs: 500,
    ...options.consumer,
    groupId: options.groupId,
  });
  await consumer.connect();
  const { steady } = options;
  try {
    await new Promise<void>((resolve, reject) => {
      if (steady) consumer.on(consumer.events.GROUP_JOIN, () => steady.joined());
      const reached = (topic: string, partition: number, lastOffset: string | number) => {
        const id = `${topic}:${partition}`;
        const end = remaining.get(id);
        if (end === undefined || Number(lastOffset) < end - 1) return;
        remaining.delete(id);
        if (remaining.size > 0) return;
        steady?.read();
        resolve();
      };
      // A batch of transaction markers only is never handed to eachBatch; this event still sees it.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        reached(payload.topic, payload.partition, payload.lastOffset),
      );
      (async () => {
        for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = remaining.get(`${batch.topic}:${batch.partition}`);
            if (end === undefined) return;
            for (const m of batch.messages) {
              if (Number(m.offset) >= end) break;
              onMessage(batch.topic, batch.partition, m);
            }
            reached(batch.topic, batch.partition, batch.lastOffset());
          },
        });
      })().catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Reads changelog partitions to their end (`readToEnd`). Returns the entries of each partition
 * in offset order, by `topic:partition`; a partition with nothing to read is absent.
 */
export async function readChangelogs(
  kafka: Kafka,
  groupId: string,
  topics: ReadonlyArray<string>,
  /** Only these partitions (all of every topic when absent). */
  partitions?: ReadonlySet<number>,
): Promise<Map<string, ChangelogEntry[]>> {
  const records = new Map<string, ChangelogEntry[]>();
  await readToEnd(kafka, {
    groupId,
    topics,
    partitions,
    onMessage: (topic, partition, m) => {
      const id = `${topic}:${partition}`;
      let list = records.get(id);
      if (!list) records.set(id, (list = []));
      list.push({ key: m.key?.toString() ?? '', value: m.value });
    },
  });
  return records;
}
