import { Subject, Subscription, type Observable } from 'rxjs';
import {
  finalize,
  createRollupAggregator,
  type Aggregate,
  sampleAggregator,
  type RollupAcc,
  type SampleAcc,
  type Slot,
} from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import { correctableMs, sourceTier, tierStore, type TierConfig } from '../core/tiers.js';
import { ConfigError } from '../core/errors.js';
import type { ProcessedBatch, SampleRow } from '../core/records.js';
import type { StreamEvent } from '../core/stream.js';
import { tumblingWindow, type WindowOutput } from '../operators/tumblingWindow.js';
import { WatermarkTracker, withWatermarks } from '../operators/withWatermarks.js';
import type { RollupRow, Tier } from '../sinks/rollupSink.js';
import type { Task, Tasks, UpstreamPosition } from './tasks.js';

/** A record later than its window's allowed lateness, bound for the late topic. */
export interface LateSample {
  tier: Tier;
  partition: number;
  offset: number;
  row: SampleRow;
  reason: string;
}

/** A result of a tier on its way into a tier that folds it (1m into 1h). */
type SourceResult = Slot & { key: string };

/** What `tumblingWindow` takes of a tier's settings. */
function windowShape(tier: TierConfig): { sizeMs: number; graceMs: number; allowedLatenessMs: number } {
  return { sizeMs: tier.sizeMs, graceMs: tier.graceMs, allowedLatenessMs: tier.allowedLatenessMs };
}

/** The tasks as the stage sees them: restored ones, by partition. */
export type TaskSet = Pick<Tasks<SampleAcc, RollupAcc>, 'get' | 'all'>;

/** The watermark channel of a repartition topic's partition for the records of one input partition. */
function channelOf(partition: number, upstream: number): number {
  // Room for a million input partitions per partition, far more than Kafka topics have.
  return partition * 2 ** 20 + upstream;
}

/**
 * The stateful part of the topology, per input partition:
 *
 *   watermark (bounded out-of-orderness, min across partitions, idle partitions skipped)
 *     → the first tier, window-1m (TimeWindows size/grace, suppress until close, allowed lateness; store window-1m)
 *     → each other tier over the results of the tier it names in `from` (window-1h over 1m; store window-1h)
 *
 * `push` runs records through synchronously; results and late records collect until `drain`.
 * Records at or before a task's checkpoint (restored, or advanced since) already changed its
 * stores and are skipped: a replay after a restart, or a re-delivery after a rebalance.
 *
 * Behind a repartition topic (`upstreamPartitions`), a partition interleaves the samples of every
 * input partition, each stream in its input order: the watermark follows each (partition, input
 * partition) channel, as Flink follows its input channels, and the checkpoint keeps per input
 * partition the last input offset applied, so that samples repartitioned again by a replay
 * upstream are skipped.
 */
export class WindowStage {
  private readonly tracker: WatermarkTracker;
  private readonly input = new Subject<StreamEvent<SampleRow>>();
  /** Partitions whose restored stream time the tracker knows. */
  private readonly tracked = new Set<number>();
  /**
   * Per partition, the event time its own records have reached (`Checkpoint.streamTime`), as it
   * stands within the batch being pushed; from the task's checkpoint otherwise.
   */
  private readonly streamTimes = new Map<number, number>();
  private readonly subscription: Subscription;
  /** The tier over the samples: its late records go to the late topic. */
  private readonly firstTier: Tier;
  private results: RollupRow[] = [];
  private late: LateSample[] = [];
  private failure: unknown;

