import type { Kafka, Producer } from 'kafkajs';
import { sendAll, type TopicSpec } from '../core/kafka.js';
import type { ChangelogEntry } from '../streams/stateStore.js';
import { readTopic } from '../streams/readToEnd.js';

/** Next offset to apply, by `topic:partition`. */
export type Offsets = Record<string, number>;

const CHECKPOINT = 'checkpoint';

/**
 * The notifier's changelog, `<appId>-notifier-log`: one compacted single-partition topic holding
 * the alerts, aggregation groups and notification log (keys `a:`, `g:`, `n:`), each write closed
 * by a `checkpoint` record with the alert-topic offsets the state includes. A restore applies the
 * entries up to the last checkpoint: what follows it is a write cut short, whose events are
 * read again from the alerts topic.
 */
export class StateLog {
  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
    private readonly groupPrefix: string,
  ) {}

  static spec(topic: string): TopicSpec {
    return {
      topic,
      partitions: 1,
      config: {
        'cleanup.policy': 'compact',
        // Recent records are never compacted away, so a restore sees whole writes.
        'min.compaction.lag.ms': String(3_600_000),
        'max.message.bytes': String(64 * 1024 * 1024),
      },
    };
  }

  async restore(): Promise<{ entries: ChangelogEntry[]; offsets: Offsets }> {
    const records = await readTopic(this.kafka, this.topic, this.groupPrefix);
    const last = records.findLastIndex((r) => r.key === CHECKPOINT && r.value !== null);
    const checkpoint = records[last];
    const offsets = checkpoint?.value
      ? (JSON.parse(checkpoint.value.toString()) as { offsets: Offsets }).offsets
      : {};
    const entries = records
      .slice(0, last + 1)
      .filter((r) => r.key !== CHECKPOINT)
      .map((r) => ({ key: r.key, value: r.value }));
    return { entries, offsets };
  }

  /** Writes the entries, then the checkpoint; resolves once all in-sync replicas have them. */
  async write(producer: Producer, entries: ChangelogEntry[], offsets: Offsets): Promise<void> {
    await sendAll(producer, this.topic, [
      ...entries.map((e) => ({ key: e.key, value: e.value, partition: 0 })),
      { key: CHECKPOINT, value: Buffer.from(JSON.stringify({ offsets })), partition: 0 },
    ]);
  }
}

/**
 * Serializes state writes: `now()` writes what changed, with the offsets it includes, after the
 * writes before it (collected when its turn comes, so state and offsets match); `soon()` asks
 * for a write shortly, coalescing bursts of changes. A failed write lost the changes it carried:
 * `onFailure` must stop the notifier (a restart restores the log and reads the events again).
 */
export function createPersister(
  collect: () => { entries: ChangelogEntry[]; offsets: Offsets },
  write: (entries: ChangelogEntry[], offsets: Offsets) => Promise<void>,
  onFailure: (error: unknown) => void,
  /** The offsets of the restored checkpoint: nothing is written until something changes. */
  restored: Offsets,
): { now(): Promise<void>; soon(): void } {
  let chain: Promise<void> = Promise.resolve();
  let scheduled = false;
  let written = JSON.stringify(restored);
  const now = (): Promise<void> => {
    const step = chain.then(async () => {
      const { entries, offsets } = collect();
      const key = JSON.stringify(offsets);
      if (entries.length === 0 && key === written) return;
      await write(entries, offsets);
      written = key;
    });
    step.catch(onFailure);
    chain = step.catch(() => undefined);
    return step;
  };
  return {
    now,
    soon() {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        now().catch(() => undefined);
      });
    },
  };
}
