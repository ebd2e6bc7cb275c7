import { randomUUID } from 'node:crypto';
import type { ConsumerConfig, Kafka, KafkaMessage } from 'kafkajs';
import { messageOf, PipelineError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { ConsumerRuntime } from './consumerRuntime.js';
import type { ChangelogEntry } from './stateStore.js';

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
 * exclusive) on the consumer runtime, in a group that commits nothing, and returns once every
 * one is read; rejects if the consumer fails first. The end is found by the position of the
 * batches, which counts transaction markers (a transactional producer writes one after each
 * transaction, and no message shows it).
 */
export async function readToEnd(kafka: Kafka, options: ReadToEndOptions): Promise<void> {
  const { topics, partitions, onMessage, steady } = options;
  const remaining = new Map<string, number>();
  const admin = kafka.admin();
  await admin.connect();
  try {
    // The topics' ends asked for together: a restore of empty changelogs is just this.
    const ends = await Promise.all(topics.map((topic) => withRetry(() => admin.fetchTopicOffsets(topic))));
    topics.forEach((topic, i) => {
      for (const p of ends[i] ?? [])
        if ((partitions === undefined || partitions.has(p.partition)) && Number(p.high) > Number(p.low))
          remaining.set(`${topic}:${p.partition}`, Number(p.high));
    });
  } finally {
    await admin.disconnect();
  }
  if (remaining.size === 0) return;
  let read = (): void => undefined;
  const allRead = new Promise<void>((resolve) => (read = resolve));
  const reached = (topic: string, partition: number, next: number) => {
    const id = `${topic}:${partition}`;
    const end = remaining.get(id);
    if (end === undefined || next < end) return;
    remaining.delete(id);
    if (remaining.size > 0) return;
    steady?.read();
    read();
  };
  let joined = false;
  const runtime = new ConsumerRuntime({
    kafka,
    name: 'read-to-end',
    groupId: options.groupId,
    topics,
    consumer: {
      maxBytesPerPartition: 16 * 1024 * 1024,
      // Disconnecting waits for the last fetch, which waits this long at the end of a partition.
      maxWaitTimeInMs: 500,
      ...options.consumer,
    },
    onAssign: () => {
      if (!joined) steady?.joined();
      joined = true;
    },
    onReached: reached,
  });
  try {
    await runtime.start(async (batch) => {
      const end = remaining.get(`${batch.topic}:${batch.partition}`);
      if (end === undefined) return;
      for (const m of batch.messages) {
        if (Number(m.offset) >= end) break;
        onMessage(batch.topic, batch.partition, m);
      }
      reached(batch.topic, batch.partition, batch.lastOffset + 1);
    });
    await Promise.race([allRead, runtime.done]);
  } finally {
    await runtime.close();
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

/** A record read back from a topic. */
export interface ReadRecord {
  partition: number;
  offset: number;
  key: string;
  value: Buffer | null;
}

/**
 * Every record of `topic` up to its end as of the call, in offset order per partition (a fresh
 * group `<groupPrefix>-<uuid>`; the topic must exist). For the notifier's state log and
 * silences, and `silence list`. A failure is retriable: reading again can succeed.
 */
export async function readTopic(kafka: Kafka, topic: string, groupPrefix: string): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  try {
    await readToEnd(kafka, {
      groupId: `${groupPrefix}-${randomUUID()}`,
      topics: [topic],
      consumer: { maxBytesPerPartition: 16 << 20 },
      onMessage: (_, partition, m) =>
        records.push({ partition, offset: Number(m.offset), key: m.key?.toString() ?? '', value: m.value }),
    });
  } catch (error) {
    throw new PipelineError(`cannot read topic ${topic}: ${messageOf(error)}`, {
      cause: error,
      retriable: true,
    });
  }
  return records.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
}
