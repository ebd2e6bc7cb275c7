import type { Config } from '../core/config.js';
import { PipelineError } from '../core/errors.js';
import { sendAll, type TopicSpec, type RecordProducer } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { SeriesMeta } from '../core/series.js';
import { CHECKPOINT_KEY, StreamTask } from '../streams/task.js';
import {
  ChangelogStore,
  WindowChangelogStore,
  type ChangelogEntry,
  type StoreCodec,
  type WindowsCodec,
} from '../streams/stateStore.js';

/** Where a task's window state stands: the last input offset applied and the stream time it reached. */
export interface Checkpoint {
  offset: number;
  maxTimestamp: number;
  /** The topic the offset is of: the input, or the repartition topic (absent before there was one: the input). */
  topic?: string;
  /** Behind a repartition topic: per upstream (input) partition, what the task has applied of it. */
  upstream?: Record<number, UpstreamPosition>;
  /**
   * Behind a repartition topic: the event time every upstream partition has reached (the least of
   * theirs, never going back), as lateness counts it; `maxTimestamp` without one.
   */
  streamTime?: number;
}

/** What a task behind a repartition topic has applied of one input partition. */
export interface UpstreamPosition {
  /** The input offset of the last record whose samples the task applied: a replay repeats it, or earlier ones. */
  offset: number;
  /** The largest event time among them. */
  maxTimestamp: number;
}

export interface StoreCodecs<M, H> {
  minute: WindowsCodec<M>;
  hour: WindowsCodec<H>;
}

/** The state of one input partition (Kafka Streams' task): its stores and checkpoint. */
export interface Task<M, H> {
  partition: number;
  minute: WindowChangelogStore<M>;
  hour: WindowChangelogStore<H>;
  series: ChangelogStore<SeriesMeta>;
  /** Restored checkpoint; records at or before it already changed the stores. */
  restored: Checkpoint | undefined;
  /** Current position: advanced as records are applied, written with the next changelog flush. */
  checkpoint: Checkpoint | undefined;
}

/**
 * Reads changelog partitions from their start to their end: entries in offset order by
 * `topic:partition` (Kafka's `readChangelogs`, or the test driver's topics).
 */
export type ChangelogSource = (
  topics: ReadonlyArray<string>,
  partitions: ReadonlySet<number>,
) => Promise<Map<string, ChangelogEntry[]>>;

type PartitionChanges = Array<{ partition: number; entries: ChangelogEntry[] }>;

export interface PendingChanges {
  hour: PartitionChanges;
  series: PartitionChanges;
  minute: PartitionChanges;
}

const seriesCodec: StoreCodec<SeriesMeta> = {
  encode: (v) => Buffer.from(JSON.stringify(v)),
  decode: (b) => JSON.parse(b.toString()) as SeriesMeta,
};

/**
 * The stateful tasks of this instance, one per assigned input partition, with their stores
 * backed by compacted changelog topics (`<appId>-<store>-changelog`). A partition's state moves
 * with it: on assignment the stores are restored from their changelogs before its records are
 * processed; on revocation they are dropped.
 *
 * Changelog writes per flush go hour store → series store → minute store, the checkpoint last.
 * A restore applies minute entries only up to the last checkpoint. Replaying input after the
 * checkpoint re-emits identical minute results, which the hour store absorbs (a repeated slot
 * replaces itself instead of adding).
 */
export class Tasks<M, H> {
  private readonly tasks = new Map<number, StreamTask<M, H>>();
  private readonly restoring = new Map<number, Promise<StreamTask<M, H>>>();

  constructor(
    private readonly changelogs: ChangelogSource,
    private readonly config: Config,
    private readonly codecs: StoreCodecs<M, H>,
    private readonly log: Logger,
  ) {}

  changelog(store: 'window-1m' | 'window-1h' | 'series'): string {
    return `${this.config.appId}-${store}-changelog`;
  }

  /** The changelog topics, compacted, partitioned like the topic the windows read. */
  topics(partitions = this.config.topics.partitions): TopicSpec[] {
    const config = {
      'cleanup.policy': 'compact',
      // Recent records are never compacted away, so a restore always sees whole flushes.
      'min.compaction.lag.ms': String(3_600_000),
      'max.message.bytes': String(64 * 1024 * 1024),
      'segment.bytes': String(64 * 1024 * 1024),
    };
    return (['window-1m', 'window-1h', 'series'] as const).map((s) => ({
      topic: this.changelog(s),
      partitions,
      config,
    }));
  }

  get(partition: number): StreamTask<M, H> | undefined {
    return this.tasks.get(partition);
  }

