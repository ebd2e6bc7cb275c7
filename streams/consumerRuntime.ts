import type { Admin, Consumer, ConsumerConfig, Kafka, KafkaMessage, Transaction } from 'kafkajs';
import { isRetriable, messageOf, PipelineError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { committedToEnd } from '../core/kafka.js';
import { inTransaction, offsetCommits, type CommitStrategy, type PartitionOffset } from './commitStrategy.js';

/** A fetched batch of one partition, stamped with the generation of the group it was fetched in. */
export interface RuntimeBatch {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
  /** The batch's last offset, transaction markers included. */
  lastOffset: number;
  generation: number;
}

/** What a batch handler may do while it holds the batch. */
export interface BatchControl {
  /** False once the runtime stops, fails, or the group rebalanced since the batch was fetched. */
  isCurrent(): boolean;
  heartbeat(): Promise<void>;
  /**
   * Marks the fetch position only (nothing is committed by it); the whole batch is marked once
   * the handler returns, so only a handler that hands records on before it returns needs it.
   */
  resolveOffset(offset: number): void;
}

export type BatchHandler = (batch: RuntimeBatch, control: BatchControl) => Promise<void>;

export interface ConsumerRuntimeOptions {
  kafka: Kafka;
  /** Names the loop in logs and errors ("topology", "loader-alerts", "notifier"). */
  name: string;
  groupId: string;
  topics: ReadonlyArray<string>;
  /** Fetch settings of the kafkajs consumer. */
  consumer?: Omit<ConsumerConfig, 'groupId'>;
  /** Where a partition without a committed offset starts; the beginning by default. */
  fromBeginning?: boolean;
  /** How the position is made durable; offset commits by default. */
  commits?: CommitStrategy;
  /** Called on every assignment, with the new generation, before any batch of it. */
  onAssign?: (assignment: Record<string, number[]>, generation: number) => void;
  /** Lag of each owned partition (end offset − committed), every `checkIntervalMs`. */
  onLag?: (topic: string, partition: number, lag: number) => void;
  /** Every position reached (next offset), transaction markers included. */
  onReached?: (topic: string, partition: number, next: number) => void;
  /** How often the topics' existence and the lag are checked; 5 s by default. */
  checkIntervalMs?: number;
  /** Silent when absent (short-lived readers such as restores). */
  log?: Logger;
}

/**
 * The one Kafka consumer loop of every stage that reads topics (the topology, the loaders, the
 * alert stage, the notifier, the query service's correction feed, restores): it counts group
 * generations and fences what a stale one fetched (its batches are not handed on, its commits
 * are dropped), follows the assignment, commits by a pluggable strategy, reports lag and
 * readiness, and ends `done` with the error when the consumer cannot go on: a crash kafkajs
 * does not restart, a handler error no retry can help, or a topic deleted under it (kafkajs
 * then idles without a word).
 */
export class ConsumerRuntime {
  readonly consumer: Consumer;
  /** Resolves after `close()`, rejects with the error that ended the loop. */
  readonly done: Promise<void>;
  /** Rebalances so far; 0 until the group is joined. */
  generation = 0;
  private assignment = new Map<string, Set<number>>();
  /** Next offset reached per topic and partition, transaction markers included. */
  readonly reached = new Map<string, Map<number, number>>();
  /** Next offsets committed by this process. */
  private readonly committed = new Map<string, Map<number, number>>();
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private failure: { error: unknown } | undefined;
  private closed = false;
  private settle!: { resolve: () => void; reject: (error: unknown) => void };
  private readonly log: Logger;

  constructor(private readonly options: ConsumerRuntimeOptions) {
    this.consumer = options.kafka.consumer({ ...options.consumer, groupId: options.groupId });
    this.log = options.log ?? createLogger('streams', 'silent');
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    // Whoever holds the runtime may learn of a failure through `ready()` only.
    this.done.catch(() => undefined);
    for (const topic of options.topics) {
      this.reached.set(topic, new Map());
      this.committed.set(topic, new Map());
    }
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.generation += 1;
      this.assignment = new Map(
        options.topics.map((t) => [t, new Set(payload.memberAssignment[t] ?? [])] as const),
      );
      options.onAssign?.(
        Object.fromEntries(options.topics.map((t) => [t, this.assigned(t)])),
        this.generation,
      );
    });
    // A fetch of transaction markers only never reaches eachBatch; this event still sees it.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const next = Number(payload.lastOffset) + 1;
      this.reached.get(payload.topic)?.set(payload.partition, next);
      options.onReached?.(payload.topic, payload.partition, next);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(payload.error);
      else
        this.log.warn(
          { consumer: options.name, error: messageOf(payload.error) },
          'consumer crashed; kafkajs restarts it',
        );
    });
  }

  /** Connects, subscribes and runs `handler` on every batch of the current generation. */
  async start(handler: BatchHandler): Promise<void> {
    const { consumer, options } = this;
    this.admin = options.kafka.admin();
    await Promise.all([consumer.connect(), this.admin.connect()]);
    try {
      for (const topic of options.topics)
        await consumer.subscribe({ topic, fromBeginning: options.fromBeginning ?? true });
      this.running = true;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const generation = this.generation;
          const isCurrent = () => isRunning() && !isStale() && this.isCurrent(generation);
          if (!isCurrent() || batch.messages.length === 0) return;
          try {
            await handler(
              {
                topic: batch.topic,
                partition: batch.partition,
                messages: batch.messages,
                lastOffset: Number(batch.lastOffset()),
                generation,
              },
              { isCurrent, heartbeat, resolveOffset: (offset) => resolveOffset(String(offset)) },
            );
            // The next fetch starts after the batch (the commit is the handler's business).
            if (isCurrent()) resolveOffset(batch.lastOffset());
          } catch (error) {
            // kafkajs retries the batch (and restarts the consumer after its retries): only
            // worth it when retrying can help. A heartbeat the handler sent that met a
            // rebalance goes back to kafkajs too, which rejoins the group.
            if (isRetriable(error) || isRebalance(error)) throw error;
            this.fail(error);
          }
        },
      });
    } catch (error) {
      await this.disconnect();
      throw error;
    }
    const every = options.checkIntervalMs ?? 5000;
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
  }

  /** True while `generation` is the group's current one and the loop runs. */
  isCurrent(generation: number): boolean {
    return generation === this.generation && this.running && !this.failure;
  }

  /** Joined, consuming, not failed. */
  ready(): boolean {
    return this.running && this.generation > 0 && !this.failure;
  }

  /** Why the loop is not ready, or undefined when it is. */
  problem(): string | undefined {
    if (this.failure) return `${this.options.name} consumer failed: ${messageOf(this.failure.error)}`;
    if (!this.running) return `${this.options.name} consumer stopped`;
    if (this.generation === 0) return `${this.options.name} consumer has not joined its group yet`;
    return undefined;
  }

  owns(topic: string, partition: number): boolean {
    return this.assignment.get(topic)?.has(partition) ?? false;
  }

  /** The partitions of `topic` assigned now, in order. */
  assigned(topic: string): number[] {
    return [...(this.assignment.get(topic) ?? [])].sort((a, b) => a - b);
  }

  /**
   * Makes `offsets` (next to read) the group's position, with `write`'s effects when the
   * strategy is transactional. Offsets fetched in another generation than the current one, or
   * of partitions no longer owned, are dropped: their new owner replays from the last commit.
   * Returns the offsets committed.
   */
  async commit(
    offsets: ReadonlyArray<PartitionOffset>,
    generation: number,
    write?: (transaction: Transaction) => Promise<void>,
  ): Promise<PartitionOffset[]> {
    const strategy = this.options.commits ?? offsetCommits();
    const fenced = this.isCurrent(generation) ? offsets.filter((o) => this.owns(o.topic, o.partition)) : [];
    if (strategy.kind === 'offsets') {
      if (write) throw new PipelineError('offset commits take no transactional writes', { retriable: false });
      if (fenced.length === 0) return [];
      await strategy.commit(this.consumer, fenced);
    } else {
      const producer = strategy.producer();
      if (!producer || !this.isCurrent(generation)) return [];
      await inTransaction(producer, this.options.groupId, fenced, write ?? (async () => undefined));
    }
    for (const o of fenced) this.committed.get(o.topic)?.set(o.partition, Number(o.offset));
    return fenced;
  }

  /** Next offset committed by this process for a partition, if any. */
  committedOffset(topic: string, partition: number): number | undefined {
    return this.committed.get(topic)?.get(partition);
  }

  /** True once every topic is committed up to its end (by the group, or reached by this loop). */
  async isIdle(): Promise<boolean> {
    if (!this.admin) return false;
    for (const topic of this.options.topics) {
      const local = new Map(this.reached.get(topic));
      for (const [p, o] of this.committed.get(topic) ?? []) local.set(p, Math.max(o, local.get(p) ?? -1));
      if (!(await committedToEnd(this.admin, this.options.groupId, topic, local))) return false;
    }
    return true;
  }

  /** Ends the loop with `error`: `done` rejects, `ready()` is false, fetching stops. */
  fail(error: unknown): void {
    if (this.failure || this.closed) return;
    this.failure = { error };
    this.log.error({ consumer: this.options.name, error: messageOf(error) }, 'consumer failed');
    this.settle.reject(error);
    void this.consumer.stop().catch(() => undefined);
  }

  /**
   * Stops fetching but stays in the group, so that what was processed can still be committed
   * (the end of the input: the last commit comes after the windows closed). `stop` or `close` follow.
   */
  pause(): void {
    if (this.running) this.consumer.pause(this.options.topics.map((topic) => ({ topic })));
  }

  /** Stops fetching; batches being handled finish first. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.stop().catch(() => undefined);
  }

  /** Stops and disconnects; `done` resolves unless the loop failed. */
  async close(): Promise<void> {
    await this.stop();
    await this.disconnect();
    this.closed = true;
    this.settle.resolve();
  }

  private async disconnect(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    await this.consumer.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }

  /**
   * A topic deleted under the consumer leaves kafkajs fetching nothing, or, where the broker
   * creates it again, reading the new one from its start, without a word: either ends the loop.
   */
  private async check(): Promise<void> {
    const admin = this.admin;
    if (!admin || !this.running || this.failure) return;
    try {
      for (const topic of this.options.topics) {
        // Only this loop's topics: the cluster's whole metadata costs a busy process dearly.
        let ends: Array<{ partition: number; high: string; low: string }>;
        try {
          ends = await admin.fetchTopicOffsets(topic);
        } catch (error) {
          if (!unknownTopic(error)) throw error;
          this.fail(
            new PipelineError(`topic ${topic} of consumer group ${this.options.groupId} no longer exists`, {
              retriable: false,
              hint: 'recreate the topic and restart; the group resumes from its committed offsets',
            }),
          );
          return;
        }
        const owned = this.assigned(topic);
        for (const p of ends) {
          if (!owned.includes(p.partition)) continue;
          const committed = this.committed.get(topic)?.get(p.partition);
          // A log that ends before what this process committed was deleted and created again
          // (brokers auto-create topics) or truncated: kafkajs resets and carries on as if nothing happened.
          if (committed !== undefined && Number(p.high) < committed) {
            this.fail(
              new PipelineError(
                `topic ${topic} partition ${p.partition} ends at ${p.high}, before offset ${committed} committed by consumer group ${this.options.groupId}: it was deleted or truncated`,
                { retriable: false, hint: 'records were lost; restart to resume from the log as it is now' },
              ),
            );
            return;
          }
          this.options.onLag?.(
            topic,
            p.partition,
            Math.max(0, Number(p.high) - (committed ?? Number(p.low))),
          );
        }
      }
    } catch (error) {
      this.log.debug({ consumer: this.options.name, error: messageOf(error) }, 'consumer check failed');
    }
  }
}

/** Whether kafkajs says the topic does not exist (after its retries, the cause says so). */
function unknownTopic(error: unknown): boolean {
  for (let e = error; typeof e === 'object' && e !== null;) {
    const { type, originalError, cause } = e as { type?: unknown; originalError?: unknown; cause?: unknown };
    if (type === 'UNKNOWN_TOPIC_OR_PARTITION') return true;
    e = originalError ?? cause;
  }
  return false;
}

/** kafkajs' errors that mean "rejoin the group" (its own `isRebalancing`, and an expired member). */
function isRebalance(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID'
  );
}