  constructor(
    private readonly config: Config,
    private readonly tasks: TaskSet,
    /** Partitions of the input when the stage reads a repartition topic. */
    private readonly upstreamPartitions?: number,
  ) {
    const { outOfOrdernessMs, idleTimeoutMs } = config.windows;
    this.tracker = new WatermarkTracker({ outOfOrdernessMs, idleTimeoutMs });
    const [first, ...rest] = config.tiers as [TierConfig, ...TierConfig[]];
    this.firstTier = first.name;
    const partitions = () => [...this.tasks.all()].map((t) => t.partition);
    // Lateness is judged per partition against its stream time (as Kafka Streams does), which
    // the checkpoint restores and a replay of the partition's records rebuilds step by step:
    // every replay, whatever the kills, judges each sample as the first run did. The watermark
    // (the least over partitions, idle ones skipped) only says when windows close.
    const horizons = new Map<string, (partition: number, watermark: number) => number>();
    horizons.set(first.name, (partition) => this.streamTime(partition) - outOfOrdernessMs);
    // The results of each tier feed the tiers that fold it, keyed by series at the window's start.
    const feeds = new Map<string, Array<Subject<StreamEvent<SourceResult>>>>();
    const outputs: Array<{
      tier: TierConfig;
      output: Observable<WindowOutput<unknown, SampleAcc | RollupAcc>>;
    }> = [
      {
        tier: first,
        output: this.input.pipe(
          withWatermarks<SampleRow>(this.tracker),
          tumblingWindow<SampleRow, SampleAcc>({
            ...windowShape(first),
            key: (row) => row.seriesKey,
            aggregator: sampleAggregator,
            horizon: horizons.get(first.name),
            store: (partition) => this.tasks.get(partition)?.samples,
            partitions,
          }),
        ),
      },
    ];
    for (const tier of rest) {
      const source = sourceTier(config.tiers, tier) as TierConfig;
      const sourceHorizon = horizons.get(source.name) as (partition: number, watermark: number) => number;
      // A result of the source can still come for a window until the watermark has closed it
      // (minus its grace) and the partition's records can no longer correct it (minus its grace
      // and lateness): this tier's windows are late, and purged, only past that. Windows purged
      // before a restart stay purged (their store's `purgedThrough`): the replayed results of
      // the source for such a window are in it already.
      const sourceFinal = source.graceMs + source.allowedLatenessMs;
      const horizon = (partition: number, watermark: number) =>
        Math.min(watermark - source.graceMs, sourceHorizon(partition, watermark) - sourceFinal);
      horizons.set(tier.name, horizon);
      const feed = new Subject<StreamEvent<SourceResult>>();
      feeds.set(source.name, [...(feeds.get(source.name) ?? []), feed]);
      const store = tierStore(tier.name);
      outputs.push({
        tier,
        output: feed.pipe(
          tumblingWindow<SourceResult, RollupAcc>({
            ...windowShape(tier),
            key: (r) => r.key,
            // The source's results can still be corrected until its grace and allowed lateness pass.
            aggregator: createRollupAggregator(correctableMs(source)),
            horizon,
            store: (partition) => this.tasks.get(partition)?.rollups.get(store),
            partitions,
          }),
        ),
      });
    }
    // The folding tiers subscribe first, so that they see every result of the tiers below.
    this.subscription = new Subscription();
    for (const { tier, output } of outputs.reverse()) {
      const targets = feeds.get(tier.name) ?? [];
      this.subscription.add(
        output.subscribe({
          next: (out) => {
            const aggregate = this.collect(tier.name, out);
            if (targets.length === 0) return;
            // The folding tiers read the aggregate and never change it: the result row and the slot share it.
            if (aggregate !== undefined && out.kind === 'result') {
              const event: StreamEvent<SourceResult> = {
                kind: 'data',
                partition: out.partition,
                offset: -1,
                timestamp: out.start,
                value: { start: out.start, aggregate, key: out.key },
              };
              for (const target of targets) target.next(event);
            } else if (out.kind === 'watermark') for (const target of targets) target.next(out);
          },
          error: (error: unknown) => (this.failure = error),
          complete: () => {
            for (const target of targets) target.complete();
          },
        }),
      );
    }
  }

  /**
   * After a rebalance: the tasks of `revoked` left with their state; every partition of
   * `assigned` holds the watermark back until it shows records or turns idle (a rebalance pause
   * is not idleness); with `gained` partitions, which may be behind, the watermark starts over.
   */
  rebalanced(assigned: ReadonlyArray<number>, revoked: ReadonlyArray<number>, gained: boolean): void {
    for (const p of revoked) {
      for (const c of this.channels(p)) this.tracker.forget(c);
      this.tracked.delete(p);
      this.streamTimes.delete(p);
    }
    for (const p of assigned)
      for (const c of this.channels(p)) this.tracker.restore(c, Number.NEGATIVE_INFINITY);
    if (gained) this.tracker.rewind();
  }

  /**
   * After a stall of this process (a long flush, a pause), which is not idleness of the
   * partitions: without this, the first to show records would drag the watermark past the others.
   */
  resume(partitions: Iterable<number>): void {
    for (const p of partitions)
      if (this.tracked.has(p))
        for (const c of this.channels(p)) this.tracker.restore(c, Number.NEGATIVE_INFINITY);
  }