  all(): IterableIterator<StreamTask<M, H>> {
    return this.tasks.values();
  }

  /** Starts restoring the tasks of newly assigned partitions, all in one pass over the changelogs. */
  assign(partitions: ReadonlyArray<number>): void {
    const missing = partitions.filter((p) => !this.tasks.has(p) && !this.restoring.has(p));
    if (missing.length === 0) return;
    const pending = this.restore(missing);
    pending.catch(() => undefined); // reported to whoever awaits ready()
    for (const p of missing) {
      const task = pending.then(() => this.tasks.get(p) as StreamTask<M, H>);
      this.restoring.set(p, task);
      task.finally(() => this.restoring.delete(p)).catch(() => undefined);
    }
  }

  /** Waits until the task of `partition` is restored (restoring it if nobody asked yet). */
  ready(partition: number): Promise<StreamTask<M, H>> {
    const task = this.tasks.get(partition);
    if (task) return Promise.resolve(task);
    this.assign([partition]);
    return this.restoring.get(partition) as Promise<StreamTask<M, H>>;
  }

  /** Keeps only the tasks of `partitions` (after a rebalance); the others' state leaves with them. */
  retain(partitions: ReadonlyArray<number>): number[] {
    const keep = new Set(partitions);
    const dropped: number[] = [];
    for (const p of this.tasks.keys()) {
      if (!keep.has(p)) {
        this.tasks.delete(p);
        dropped.push(p);
      }
    }
    return dropped;
  }

  /**
   * Takes every task's changes since the last call (synchronously, so that nothing can change
   * the stores between the results written before and the state recorded here).
   */
  collect(): PendingChanges {
    const pending: PendingChanges = { hour: [], series: [], minute: [] };
    for (const task of this.tasks.values()) {
      const changes = task.commit();
      pending.hour.push({ partition: task.partition, entries: changes.hour });
      pending.series.push({ partition: task.partition, entries: changes.series });
      pending.minute.push({ partition: task.partition, entries: changes.minute });
    }
    return pending;
  }

  /** Writes collected changes to the changelogs, the minute store (with the checkpoint) last. */
  async write(producer: RecordProducer, pending: PendingChanges): Promise<void> {
    await this.send(producer, this.changelog('window-1h'), pending.hour);
    await this.send(producer, this.changelog('series'), pending.series);
    await this.send(producer, this.changelog('window-1m'), pending.minute);
  }

  private async send(producer: RecordProducer, topic: string, parts: PartitionChanges): Promise<void> {
    const messages = parts.flatMap(({ partition, entries }) =>
      entries.map((e) => ({ key: e.key, value: e.value, partition })),
    );
    await sendAll(producer, topic, messages);
  }

  /** Rebuilds the tasks of `partitions` from their changelogs (read from the beginning to the end). */
  private async restore(partitions: number[]): Promise<void> {
    const started = Date.now();
    const topics = [this.changelog('window-1m'), this.changelog('window-1h'), this.changelog('series')];
    let records: Map<string, ChangelogEntry[]>;
    try {
      records = await this.changelogs(topics, new Set(partitions));
    } catch (error) {
      throw new PipelineError(
        `cannot restore state of partitions ${partitions.join(', ')}: ${(error as Error).message}`,
        { cause: error, retriable: true },
      );
    }
    for (const partition of partitions) {
      // A flush may span several requests: entries after the last checkpoint belong to a flush
      // that did not finish, and the records behind them will be replayed.
      const minute = records.get(`${topics[0]}:${partition}`) ?? [];
      const last = minute.findLastIndex((e) => e.key === CHECKPOINT_KEY && e.value !== null);
      const checkpoint = minute[last]?.value;
      const task = new StreamTask<M, H>(
        partition,
        new WindowChangelogStore('window-1m', this.codecs.minute),
        new WindowChangelogStore('window-1h', this.codecs.hour),
        new ChangelogStore('series', seriesCodec),
        checkpoint ? (JSON.parse(checkpoint.toString()) as Checkpoint) : undefined,
      );
      task.minute.restore(minute.slice(0, last + 1).filter((e) => e.key !== CHECKPOINT_KEY));
      task.hour.restore(records.get(`${topics[1]}:${partition}`) ?? []);
      task.series.restore(records.get(`${topics[2]}:${partition}`) ?? []);
      this.tasks.set(partition, task);
      this.log.info(
        {
          partition,
          windows1m: task.minute.size,
          windows1h: task.hour.size,
          series: task.series.size,
          checkpoint: task.restored,
          ms: Date.now() - started,
        },
        'state restored',
      );
    }
  }
}
