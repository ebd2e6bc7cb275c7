import { sampleWindow, type SampleWindowStore } from '../operators/sampleWindow.js';
import { Subscription, type Observable } from 'rxjs';
import { Feed } from '../streams/feed.js';
import {
  finalize,
  createRollupAggregator,
  packAggregate,
  type Aggregate,
  type PackedAggregate,
  type RollupAcc,
  type Slot,
} from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import type { ProcessedBatch, SampleRun } from '../core/records.js';
import { rowAt } from '../core/sampleColumns.js';
import type { StreamEvent } from '../core/stream.js';
import { tumblingWindow, type WindowOutput } from '../operators/tumblingWindow.js';
import { WatermarkTracker } from '../operators/withWatermarks.js';
import type { LateSample } from '../sinks/late.js';
import { WindowResults, type Tier } from '../sinks/rollupSink.js';
import type { Tasks } from '../streams/tasks.js';
import type { StreamTask } from '../streams/task.js';
import { channelOf, type ProcessorContext, type PunctuationType } from '../streams/context.js';
import { clockScheduler, systemClock, type Clock } from '../streams/clock.js';
import { correctableMs, sourceTier, tierStore, type TierConfig } from '../core/tiers.js';
import { grownTo } from '../core/typedArrays.js';

/** A result of a tier on its way into a tier that folds it (1m into 1h). */
type SourceResult = Slot & { key: string };

/** What `tumblingWindow` takes of a tier's settings. */
function windowShape(tier: TierConfig): { sizeMs: number; graceMs: number; allowedLatenessMs: number } {
  return { sizeMs: tier.sizeMs, graceMs: tier.graceMs, allowedLatenessMs: tier.allowedLatenessMs };
}

/** The tasks as the stage sees them: restored ones, by partition. */
export type TaskSet = Pick<Tasks<SampleWindowStore, RollupAcc>, 'get' | 'all'>;

type Task = StreamTask<SampleWindowStore, RollupAcc>;

/**
 * The stateful part of the topology, per input partition:
 *
 *   watermark (bounded out-of-orderness, min across partitions, idle partitions skipped)
 *     → window-1m (TimeWindows size/grace, suppress until close, allowed lateness; store window-1m)
 *     → window-1h over the 1m results (store window-1h)
 *
 * `push` runs records through synchronously; results and late records collect until `drain`.
 * Records at or before a task's checkpoint (restored, or advanced since) already changed its
 * stores and are skipped: a replay after a restart, or a re-delivery after a rebalance.
 *
 * Windows close by punctuation, which the thread drives: stream time after every record that
 * moves the combined watermark (within `push`, so a window closes between two records exactly
 * where the watermark passed it), wall clock on the thread's turns (idleness moves the watermark
 * without records). The watermark is shared by the tasks, so one stream-time punctuation closes
 * the due windows of every task, in time order. `push`, `punctuate` and `complete` are turns:
 * the operators reach the tasks, and their stores, only through the context, which holds the
 * tasks restored when the turn began and none between turns.
 *
 * Behind a repartition topic (`upstreamPartitions`), a partition interleaves the samples of every
 * input partition, each stream in its input order: the watermark follows each (partition, input
 * partition) channel, as Flink follows its input channels, and the checkpoint keeps per input
 * partition the last input offset applied, so that samples repartitioned again by a replay
 * upstream are skipped.
 */
export class WindowStage {
  private readonly tracker: WatermarkTracker;
  private readonly input = new Feed<StreamEvent<SampleRun>>();
  /** What every task reaches beyond its own state: the watermark, the clock, the first tier, the turn's tasks. */
  private readonly context: ProcessorContext<Task>;
  /** The tasks of the current turn, by partition; undefined between turns. */
  private turnTasks: Map<number, Task> | undefined;
  /** The last watermark forwarded to the windows: stream time is punctuated when the combined one passes it. */
  private forwarded = Number.NEGATIVE_INFINITY;
  /** The tracker's rewinds forwarded: after a new one, the next watermark goes out even if lower. */
  private rewinds = 0;
  /**
   * Processing time of the next wall-clock punctuation: when the first active partition turns
   * idle, as it stood after the last record or punctuation; undefined until a record comes.
   */
  private wallClockDue: number | undefined;
  private readonly subscription: Subscription;
  /** The tier over the samples: its late records go to the late topic. */
  private readonly firstTier: Tier;
  private results = new WindowResults();
  private late: LateSample[] = [];
  private failure: unknown;
  /** True while a watermark goes through the first tier (`forwardWatermark`). */
  private closing = false;

