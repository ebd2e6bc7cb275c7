import type { Consumer } from 'kafkajs';
import { Observable } from 'rxjs';
import type { PartitionBatch } from '../core/records.js';

/**
 * Counts records fetched but not yet committed, and holds the fetch loop while there are too
 * many: the backpressure between the Kafka source and the sinks.
 */
export class InFlight {
  private count = 0;
  private waiters: Array<() => void> = [];

  get records(): number {
    return this.count;
  }

  add(n: number): void {
    this.count += n;
  }

  release(n: number): void {
    this.count = Math.max(0, this.count - n);
    const ready = this.waiters;
    this.waiters = [];
    for (const wake of ready) wake();
  }

  /** Resolves once at most `limit` records are in flight, calling `heartbeat` while it waits. */
  async below(limit: number, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<void> {
    while (this.count > limit && isRunning()) {
      await Promise.race([new Promise<void>((wake) => this.waiters.push(wake)), delay(1000)]);
      await heartbeat();
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export interface KafkaSourceOptions {
  consumer: Consumer;
  topics: string[];
  inFlight: InFlight;
  maxInFlightRecords: number;
  /** The current consumer group generation (counted by the topology on every rebalance). */
  generation: () => number;
}

/**
 * The source stage: the subscribed topics as an Observable of per-partition record batches.
 * Offsets are never committed here (autoCommit off): the sink stage commits them once every
 * effect of the records is durable. The fetch loop pauses while too many records are in flight.
 */
export function kafkaSource(options: KafkaSourceOptions): Observable<PartitionBatch> {
  const { consumer, topics, inFlight, maxInFlightRecords, generation } = options;
  return new Observable<PartitionBatch>((subscriber) => {
    const start = async () => {
      for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          if (!isRunning() || isStale() || batch.messages.length === 0) return;
          const records = batch.messages.map((m) => ({
            offset: Number(m.offset),
            key: m.key,
            value: m.value,
            headers: m.headers,
          }));
          inFlight.add(records.length);
          subscriber.next({
            topic: batch.topic,
            partition: batch.partition,
            records,
            lastOffset: Number(batch.lastOffset()),
            generation: generation(),
          });
          // Marks the fetch position only; the commit happens after the sinks.
          resolveOffset(batch.lastOffset());
          await inFlight.below(maxInFlightRecords, heartbeat, isRunning);
        },
      });
    };
    start().catch((error: unknown) => subscriber.error(error));
  });
}