  /**
   * Stops the clock of idleness while this process writes the effects of records instead of
   * reading more (until `thaw`): behind a repartition topic, a partition's records come one flush
   * after the input's, and a long flush must not make the partitions that wait for them idle.
   */
  freeze(): void {
    this.tracker.freeze();
  }

  thaw(): void {
    this.tracker.thaw();
  }

  /** The combined watermark as of now. */
  watermark(): number {
    return this.tracker.current();
  }

  /**
   * Runs the batches' rows through the windows (skipping what the state already holds). The
   * partitions they hold records of count as active first, all of them: after a pause in which
   * every partition turned idle, the first to run must not drag the watermark past the others.
   */
  push(batches: ReadonlyArray<ProcessedBatch>): void {
    for (const batch of batches) {
      const task = this.tasks.get(batch.partition);
      if (!task) throw new Error(`partition ${batch.partition} is not restored`);
      this.track(task, batch.topic);
      for (const c of this.present(batch)) this.tracker.restore(c, Number.NEGATIVE_INFINITY);
    }
    for (const batch of batches)
      this.pushBatch(batch, this.tasks.get(batch.partition) as Task<SampleAcc, RollupAcc>);
  }

  private pushBatch(batch: ProcessedBatch, task: Task<SampleAcc, RollupAcc>): void {
    const skipUpTo = task.checkpoint?.offset ?? -1;
    let maxTimestamp = task.checkpoint?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
    let streamTime = this.streamTime(batch.partition);
    // Per input partition: what the records before the current one applied, and what it adds.
    const upstream: Record<number, UpstreamPosition> = { ...task.checkpoint?.upstream };
    const adding = new Map<number, UpstreamPosition>();
    const settle = () => {
      for (const [p, position] of adding) upstream[p] = position;
      adding.clear();
    };
    let record = -1;
    let known: string | undefined;
    for (const row of batch.rows) {
      if (row.offset <= skipUpTo) continue;
      if (row.offset !== record) {
        settle();
        record = row.offset;
      }
      const origin = row.origin;
      let channel: number | undefined;
      if (origin) {
        // Its input record was repartitioned before (a replay upstream repeats records): applied already.
        if (origin.offset <= (upstream[origin.partition]?.offset ?? -1)) continue;
        let position = adding.get(origin.partition);
        if (!position) {
          const before = upstream[origin.partition]?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
          position = { offset: origin.offset, maxTimestamp: before };
          adding.set(origin.partition, position);
        }
        position.offset = origin.offset;
        if (row.timestamp > position.maxTimestamp) {
          position.maxTimestamp = row.timestamp;
          const least = this.leastUpstream(upstream, adding);
          if (least > streamTime) this.streamTimes.set(batch.partition, (streamTime = least));
        }
        channel = channelOf(batch.partition, origin.partition);
      } else if (row.timestamp > streamTime)
        this.streamTimes.set(batch.partition, (streamTime = row.timestamp));
      // Rows of one series come together (a record holds one agent's samples of a series).
      if (row.seriesKey !== known) {
        if (!task.series.get(row.seriesKey))
          task.series.put(row.seriesKey, { name: row.name, labels: row.labels, kind: row.kind });
        known = row.seriesKey;
      }
      if (row.timestamp > maxTimestamp) maxTimestamp = row.timestamp;
      const event: StreamEvent<SampleRow> = {
        kind: 'data',
        partition: batch.partition,
        offset: row.offset,
        timestamp: row.timestamp,
        value: row,
      };
      if (channel !== undefined) event.channel = channel;
      this.input.next(event);
    }
    settle();
    if (batch.lastOffset > skipUpTo) {
      task.checkpoint = { topic: batch.topic, offset: batch.lastOffset, maxTimestamp };
      if (Object.keys(upstream).length > 0) task.checkpoint.upstream = upstream;
      if (this.upstreamPartitions !== undefined && streamTime > Number.NEGATIVE_INFINITY)
        task.checkpoint.streamTime = streamTime;
    }
    this.throwIfFailed();
  }

  /** Closes every window as at the end of input (`run --exit-when-idle`). */
  complete(): void {
    this.input.complete();
    this.throwIfFailed();
  }

  /** The results and late records since the last call. */
  drain(): { results: RollupRow[]; late: LateSample[] } {
    const out = { results: this.results, late: this.late };
    this.results = [];
    this.late = [];
    return out;
  }

