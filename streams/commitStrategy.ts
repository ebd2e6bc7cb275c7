import type { Consumer, Producer, Transaction } from 'kafkajs';
import { isRetriable, messageOf } from '../core/errors.js';
import { withRetry } from '../core/retry.js';

/** The next offset to read of one partition, as the group's position. */
export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * How a consumer loop makes its position durable:
 * - `offsetCommits`: the records' effects are already durable and idempotent (ClickHouse blocks,
 *   produced records with acks = all), so the offsets are committed after them; a crash between
 *   the two replays records whose effects change nothing;
 * - `transactionalCommits`: the effects and the offsets go in one Kafka transaction (exactly
 *   once for consumers reading committed records), as the alert stage writes its events and
 *   changelog.
 */
export type CommitStrategy =
  | { kind: 'offsets'; commit(consumer: Consumer, offsets: PartitionOffset[]): Promise<void> }
  | { kind: 'transaction'; producer(): Producer | undefined };

/** Offset commits after idempotent effects, retried while retrying can help (not across a rebalance). */
export function offsetCommits(): CommitStrategy {
  return {
    kind: 'offsets',
    commit: (consumer, offsets) =>
      withRetry(() => consumer.commitOffsets(offsets), {
        attempts: 5,
        retryIf: (e) => isRetriable(e) && !/rebalanc|not.*member|generation/i.test(messageOf(e)),
      }),
  };
}

/** The effects and the offsets in one transaction of the producer `producer()` returns now. */
export function transactionalCommits(producer: () => Producer | undefined): CommitStrategy {
  return { kind: 'transaction', producer };
}

/** Runs `write` and sends `offsets` for `groupId` in one transaction; aborts it on any failure. */
export async function inTransaction(
  producer: Producer,
  groupId: string,
  offsets: PartitionOffset[],
  write: (transaction: Transaction) => Promise<void>,
): Promise<void> {
  const transaction = await producer.transaction();
  try {
    await write(transaction);
    const topics = new Map<string, Array<{ partition: number; offset: string }>>();
    for (const o of offsets) {
      let list = topics.get(o.topic);
      if (!list) topics.set(o.topic, (list = []));
      list.push({ partition: o.partition, offset: o.offset });
    }
    if (topics.size > 0)
      await transaction.sendOffsets({
        consumerGroupId: groupId,
        topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })),
      });
    await transaction.commit();
  } catch (error) {
    await transaction.abort().catch(() => undefined);
    throw error;
  }
}
