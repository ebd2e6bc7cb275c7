import type { SampleRun } from '../core/records.js';
import type { StreamEvent } from '../core/stream.js';
import type { Clock } from './clock.js';

/**
 * Kafka Streams' PunctuationType: `streamTime` runs as event time advances (here the combined
 * watermark: what closes windows), `wallClock` on the injected clock whether records come or not
 * (what lets idleness move the watermark).
 */
export type PunctuationType = 'streamTime' | 'wallClock';

/**
 * What a partition's task, and the operators running its records, reach beyond their own state
 * (Kafka Streams' ProcessorContext): the clock, the watermark shared by the tasks of this
 * instance, the first window tier to forward records to, and the tasks of the current turn with
 * their stores. The stage that owns these hands the same context to every task, so a task never
 * looks another up.
 *
 * A turn is one call of the runtime by its thread (records to process, or a punctuation): the
 * tasks it reaches are those the thread owned when the turn began, so a rebalance or a restore
 * finishing meanwhile never changes what an operator writes to, and between turns nothing is
 * reachable at all.
 */
export interface ProcessorContext<T extends { readonly partition: number } = { readonly partition: number }> {
  readonly clock: Clock;
  /** The input's partition count when the tasks read a repartition topic; undefined when they read the input. */
  readonly upstreamPartitions: number | undefined;
  /** The topic a checkpoint without one was written for (the input). */
  readonly inputTopic: string;
  /** The combined watermark as of now. */
  watermark(): number;
  /** Tells the watermark that `channel` has reached `maxTimestamp` and is active now (-Infinity: active only). */
  observeChannel(channel: number, maxTimestamp: number): void;
  /**
   * Hands a run of samples (of one watermark channel; records and series as they come) to the
   * first window tier, then punctuates stream time if the run moved the watermark (as Kafka
   * Streams' thread does after each record it processes).
   */
  forward(event: Extract<StreamEvent<SampleRun>, { kind: 'data' }>): void;
  /** The task of `partition` in the current turn; undefined outside a turn, or when the turn has none (revoked, not restored yet). */
  task(partition: number): T | undefined;
  /** The tasks of the current turn (none outside a turn). */
  tasks(): Iterable<T>;
}

/** The watermark channel of a repartition topic's partition for the records of one input partition. */
export function channelOf(partition: number, upstream: number): number {
  // Room for a million input partitions per partition, far more than Kafka topics have.
  return partition * 2 ** 20 + upstream;
}
