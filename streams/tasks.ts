import type { Config } from '../core/config.js';
import { PipelineError } from '../core/errors.js';
import { sendAll, type TopicSpec, type RecordProducer } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { SeriesMeta } from '../core/series.js';
import { CHECKPOINT_KEY, StreamTask } from './task.js';
import {
  ChangelogStore,
  WindowChangelogStore,
  type ChangelogEntry,
  type StoreCodec,
  type WindowsCodec,
} from './stateStore.js';
import { tierStore, type TierConfig } from '../core/tiers.js';

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

/** What a task needs of the first tier's store: its changes for the changelog, its restore, its size. */
export interface LoggedStore {
  readonly name: string;
  /** Entries held (windows). */
  readonly size: number;
  /** Approximate bytes of the store as last written to its changelog. */
  readonly approximateBytes: number;
  changes(): ChangelogEntry[];
  restore(entries: Iterable<ChangelogEntry>): void;
}

export interface StoreCodecs<M extends LoggedStore, H> {
  /** Makes the store of the first tier's windows (over the samples), named `name`. */
  samples: (name: string) => M;
  /** The windows of a tier that folds the results of another. */
  rollup: WindowsCodec<H>;
}

/** The state of one input partition (Kafka Streams' task): its stores and checkpoint. */
export interface Task<M extends LoggedStore, H> {
  partition: number;
  /** The window store of the first tier (over the samples); its changelog carries the checkpoint. */
  samples: M;
  /** The window stores of the other tiers, by store name, in the configured order. */
  rollups: Map<string, WindowChangelogStore<H>>;
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

/** A restore of one partition's task: its outcome, and the task once it has ended. */
interface Restore<M extends LoggedStore, H> {
  result: Promise<StreamTask<M, H>>;
  task: StreamTask<M, H> | undefined;
}

export interface PendingChanges {
  /** Per tier that folds another, by store name. */
  rollups: Map<string, PartitionChanges>;
  series: PartitionChanges;
  samples: PartitionChanges;
}

/** The changes of the partitions `keep` accepts. */
export function changesOf(pending: PendingChanges, keep: (partition: number) => boolean): PendingChanges {
  const only = (parts: PartitionChanges) => parts.filter((part) => keep(part.partition));
  return {
    rollups: new Map([...pending.rollups].map(([store, parts]) => [store, only(parts)])),
    series: only(pending.series),
    samples: only(pending.samples),
  };
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
 * Changelog writes per flush go rollup tier stores (1h, …) → series store → the first tier's
 * store (1m), the checkpoint last. A restore applies the first tier's entries only up to the last
 * checkpoint. Replaying input after the checkpoint re-emits identical results of the first tier,
 * which the stores above absorb (a repeated slot replaces itself instead of adding).
 */
export class Tasks<M extends LoggedStore, H> {
  private readonly tasks = new Map<number, StreamTask<M, H>>();
  /** Restores started and not installed yet, by partition (a later one replaces a dropped one). */
  private readonly restoring = new Map<number, Restore<M, H>>();
  /** Partitions whose restore is installed as soon as it ends: their assignment was taken. */
  private readonly taken = new Set<number>();

  constructor(
    private readonly changelogs: ChangelogSource,
    private readonly config: Config,
    private readonly codecs: StoreCodecs<M, H>,
    private readonly log: Logger,
  ) {}

  changelog(store: string): string {
    return `${this.config.appId}-${store}-changelog`;
  }

  /** The store names: the first tier's window store, those of the other tiers, the series store. */
  private stores(): { samples: string; rollups: string[] } {
    const [first, ...rest] = this.config.tiers;
    return { samples: tierStore((first as TierConfig).name), rollups: rest.map((t) => tierStore(t.name)) };
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
    const { samples, rollups } = this.stores();
    return [samples, ...rollups, 'series'].map((s) => ({
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

  /**
   * At a rebalance: starts restoring the tasks of `partitions` that have none, all in one pass
   * over the changelogs, while the first records are fetched. A restored task is installed only
   * once the assignment is taken (`assign`): until then nothing sees it. Restores not taken yet
   * of partitions no longer assigned are dropped.
   */
  prefetch(partitions: ReadonlyArray<number>): void {
    const keep = new Set(partitions);
    for (const p of [...this.restoring.keys()])
      if (!keep.has(p) && !this.taken.has(p)) this.restoring.delete(p);
    this.start(partitions);
  }

  /**
   * Takes the tasks of `partitions` (the assignment, at the thread's turn): a task restored
   * already is installed now, one still restoring when its restore ends, and the partitions with
   * neither start restoring.
   */
  assign(partitions: ReadonlyArray<number>): void {
    this.start(partitions);
    for (const p of partitions) {
      const restore = this.restoring.get(p);
      if (restore === undefined) continue;
      if (restore.task !== undefined) this.install(p, restore);
      else if (!this.taken.has(p)) {
        this.taken.add(p);
        restore.result.then(
          () => {
            if (this.restoring.get(p) === restore) this.install(p, restore);
          },
          () => undefined,
        );
      }
    }
  }

  /** Waits until the task of `partition` is restored and taken (taking it if nobody did). */
  ready(partition: number): Promise<StreamTask<M, H>> {
    this.assign([partition]);
    const task = this.tasks.get(partition);
    if (task) return Promise.resolve(task);
    const restore = this.restoring.get(partition) as Restore<M, H>;
    // After the install `assign` queued on the same restore.
    return restore.result.then(() => {
      const installed = this.tasks.get(partition);
      if (installed === undefined)
        throw new PipelineError(`partition ${partition} was given up while its state was restored`, {
          retriable: true,
        });
      return installed;
    });
  }

  /**
   * Keeps only the tasks of `partitions` (after a rebalance); the others' state leaves with them,
   * and their restores still running are dropped.
   */
  retain(partitions: ReadonlyArray<number>): number[] {
    const keep = new Set(partitions);
    for (const p of [...this.restoring.keys()])
      if (!keep.has(p)) {
        this.restoring.delete(p);
        this.taken.delete(p);
      }
    const dropped: number[] = [];
    for (const p of this.tasks.keys()) {
      if (!keep.has(p)) {
        this.tasks.delete(p);
        dropped.push(p);
      }
    }
    return dropped;
  }

  /** Starts restoring the partitions that have neither a task nor a restore. */
  private start(partitions: ReadonlyArray<number>): void {
    const missing = partitions.filter((p) => !this.tasks.has(p) && !this.restoring.has(p));
    if (missing.length === 0) return;
    const restored = this.restore(missing);
    for (const p of missing) {
      const restore: Restore<M, H> = {
        result: restored.then((tasks) => (restore.task = tasks.get(p) as StreamTask<M, H>)),
        task: undefined,
      };
      // A failed restore is forgotten: the next `assign` or `ready` starts another.
      restore.result.catch(() => {
        if (this.restoring.get(p) !== restore) return;
        this.restoring.delete(p);
        this.taken.delete(p);
      });
      this.restoring.set(p, restore);
    }
  }

  private install(partition: number, restore: Restore<M, H>): void {
    this.tasks.set(partition, restore.task as StreamTask<M, H>);
    this.restoring.delete(partition);
    this.taken.delete(partition);
  }

  /**
   * Takes every task's changes since the last call (synchronously, so that nothing can change
   * the stores between the results written before and the state recorded here).
   */
  collect(): PendingChanges {
    const pending: PendingChanges = { rollups: new Map(), series: [], samples: [] };
    for (const task of this.tasks.values()) {
      const changes = task.commit();
      for (const [store, entries] of changes.rollups) {
        let parts = pending.rollups.get(store);
        if (!parts) pending.rollups.set(store, (parts = []));
        parts.push({ partition: task.partition, entries });
      }
      pending.series.push({ partition: task.partition, entries: changes.series });
      pending.samples.push({ partition: task.partition, entries: changes.samples });
    }
    return pending;
  }

  /** Writes collected changes to the changelogs, the first tier's store (with the checkpoint) last. */
  async write(producer: RecordProducer, pending: PendingChanges): Promise<void> {
    for (const [store, parts] of [...pending.rollups].reverse())
      await this.send(producer, this.changelog(store), parts);
    await this.send(producer, this.changelog('series'), pending.series);
    await this.send(producer, this.changelog(this.stores().samples), pending.samples);
  }

  private async send(producer: RecordProducer, topic: string, parts: PartitionChanges): Promise<void> {
    const messages = parts.flatMap(({ partition, entries }) =>
      entries.map((e) => ({ key: e.key, value: e.value, partition })),
    );
    await sendAll(producer, topic, messages);
  }

  /** Rebuilds the tasks of `partitions` from their changelogs (read from the beginning to the end). */
  private async restore(partitions: number[]): Promise<Map<number, StreamTask<M, H>>> {
    const restored = new Map<number, StreamTask<M, H>>();
    const started = Date.now();
    const stores = this.stores();
    const topics = [stores.samples, ...stores.rollups, 'series'].map((s) => this.changelog(s));
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
      const entries = (store: string) => records.get(`${this.changelog(store)}:${partition}`) ?? [];
      const first = entries(stores.samples);
      const last = first.findLastIndex((e) => e.key === CHECKPOINT_KEY && e.value !== null);
      const checkpoint = first[last]?.value;
      const task = new StreamTask<M, H>(
        partition,
        this.codecs.samples(stores.samples),
        new Map(stores.rollups.map((s) => [s, new WindowChangelogStore(s, this.codecs.rollup)])),
        new ChangelogStore('series', seriesCodec),
        checkpoint ? (JSON.parse(checkpoint.toString()) as Checkpoint) : undefined,
      );
      task.samples.restore(first.slice(0, last + 1).filter((e) => e.key !== CHECKPOINT_KEY));
      for (const [store, windows] of task.rollups) windows.restore(entries(store));
      task.series.restore(entries('series'));
      restored.set(partition, task);
      const windows: Record<string, number> = { [stores.samples]: task.samples.size };
      for (const [store, w] of task.rollups) windows[store] = w.size;
      this.log.info(
        {
          partition,
          windows,
          series: task.series.size,
          checkpoint: task.restored,
          ms: Date.now() - started,
        },
        'state restored',
      );
    }
    return restored;
  }
}
