import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from '../core/log.js';
import { withRetry } from '../core/retry.js';
import { messageOf } from '../core/errors.js';
import { sendAll, type TopicSpec } from '../core/kafka.js';
import type { Silence } from './silences.js';
import { ConsumerRuntime } from '../streams/consumerRuntime.js';
import { readTopic } from '../streams/readToEnd.js';

/** A silence record read from the topic: the silence, or the id of one deleted (tombstone). */
export type SilenceRecord = { silence: Silence } | { deleted: string };

/**
 * Silences made with `notifier silence add|expire`, in the compacted topic `<appId>-silences`
 * (key: silence id, value: the silence as JSON). The CLI writes, running notifiers follow it: no
 * shared disk between them.
 */
export class SilenceTopic {
  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly groupPrefix: string,
  ) {}

  static spec(topic: string): TopicSpec {
    return { topic, partitions: 1, config: { 'cleanup.policy': 'compact' } };
  }

  async put(producer: Producer, silence: Silence): Promise<void> {
    await sendAll(producer, this.topic, [{ key: silence.id, value: Buffer.from(JSON.stringify(silence)) }]);
  }

  /** The silences in the topic now, latest version of each. */
  async list(): Promise<Silence[]> {
    const byId = new Map<string, Silence>();
    for (const r of await readTopic(this.kafka, this.topic, this.groupPrefix)) {
      const record = parse(r.key, r.value);
      if ('deleted' in record) byId.delete(record.deleted);
      else byId.set(record.silence.id, record.silence);
    }
    return [...byId.values()];
  }

  /**
   * Calls `onRecord` for every record, from the beginning and then as they come; `caughtUp`
   * resolves once the records present at the call were all seen.
   */
  async follow(
    onRecord: (record: SilenceRecord) => void,
    log: Logger,
    onError: (error: unknown) => void,
  ): Promise<{ caughtUp: Promise<void>; stop(): Promise<void> }> {
    const admin = this.kafka.admin();
    await admin.connect();
    const remaining = new Map<number, number>();
    try {
      for (const p of await withRetry(() => admin.fetchTopicOffsets(this.topic)))
        if (Number(p.high) > Number(p.low)) remaining.set(p.partition, Number(p.high));
    } finally {
      await admin.disconnect();
    }
    let markCaughtUp = (): void => undefined;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    if (remaining.size === 0) markCaughtUp();
    const runtime = new ConsumerRuntime({
      kafka: this.kafka,
      name: 'silences',
      groupId: `${this.groupPrefix}-${randomUUID()}`,
      topics: [this.topic],
      consumer: { maxWaitTimeInMs: 1000 },
      log,
    });
    // A consumer that cannot go on leaves silences stale.
    runtime.done.catch(onError);
    await runtime.start(async ({ partition, messages }) => {
      for (const message of messages) {
        try {
          onRecord(parse(message.key?.toString() ?? '', message.value));
        } catch (error) {
          log.warn(
            { topic: this.topic, offset: message.offset, error: messageOf(error) },
            'silence record ignored',
          );
        }
        const end = remaining.get(partition);
        if (end !== undefined && Number(message.offset) >= end - 1) {
          remaining.delete(partition);
          if (remaining.size === 0) markCaughtUp();
        }
      }
    });
    return { caughtUp, stop: () => runtime.close() };
  }
}

function parse(key: string, value: Buffer | null): SilenceRecord {
  if (value === null) return { deleted: key };
  const silence = JSON.parse(value.toString()) as Silence;
  if (typeof silence.id !== 'string' || !Array.isArray(silence.matchers)) throw new Error('not a silence');
  return { silence };
}