  /** Windows held in the stores of this instance, per tier. */
  openWindows(): Record<Tier, number> {
    const open: Record<Tier, number> = {};
    for (const tier of this.config.tiers) open[tier.name] = 0;
    const first = this.firstTier;
    for (const task of this.tasks.all()) {
      open[first] = (open[first] as number) + task.samples.size;
      for (const tier of this.config.tiers.slice(1)) {
        const size = task.rollups.get(tierStore(tier.name))?.size ?? 0;
        open[tier.name] = (open[tier.name] as number) + size;
      }
    }
    return open;
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  /** Keeps a result (returning its aggregate) or a late record for `drain`. */
  private collect<V>(tier: Tier, out: WindowOutput<V, SampleAcc | RollupAcc>): Aggregate | undefined {
    if (out.kind === 'result') {
      const task = this.tasks.get(out.partition);
      const series = task?.series.get(out.key);
      if (!series) throw new Error(`no series metadata for ${out.key} in partition ${out.partition}`);
      const aggregate = finalize(out.acc);
      this.results.push({
        tier,
        seriesKey: out.key,
        series,
        start: out.start,
        end: out.end,
        aggregate,
        revision: out.revision,
      });
      return aggregate;
    } else if (out.kind === 'late' && tier === this.firstTier) {
      this.late.push({
        tier,
        partition: out.partition,
        offset: out.offset,
        row: out.value as SampleRow,
        reason: out.reason,
      });
    }
    return undefined;
  }

  /**
   * The event time partition `partition`'s own records have reached: its largest event time;
   * behind a repartition topic, the least over the upstream partitions (one not seen yet holds
   * it at -Infinity), never going back.
   */
  private streamTime(partition: number): number {
    const now = this.streamTimes.get(partition);
    if (now !== undefined) return now;
    const checkpoint = this.tasks.get(partition)?.checkpoint;
    if (checkpoint === undefined) return Number.NEGATIVE_INFINITY;
    if (this.upstreamPartitions === undefined) return checkpoint.maxTimestamp;
    return checkpoint.streamTime ?? this.leastUpstream(checkpoint.upstream ?? {}, new Map());
  }

  /** The least event time over every upstream partition, from what was applied and what is being added. */
  private leastUpstream(
    applied: Readonly<Record<number, UpstreamPosition>>,
    adding: ReadonlyMap<number, UpstreamPosition>,
  ): number {
    let least = Number.POSITIVE_INFINITY;
    for (let p = 0; p < (this.upstreamPartitions ?? 0); p++) {
      const reached = (adding.get(p) ?? applied[p])?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
      if (reached < least) least = reached;
    }
    return least === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : least;
  }

  /** The watermark channels of a partition: itself, or one per input partition behind a repartition topic. */
  private channels(partition: number): number[] {
    const upstream = this.upstreamPartitions;
    if (upstream === undefined) return [partition];
    return Array.from({ length: upstream }, (_, p) => channelOf(partition, p));
  }

  /** The watermark channels that a batch holds records of. */
  private present(batch: ProcessedBatch): Iterable<number> {
    if (this.upstreamPartitions === undefined) return batch.rows.length > 0 ? [batch.partition] : [];
    const channels = new Set<number>();
    for (const row of batch.rows)
      if (row.origin) channels.add(channelOf(batch.partition, row.origin.partition));
    return channels;
  }

  /** Before a task's first records: the watermark learns the stream time its restored state reached. */
  private track(task: Task<SampleAcc, RollupAcc>, topic: string): void {
    if (this.tracked.has(task.partition)) return;
    this.tracked.add(task.partition);
    const restored = task.restored;
    if (!restored) return;
    const from = restored.topic ?? this.config.topics.metrics;
    if (from !== topic) {
      throw new ConfigError(
        `the window state of partition ${task.partition} was built from topic ${from}, and this topology reads ${topic}`,
        {
          hint: 'input.coPartitioned changed: run the changed topology under a new appId, whose state starts empty',
        },
      );
    }
    if (this.upstreamPartitions === undefined) {
      this.tracker.restore(task.partition, restored.maxTimestamp);
      return;
    }
    for (const [p, position] of Object.entries(restored.upstream ?? {}))
      this.tracker.restore(channelOf(task.partition, Number(p)), position.maxTimestamp);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
