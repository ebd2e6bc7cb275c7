import type { Admin } from 'kafkajs';
import { messageOf } from '../core/errors.js';
import { committedToEnd } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { Durable } from '../core/records.js';
import type { ConsumerRuntime } from './consumerRuntime.js';

/** How often consumed records of the repartition topic are deleted (Kafka Streams' repartition.purge.interval.ms). */
const PURGE_INTERVAL_MS = 30_000;

export interface GroupOffsetsOptions {
  runtime: ConsumerRuntime;
  admin: Admin;
  groupId: string;
  /** The topics consumed, in topology order (the input first). */
  topics: string[];
  /** The repartition topic, whose records are deleted once committed. */
  repartition?: string;
  /** Counted on every commit and every failed one. */
  metrics: { commits: { inc(): void }; commitFailures: { inc(): void } };
  log: Logger;
}

/**
 * Where this instance stands in its consumer group: the partitions it owns now, per topic, the
 * offsets it committed, and the commits themselves. Consumed records of the repartition topic
 * are deleted once committed (at most every 30 s), as Kafka Streams purges its repartition topics.
 */
export class GroupOffsets {
  /** Offsets committed by this process, per topic and partition. */
  private readonly committed = new Map<string, Map<number, number>>();
  /** Partitions of each topic assigned to this instance now: only their records change state or get committed. */
  private readonly owned = new Map<string, Set<number>>();
  private purgedAt = performance.now();

  constructor(private readonly options: GroupOffsetsOptions) {
    for (const topic of options.topics) this.committed.set(topic, new Map());
  }

  owns(topic: string, partition: number): boolean {
    return this.owned.get(topic)?.has(partition) ?? false;
  }

  /** The partitions of `topic` assigned to this instance, in order. */
  assigned(topic: string): number[] {
    return [...(this.owned.get(topic) ?? [])].sort((a, b) => a - b);
  }

  /** Takes the assignment of a rebalance. */
  assign(assignment: Record<string, number[] | undefined>): void {
    this.owned.clear();
    for (const topic of this.options.topics) this.owned.set(topic, new Set(assignment[topic] ?? []));
  }

  /**
   * Commits what `durable` says is done with, for the partitions this instance still owns (one
   * revoked meanwhile is the new owner's: it replays from the last commit), never going back.
   * A failed commit is logged and counted: the records are replayed, which the sinks make
   * idempotent. Records fetched in an earlier `generation` than the group's are not committed
   * (the runtime fences them).
   */
  async commit(durable: Durable, generation: number): Promise<void> {
    const { runtime, metrics, log } = this.options;
    // Never behind a commit of this process: the repartition topic is purged up to those.
    const offsets = [...durable.values()]
      .filter((d) => this.owns(d.topic, d.partition))
      .filter((d) => d.lastOffset + 1 > (this.committed.get(d.topic)?.get(d.partition) ?? -1))
      .map((d) => ({ topic: d.topic, partition: d.partition, offset: String(d.lastOffset + 1) }));
    if (offsets.length === 0) return;
    try {
      metrics.commits.inc();
      const committed = await runtime.commit(offsets, generation);
      for (const o of committed) this.committed.get(o.topic)?.set(o.partition, Number(o.offset));
    } catch (error) {
      metrics.commitFailures.inc();
      log.warn({ error: messageOf(error), offsets }, 'offset commit failed; records will be replayed');
    }
    if (performance.now() - this.purgedAt >= PURGE_INTERVAL_MS) await this.purge();
  }

  /** Deletes the records of the repartition topic that this instance has committed: they are done with. */
  async purge(): Promise<void> {
    const topic = this.options.repartition;
    if (topic === undefined) return;
    this.purgedAt = performance.now();
    const partitions = [...(this.committed.get(topic) ?? [])]
      .filter(([partition]) => this.owns(topic, partition))
      .map(([partition, offset]) => ({ partition, offset: String(offset) }));
    if (partitions.length === 0) return;
    try {
      await this.options.admin.deleteTopicRecords({ topic, partitions });
    } catch (error) {
      this.options.log.warn({ error: messageOf(error), topic }, 'cannot delete consumed repartition records');
    }
  }

  /**
   * True once every topic is committed up to its end. In topology order: the input is committed
   * only once its samples are in the repartition topic, so that topic's end, read after, covers
   * every one of them. `durable`: records whose effects are stored but not yet committed count
   * as done too (their commit comes with the next one).
   */
  async atEnd(durable: Durable = new Map()): Promise<boolean> {
    const { admin, groupId, topics } = this.options;
    for (const topic of topics) {
      const done = new Map(this.committed.get(topic));
      for (const d of durable.values())
        if (d.topic === topic && this.owns(topic, d.partition))
          done.set(d.partition, Math.max(d.lastOffset + 1, done.get(d.partition) ?? -1));
      if (!(await committedToEnd(admin, groupId, topic, done))) return false;
    }
    return true;
  }
}