  constructor(
    private readonly config: Config,
    private readonly tasks: TaskSet,
    /** Partitions of the input when the stage reads a repartition topic. */
    private readonly upstreamPartitions?: number,
    /** Processing time, as the watermark's idleness counts it. */
    clock: Clock = systemClock,
  ) {
    const { outOfOrdernessMs, idleTimeoutMs } = config.windows;
    this.tracker = new WatermarkTracker({
      outOfOrdernessMs,
      idleTimeoutMs,
      scheduler: clockScheduler(clock),
    });
    const tracker = this.tracker;
    const input = this.input;
    const none = new Map<number, Task>();
    this.context = {
      clock,
      upstreamPartitions,
      inputTopic: config.topics.metrics,
      watermark: () => tracker.current(),
      observeChannel: (channel, maxTimestamp) => tracker.restore(channel, maxTimestamp),
      forward: (event) => {
        this.forwardRewind();
        tracker.observe(event.channel ?? event.partition, event.timestamp);
        input.next(event);
        this.punctuateStreamTime(tracker.current());
        this.wallClockDue ??= tracker.nextIdleAt();
      },
      task: (partition) => (this.turnTasks ?? none).get(partition),
      tasks: () => (this.turnTasks ?? none).values(),
    };
    const context = this.context;
    const [first, ...rest] = config.tiers as [TierConfig, ...TierConfig[]];
    this.firstTier = first.name;
    const partitions = () => [...context.tasks()].map((t) => t.partition);
    // Lateness is judged per partition against its stream time (as Kafka Streams does), which
    // the checkpoint restores and a replay of the partition's records rebuilds step by step:
    // every replay, whatever the kills, judges each sample as the first run did. The watermark
    // (the least over partitions, idle ones skipped) only says when windows close.
    const horizons = new Map<string, (partition: number, watermark: number) => number>();
    horizons.set(first.name, (partition) => this.streamTime(partition) - outOfOrdernessMs);
    // The results of each tier feed the tiers that fold it, keyed by series at the window's start.
    const feeds = new Map<string, Array<Feed<StreamEvent<SourceResult>>>>();
    const outputs: Array<{
      tier: TierConfig;
      /** Results carry the first tier's `Aggregate` (computed as emitted) or a folding tier's live accumulator. */
      output: Observable<WindowOutput<unknown, Aggregate | RollupAcc>>;
    }> = [
      {
        tier: first,
        output: this.input.pipe(
          sampleWindow({
            ...windowShape(first),
            horizon: horizons.get(first.name),
            store: (partition) => context.task(partition)?.samples,
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
      const feed = new Feed<StreamEvent<SourceResult>>();
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
            store: (partition) => context.task(partition)?.rollups.get(store),
            partitions,
          }),
        ),
      });
    }
    // The folding tiers subscribe first, so that they see every result of the tiers below.
    this.subscription = new Subscription();
    for (const { tier, output } of outputs.reverse()) {
      const targets = feeds.get(tier.name) ?? [];
      const forward = (event: StreamEvent<SourceResult>) => {
        for (const target of targets) target.next(event);
      };
      const held = new HeldResults();
      this.subscription.add(
        output.subscribe({
          next: (out) => {
            const aggregate = this.collect(tier.name, out);
            if (targets.length === 0) return;
            // The folding tiers read the aggregate and never change it; it is written over for the
            // next result (operators/sampleWindow.ts), so a slot keeps a packed copy (`packAggregate`).
            if (aggregate !== undefined && out.kind === 'result') {
              // The windows a watermark closes go on series by series (`HeldResults`), packed now.
              if (this.closing && out.revision === 1 && out.series !== undefined) {
                held.add(out.partition, out.series, out.key, out.start, packAggregate(aggregate));
                // Passed on early past a bound (the tier above's watermark has not moved: the
                // same outcome), so that a close of a long backlog is not all held at once.
                if (held.length >= HELD_MAX) held.flush(forward);
                return;
              }
              held.flush(forward);
              forward({
                kind: 'data',
                partition: out.partition,
                offset: -1,
                timestamp: out.start,
                value: { start: out.start, aggregate, key: out.key },
              });
            } else if (out.kind === 'watermark') {
              held.flush(forward);
              forward(out);
            }
          },
          error: (error: unknown) => (this.failure = error),
          complete: () => {
            held.flush(forward);
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
    for (const p of revoked) for (const c of this.channels(p)) this.tracker.forget(c);
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
      if (this.tasks.get(p)?.active)
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

  /** Processing time at which a wall-clock punctuation is next due (a partition turns idle); undefined when none is. */
  nextPunctuation(): number | undefined {
    return this.wallClockDue;
  }

  /**
   * A turn that runs the batches' rows through the windows (skipping what the state already
   * holds), punctuating stream time after each record that moves the watermark. The partitions
   * they hold records of count as active first, all of them: after a pause in which every
   * partition turned idle, the first to run must not drag the watermark past the others.
   */
  push(batches: ReadonlyArray<ProcessedBatch>): void {
    this.turn(() => {
      const tasks = batches.map((batch) => {
        const task = this.context.task(batch.partition);
        if (!task) throw new Error(`partition ${batch.partition} is not restored`);
        task.prepare(batch, this.context);
        return task;
      });
      batches.forEach((batch, i) => {
        tasks[i]?.process(batch, this.context);
        this.throwIfFailed();
      });
    });
  }

  /**
   * A turn of punctuation. `streamTime`: the windows learn that event time reached `time` (a
   * watermark no later than the last one forwarded changes nothing) and close those it passed.
   * `wallClock` (`time`: the clock's now), once due (`nextPunctuation`): idleness may have moved
   * the combined watermark without records; if so, stream time is punctuated with it. Before it
   * is due, nothing: until a partition turns idle, only records move the watermark.
   */
  punctuate(type: PunctuationType, time: number): void {
    if (type === 'wallClock') {
      const due = this.wallClockDue;
      if (due === undefined || time < due) return;
    }
    this.turn(() => {
      if (type === 'streamTime') this.punctuateStreamTime(time);
      else {
        this.forwardRewind();
        this.punctuateStreamTime(this.tracker.current());
        this.wallClockDue = this.tracker.nextIdleAt();
      }
      this.throwIfFailed();
    });
  }

  /** The largest event time the partitions of this instance have reached; -Infinity before any. */
  eventTimeReached(): number {
    let reached = Number.NEGATIVE_INFINITY;
    for (const task of this.tasks.all()) reached = Math.max(reached, task.streamTime(this.context));
    return reached;
  }

  /** Closes every window as at the end of input (`run --exit-when-idle`). */
  complete(): void {
    this.turn(() => {
      this.punctuateStreamTime(Number.MAX_SAFE_INTEGER);
      this.input.complete();
      this.throwIfFailed();
    });
  }

  /** The results and late records since the last call. */
  drain(): { results: WindowResults; late: LateSample[] } {
    const out = { results: this.results, late: this.late };
    this.results = new WindowResults();
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

  /**
   * Runs `fn` as a turn: the context holds the tasks restored now, and no other, until it returns
   * (a turn within a turn is part of it).
   */
  private turn(fn: () => void): void {
    if (this.turnTasks) return fn();
    this.turnTasks = new Map([...this.tasks.all()].map((t) => [t.partition, t]));
    try {
      fn();
    } finally {
      this.turnTasks = undefined;
    }
  }

  /** Forwards `watermark` to the windows if it is past the last one: they close what it passed. */
  private punctuateStreamTime(watermark: number): void {
    if (watermark <= this.forwarded) return;
    this.forwarded = watermark;
    this.forwardWatermark(watermark);
  }

  /**
   * A watermark into the first tier: the windows it closes emit their results, then the
   * watermark follows them to the tiers above. Meanwhile (`closing`) the results on their way to
   * a folding tier are held and go on grouped by series when the watermark does.
   */
  private forwardWatermark(watermark: number): void {
    this.closing = true;
    try {
      this.input.next({ kind: 'watermark', watermark });
    } finally {
      this.closing = false;
    }
  }

  /**
   * After a rewind (a rebalance brought partitions that may be behind), the watermark goes out
   * even if lower, before any record, so that records of the partitions taken over are not
   * judged by the old one.
   */
  private forwardRewind(): void {
    if (this.tracker.rewinds === this.rewinds) return;
    this.rewinds = this.tracker.rewinds;
    this.forwarded = this.tracker.current();
    this.forwardWatermark(this.forwarded);
  }

  /** Keeps a result (returning its aggregate) or a late record for `drain`. */
  private collect<V>(tier: Tier, out: WindowOutput<V, Aggregate | RollupAcc>): Aggregate | undefined {
    if (out.kind === 'result') {
      const task = this.context.task(out.partition);
      const series = task?.series.get(out.key);
      if (!series) throw new Error(`no series metadata for ${out.key} in partition ${out.partition}`);
      const aggregate = 'type' in out.acc ? finalize(out.acc) : out.acc;
      // Finalized and encoded now: only the tiers that fold this one keep its aggregate.
      this.results.add(tier, out.key, series, out.start, out.end, aggregate, out.revision);
      return aggregate;
    } else if (out.kind === 'late' && tier === this.firstTier) {
      this.late.push({
        tier,
        partition: out.partition,
        offset: out.offset,
        row: rowAt((out.value as SampleRun).columns, (out.value as SampleRun).from),
        reason: out.reason,
      });
    }
    return undefined;
  }

  /** The event time partition `partition`'s own records have reached (-Infinity without a task). */
  private streamTime(partition: number): number {
    return this.context.task(partition)?.streamTime(this.context) ?? Number.NEGATIVE_INFINITY;
  }

  /** The watermark channels of a partition: itself, or one per input partition behind a repartition topic. */
  private channels(partition: number): number[] {
    const upstream = this.upstreamPartitions;
    if (upstream === undefined) return [partition];
    return Array.from({ length: upstream }, (_, p) => channelOf(partition, p));
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** Results held at most (`HeldResults`): ~20 MB of packed aggregates. */
const HELD_MAX = 65_536;

/**
 * The results a watermark's close sends to a folding tier, held until the watermark follows them
 * (or `HELD_MAX` are held) and then passed on by partition and series, each series' in time
 * order, instead of in time order across the series. Folding a result reads and writes its
 * series' window of the tier above (its accumulator, folded aggregate, sketch and slots): 10,000
 * series taking turns find none of it in the processor's cache, while a series' results one after
 * the other find it there after the first. The tier above sees the same results of each series
 * in the same order, at the same watermark, so each of its windows and results is the same; the
 * results, and changelog records, of different series may come in another order.
 *
 * The event passed on is one object, written over for the next result, and its value holds the
 * packed aggregate only (no `aggregate`): the tier above keeps the packed aggregate alone, and its
 * late records are not collected. A consumer that kept the event or value would have to copy it.
 */
export class HeldResults {
  private partition: Int32Array = new Int32Array(1024);
  private series: Int32Array = new Int32Array(1024);
  private start: Float64Array = new Float64Array(1024);
  private keys: string[] = [];
  private packed: PackedAggregate[] = [];
  /**
   * The one event every held result goes on in, written over for the next: the tier above reads
   * it at once and keeps only the packed aggregate. Objects made per result and held through a
   * close of 170,000 windows outlive the young generation.
   */
  private readonly value: SourceResult = {
    start: 0,
    key: '',
    packed: undefined,
  };
  private readonly event: Extract<StreamEvent<SourceResult>, { kind: 'data' }> = {
    kind: 'data',
    partition: 0,
    offset: -1,
    timestamp: 0,
    value: this.value,
  };

  /** Results held. */
  get length(): number {
    return this.keys.length;
  }

  /**
   * Holds a result of `series` (a small integer, as the first tier's table numbers it, and `key`)
   * in `partition` for the window at `start`, its aggregate packed.
   */
  add(partition: number, series: number, key: string, start: number, packed: PackedAggregate): void {
    const i = this.keys.length;
    if (i === this.partition.length) {
      this.partition = grownTo(this.partition, i * 2);
      this.series = grownTo(this.series, i * 2);
      this.start = grownTo(this.start, i * 2);
    }
    this.partition[i] = partition;
    this.series[i] = series;
    this.start[i] = start;
    this.keys.push(key);
    this.packed.push(packed);
  }

  /**
   * Passes the held results on by partition and series, each series' in the order they came
   * (a close's are in time order); holds none after. Two stable counting sorts (by series, then
   * by partition), not a comparison sort: a close can hold 170,000 results.
   */
  flush(forward: (event: StreamEvent<SourceResult>) => void): void {
    const n = this.keys.length;
    if (n === 0) return;
    const { keys, packed, event, value } = this;
    this.keys = [];
    this.packed = [];
    let order: Int32Array = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const { partition, series, start } = this;
    let maxSeries = 0;
    let maxPartition = 0;
    for (let i = 0; i < n; i++) {
      maxSeries = Math.max(maxSeries, series[i] as number);
      maxPartition = Math.max(maxPartition, partition[i] as number);
    }
    if (maxSeries > 8 * n)
      // A few results among many series (numbers are never reused): counting would cost more.
      order.sort(
        (a, b) =>
          (partition[a] as number) - (partition[b] as number) ||
          (series[a] as number) - (series[b] as number) ||
          a - b,
      );
    else {
      order = countingSort(order, series, maxSeries);
      order = countingSort(order, partition, maxPartition);
    }
    for (let k = 0; k < n; k++) {
      const i = order[k] as number;
      event.partition = partition[i] as number;
      event.timestamp = value.start = start[i] as number;
      value.key = keys[i] as string;
      value.packed = packed[i];
      forward(event);
    }
    value.packed = undefined;
  }
}

/** `order` (indexes into `keys`) reordered by key, stably; keys are integers from 0 to `max`. */
function countingSort(order: Int32Array, keys: Int32Array, max: number): Int32Array {
  const starts = new Int32Array(max + 2);
  for (let k = 0; k < order.length; k++) (starts[(keys[order[k] as number] as number) + 1] as number)++;
  for (let key = 0; key <= max; key++)
    starts[key + 1] = (starts[key + 1] as number) + (starts[key] as number);
  const out = new Int32Array(order.length);
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number;
    const key = keys[i] as number;
    out[starts[key] as number] = i;
    starts[key] = (starts[key] as number) + 1;
  }
  return out;
}
