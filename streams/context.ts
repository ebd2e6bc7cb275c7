import type { SampleRun } from '../core/records.js';
import type { StreamEvent } from '../core/stream.js';
import type { Clock } from './clock.js';

/**
 * What a partition's task reaches beyond its own stores (Kafka Streams' ProcessorContext): the
 * clock, the watermark shared by the tasks of this instance, and the first window tier to
 * forward its records to. The stage that owns these hands the same context to every task, so a
 * task never looks another up, and rebalances change the tasks only between two turns.
 */
export interface ProcessorContext {
  readonly clock: Clock;
  /** The input's partition count when the tasks read a repartition topic; undefined when they read the input. */
  readonly upstreamPartitions: number | undefined;
  /** The topic a checkpoint without one was written for (the input). */
  readonly inputTopic: string;
  /** The combined watermark as of now. */
  watermark(): number;
  /** Tells the watermark that `channel` has reached `maxTimestamp` and is active now (-Infinity: active only). */
  observeChannel(channel: number, maxTimestamp: number): void;
  /** Hands a run of a record's samples of one series to the first window tier. */
  forward(event: StreamEvent<SampleRun>): void;
}

/** The watermark channel of a repartition topic's partition for the records of one input partition. */
export function channelOf(partition: number, upstream: number): number {
  // Room for a million input partitions per partition, far more than Kafka topics have.
  return partition * 2 ** 20 + upstream;
}
