import {
  AssignerProtocol,
  type ConsumerConfig,
  type Kafka,
  type PartitionAssigner,
  type Producer,
} from 'kafkajs';
import { PipelineError, RejectError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { withRetry } from '../core/retry.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { ConsumerRuntime } from '../streams/consumerRuntime.js';
import type { AlertCodec } from './alertCodec.js';
import type { Dispatcher } from './dispatcher.js';
import type { NotifierMetrics } from './metrics.js';
import type { Offsets } from './stateLog.js';

export interface AlertSourceOptions {
  kafka: Kafka;
  /** Settings of the group's consumer (its partition assigner among them). */
  consumer: Omit<ConsumerConfig, 'groupId'>;
  producer: Producer;
  topic: string;
  groupId: string;
  dlqTopic: string;
  /** Next offset to apply per `topic:partition`, advanced as events are applied (the restored state includes what is before). */
  applied: Offsets;
  codec: AlertCodec;
  dispatcher: Dispatcher;
  /** Makes the state (and `applied`) durable. */
  persist: () => Promise<void>;
  metrics: NotifierMetrics;
  log: Logger;
  /** Reports a failure the notifier cannot go on after. */
  fail: (error: unknown) => void;
}

/**
 * The source stage of the notifier: consumes the alerts topic (autoCommit off); every record
 * not yet in the restored state is decoded and applied to the dispatcher, or dead-lettered; then
 * the state is persisted, then the offsets committed. `caughtUp` resolves once every partition
 * reached its end as of the start. The notifier must hold every partition (alert groups span
 * them): a partial assignment is a failure.
 */
export async function consumeAlerts(o: AlertSourceOptions): Promise<{
  caughtUp: Promise<void>;
  isCaughtUp(): boolean;
  /** Why the consumer is not consuming, or undefined while it is. */
  problem(): string | undefined;
  stop(): Promise<void>;
}> {
  const { topic, applied } = o;
  const admin = o.kafka.admin();
  await admin.connect();
  /** End offset (as of now) of each partition with records still to read. */
  const behind = new Map<number, number>();
  let partitions: number;
  try {
    const ends = await withRetry(() => admin.fetchTopicOffsets(topic));
    partitions = ends.length;
    const [committed] = await withRetry(() => admin.fetchOffsets({ groupId: o.groupId, topics: [topic] }));
    for (const { partition, high, low } of ends) {
      const done = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      const position = Math.max(Number(done), applied[`${topic}:${partition}`] ?? 0, Number(low));
      if (Number(high) > position) behind.set(partition, Number(high));
    }
  } finally {
    await admin.disconnect();
  }
  let isCaughtUp = false;
  let markCaughtUp = (): void => undefined;
  let markOwner = (): void => undefined;
  // Caught up = holding every partition and past the end offsets of the start.
  const caughtUp = Promise.all([
    new Promise<void>((resolve) => (markCaughtUp = resolve)),
    new Promise<void>((resolve) => (markOwner = resolve)),
  ]).then(() => {
    isCaughtUp = true;
  });
  if (behind.size === 0) markCaughtUp();

  const reached = (partition: number, next: number) => {
    const end = behind.get(partition);
    if (end !== undefined && next >= end) {
      behind.delete(partition);
      if (behind.size === 0) markCaughtUp();
    }
  };
  const runtime = new ConsumerRuntime({
    kafka: o.kafka,
    name: 'notifier',
    groupId: o.groupId,
    topics: [topic],
    consumer: o.consumer,
    onAssign: (assignment) => {
      const assigned = assignment[topic] ?? [];
      if (assigned.length >= partitions) markOwner();
      else {
        o.fail(
          new PipelineError(
            `the notifier was given ${assigned.length} of the ${partitions} partitions of ${topic}: another notifier of group ${o.groupId} holds them`,
            { hint: 'run one notifier per appId: alert groups span partitions' },
          ),
        );
      }
    },
    // A fetch of transaction markers only never reaches the handler: its position still counts.
    onReached: (_, partition, next) => reached(partition, next),
    log: o.log,
  });
  runtime.done.catch(o.fail);

  await runtime.start(async (batch, { isCurrent }) => {
    const tp = `${batch.topic}:${batch.partition}`;
    for (const m of batch.messages) {
      if (!isCurrent()) break;
      const offset = Number(m.offset);
      if (offset < (applied[tp] ?? 0)) continue;
      try {
        const event = await o.codec.decode(m.value);
        o.metrics.events.inc({ state: event.state });
        // Events apply as they came, one after the other: a group due at once (group_wait 0)
        // is flushed before the next event of the batch changes it.
        if (o.dispatcher.apply(event)) await new Promise((resolve) => setTimeout(resolve, 0));
      } catch (error) {
        // The registry being unreachable fails the batch (kafkajs retries it); a bad record is set aside.
        if (!(error instanceof RejectError)) throw error;
        o.metrics.rejected.inc();
        o.log.warn(
          { topic, partition: batch.partition, offset, reason: error.message },
          'alert record dead-lettered',
        );
        await sendToDeadLetter(o.producer, o.dlqTopic, [
          {
            topic,
            partition: batch.partition,
            offset,
            key: m.key,
            value: m.value,
            headers: m.headers,
            stage: 'decode',
            reason: error.message,
          },
        ]);
      }
      applied[tp] = offset + 1;
    }
    // Past the batch's transaction markers too (events come from the alert stage's transactions).
    if (isCurrent()) applied[tp] = Math.max(applied[tp] ?? 0, batch.lastOffset + 1);
    const next = applied[tp];
    if (next === undefined) return;
    await o.persist();
    await runtime.commit([{ topic, partition: batch.partition, offset: String(next) }], batch.generation);
    reached(batch.partition, next);
  });
  return {
    caughtUp,
    isCaughtUp: () => isCaughtUp,
    problem: () => runtime.problem(),
    stop: () => runtime.close(),
  };
}

/**
 * The partition assigner of notifier groups: every partition to the member that started first
 * (its start time travels in the member metadata), none to the others. A second notifier in the
 * group so gets nothing and stops (see `consumeAlerts`), while the first keeps every partition.
 */
export function oldestTakesAll(startedAt: number): PartitionAssigner {
  const name = 'NotifierOldestTakesAll';
  return ({ cluster }) => ({
    name,
    version: 1,
    async assign({ members, topics }) {
      const since = (metadata: Buffer) =>
        Number(
          AssignerProtocol.MemberMetadata.decode(metadata)?.userData.toString() || Number.MAX_SAFE_INTEGER,
        );
      const [owner] = [...members].sort(
        (a, b) => since(a.memberMetadata) - since(b.memberMetadata) || a.memberId.localeCompare(b.memberId),
      );
      const all = Object.fromEntries(
        topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((p) => p.partitionId)]),
      );
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: m.memberId === owner?.memberId ? all : {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol: ({ topics }) => ({
      name,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: 1,
        topics,
        userData: Buffer.from(String(startedAt)),
      }),
    }),
  });
}
