import { ConfigError } from '../core/errors.js';
import type { ProcessedBatch, SampleRun } from '../core/records.js';
import type { BatchSeries } from '../core/sampleColumns.js';
import type { StreamEvent } from '../core/stream.js';
import type { ChangelogEntry, ChangelogStore, WindowChangelogStore } from './stateStore.js';
import type { SeriesMeta } from '../core/series.js';
import type { Checkpoint, LoggedStore, Task, UpstreamPosition } from './tasks.js';
import { channelOf, type ProcessorContext } from './context.js';

/** The key of the checkpoint entry in the first tier's changelog. */
export const CHECKPOINT_KEY = '__checkpoint';

/** A task's changes since its last commit, per store: written to the changelogs with the offsets. */
export interface TaskChanges {
  /** Per store of a tier that folds another. */
  rollups: Map<string, ChangelogEntry[]>;
  series: ChangelogEntry[];
  /** The first tier's store's changes, then the checkpoint: a restore applies entries up to the last checkpoint. */
  samples: ChangelogEntry[];
}

/**
 * The task of one input partition (Kafka Streams' StreamTask): its stores, its checkpoint and
 * its stream time. `process` runs a batch of the partition's records into the window tiers
 * (through the context), skipping what the state already holds; `commit` takes the stores'
 * changes and the checkpoint for the changelogs. Everything a task knows of its partition lives
 * here, so that it leaves with the task when the partition is revoked.
 *
 * Records at or before the checkpoint (restored, or advanced since) already changed the stores
 * and are skipped: a replay after a restart, or a re-delivery after a rebalance. Behind a
 * repartition topic, a partition interleaves the samples of every input partition, each stream
 * in its input order: the checkpoint keeps per input partition the last input offset applied,
 * so that samples repartitioned again by a replay upstream are skipped.
 */
/** Numbers the tasks of this process (and thread): `BatchSeries.recordedBy`. */
let tasksMade = 0;

export class StreamTask<M extends LoggedStore, H> implements Task<M, H> {
  /** Unique in this thread: which task recorded a series (`BatchSeries.recordedBy`). */
  readonly uid = ++tasksMade;
  /** Restored checkpoint; records at or before it already changed the stores. */
  restored: Checkpoint | undefined;
  /** Current position: advanced as records are applied, written with the next commit. */
  checkpoint: Checkpoint | undefined;
  /** Whether the watermark has learnt the stream time the restored state reached (before the first records). */
  private tracked = false;
  /** The event time this partition's own records have reached, once it has processed some. */
  private reached: number | undefined;

  constructor(
    readonly partition: number,
    readonly samples: M,
    readonly rollups: Map<string, WindowChangelogStore<H>>,
    readonly series: ChangelogStore<SeriesMeta>,
    restored?: Checkpoint,
  ) {
    this.restored = restored;
    this.checkpoint = restored;
  }

  /** Whether the task has processed records since it was created. */
  get active(): boolean {
    return this.tracked;
  }

  /**
   * The event time the partition's own records have reached, as lateness counts it: its largest
   * event time; behind a repartition topic, the least over the input partitions (one not seen
   * yet holds it at -Infinity), never going back.
   */
  streamTime(ctx: ProcessorContext): number {
    if (this.reached !== undefined) return this.reached;
    const checkpoint = this.checkpoint;
    if (checkpoint === undefined) return Number.NEGATIVE_INFINITY;
    if (ctx.upstreamPartitions === undefined) return checkpoint.maxTimestamp;
    return checkpoint.streamTime ?? leastUpstream(ctx, checkpoint.upstream ?? {}, new Map());
  }

  /** The watermark channels of the partition: itself, or one per input partition behind a repartition topic. */
  channels(ctx: ProcessorContext): number[] {
    const upstream = ctx.upstreamPartitions;
    if (upstream === undefined) return [this.partition];
    return Array.from({ length: upstream }, (_, p) => channelOf(this.partition, p));
  }

  /**
   * Before the batches of a turn are processed: the watermark learns the stream time the
   * restored state reached (on the task's first batch), and the channels the batch holds
   * records of count as active.
   */
  prepare(batch: ProcessedBatch, ctx: ProcessorContext): void {
    this.track(batch.topic, ctx);
    for (const c of this.present(batch, ctx)) ctx.observeChannel(c, Number.NEGATIVE_INFINITY);
  }

  /**
   * Runs the batch's records into the first window tier, skipping what the state holds already.
   * Consecutive samples of one watermark channel go as one run, whatever their records and
   * series, cut before and after every sample that raises the largest event time of the channel
   * (and so may move the stream time or the watermark): lateness and the windows closed are then,
   * for every sample of a run, as they were for its first, exactly as sample by sample. One-sample
   * records (unbatched input) thus go as a few runs per fetch, not one event each.
   */
  process(batch: ProcessedBatch, ctx: ProcessorContext): void {
    const skipUpTo = this.checkpoint?.offset ?? -1;
    let maxTimestamp = this.checkpoint?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
    let streamTime = this.streamTime(ctx);
    // Per input partition: what the records before the current one applied, and what it adds.
    const upstream: Record<number, UpstreamPosition> = { ...this.checkpoint?.upstream };
    const adding = new Map<number, UpstreamPosition>();
    const settle = () => {
      for (const [p, position] of adding) upstream[p] = position;
      adding.clear();
    };
    const columns = batch.samples;
    const { seriesIndex, ts, offset, counter, origin } = columns;
    // The run being gathered, samples [from, to): its first record, its channel and largest event time.
    let from = 0;
    let to = 0;
    let runOffset = -1;
    let runChannel: number | undefined;
    let runMax = Number.NEGATIVE_INFINITY;
    // Whether the last sample raised its channel's largest event time.
    let afterRaise = false;
    const flush = () => {
      if (to === from) return;
      const event: StreamEvent<SampleRun> = {
        kind: 'data',
        partition: batch.partition,
        offset: runOffset,
        timestamp: runMax,
        value: { columns, from, to },
      };
      if (runChannel !== undefined) event.channel = runChannel;
      ctx.forward(event);
    };
    let record = -1;
    let known = -1;
    for (let i = 0; i < columns.length; i++) {
      const at = offset[i] as number;
      if (at <= skipUpTo) continue;
      if (at !== record) {
        if (adding.size > 0) settle();
        record = at;
      }
      const timestamp = ts[i] as number;
      const series = seriesIndex[i] as number;
      let channel: number | undefined;
      // The stream time this sample moves on to, if it does.
      let reached: number | undefined;
      // Whether it raises the largest event time of its watermark channel: the watermark may move.
      let raises = false;
      if (origin) {
        const source = origin.partition[i] as number;
        const sourceOffset = origin.offset[i] as number;
        // Its input record was repartitioned before (a replay upstream repeats records): applied already.
        if (sourceOffset <= (upstream[source]?.offset ?? -1)) continue;
        let position = adding.get(source);
        if (!position) {
          const before = upstream[source]?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
          position = { offset: sourceOffset, maxTimestamp: before };
          adding.set(source, position);
        }
        position.offset = sourceOffset;
        if (timestamp > position.maxTimestamp) {
          position.maxTimestamp = timestamp;
          raises = true;
          const least = leastUpstream(ctx, upstream, adding);
          if (least > streamTime) reached = least;
        }
        channel = channelOf(batch.partition, source);
      } else if (timestamp > streamTime) {
        reached = timestamp;
        raises = true;
      }
      // The samples before are forwarded first: judged by the stream time as it was for them, and
      // followed by the punctuation the watermark as it was for them calls for.
      // A raising sample is a run of its own: the punctuation it calls for comes before the next.
      if (to === from || raises || afterRaise || to !== i || channel !== runChannel) {
        flush();
        from = i;
        runOffset = at;
        runChannel = channel;
        runMax = Number.NEGATIVE_INFINITY;
      }
      if (reached !== undefined) this.reached = streamTime = reached;
      // Samples of one series come together (a record holds one agent's samples of a series).
      if (series !== known) {
        const s = columns.series[series] as BatchSeries;
        if (s.recordedBy !== this.uid) {
          if (!this.series.get(s.key))
            this.series.put(s.key, {
              name: s.name,
              labels: s.labels,
              kind: counter[i] === 1 ? 'counter' : 'gauge',
            });
          s.recordedBy = this.uid;
        }
        known = series;
      }
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
      if (timestamp > runMax) runMax = timestamp;
      afterRaise = raises;
      to = i + 1;
    }
    flush();
    settle();
    if (batch.lastOffset > skipUpTo) {
      this.checkpoint = { topic: batch.topic, offset: batch.lastOffset, maxTimestamp };
      if (Object.keys(upstream).length > 0) this.checkpoint.upstream = upstream;
      if (ctx.upstreamPartitions !== undefined && streamTime > Number.NEGATIVE_INFINITY)
        this.checkpoint.streamTime = streamTime;
    }
  }

  /** The stores' changes since the last commit, and the checkpoint: what the changelogs get. */
  commit(): TaskChanges {
    const rollups = new Map<string, ChangelogEntry[]>();
    for (const [store, windows] of this.rollups) rollups.set(store, windows.changes());
    const samples = this.samples.changes();
    if (this.checkpoint)
      samples.push({ key: CHECKPOINT_KEY, value: Buffer.from(JSON.stringify(this.checkpoint)) });
    return { rollups, series: this.series.changes(), samples };
  }

  /** The watermark channels that a batch holds records of. */
  private present(batch: ProcessedBatch, ctx: ProcessorContext): Iterable<number> {
    if (ctx.upstreamPartitions === undefined) return batch.samples.length > 0 ? [batch.partition] : [];
    const channels = new Set<number>();
    const origins = batch.samples.origin?.partition ?? [];
    for (const p of origins) channels.add(channelOf(batch.partition, p));
    return channels;
  }

  /** Before the task's first records: the watermark learns the stream time its restored state reached. */
  private track(topic: string, ctx: ProcessorContext): void {
    if (this.tracked) return;
    this.tracked = true;
    const restored = this.restored;
    if (!restored) return;
    const from = restored.topic ?? ctx.inputTopic;
    if (from !== topic) {
      throw new ConfigError(
        `the window state of partition ${this.partition} was built from topic ${from}, and this topology reads ${topic}`,
        {
          hint: 'input.coPartitioned changed: run the changed topology under a new appId, whose state starts empty',
        },
      );
    }
    if (ctx.upstreamPartitions === undefined) {
      ctx.observeChannel(this.partition, restored.maxTimestamp);
      return;
    }
    for (const [p, position] of Object.entries(restored.upstream ?? {}))
      ctx.observeChannel(channelOf(this.partition, Number(p)), position.maxTimestamp);
  }
}

/** The least event time over every input partition, from what was applied and what is being added. */
function leastUpstream(
  ctx: ProcessorContext,
  applied: Readonly<Record<number, UpstreamPosition>>,
  adding: ReadonlyMap<number, UpstreamPosition>,
): number {
  let least = Number.POSITIVE_INFINITY;
  for (let p = 0; p < (ctx.upstreamPartitions ?? 0); p++) {
    const reached = (adding.get(p) ?? applied[p])?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
    if (reached < least) least = reached;
  }
  return least === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : least;
}
