import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { StreamEvent } from '../core/stream.js';

export interface WatermarkOptions {
  /** Bounded out-of-orderness: a partition's watermark is the largest event time it has shown minus this. */
  outOfOrdernessMs: number;
  /** Processing time without records after which a partition is idle and no longer holds the watermark back. */
  idleTimeoutMs: number;
  /** Processing-time clock of idleness, also timing `withWatermarks`' idleness checks; asyncScheduler by default. */
  scheduler?: SchedulerLike;
}

/** What is known of one input partition. */
interface PartitionState {
  /** Largest event time seen (or restored). */
  maxTimestamp: number;
  /** Processing time of its last record (or of its restore); idle once `idleTimeoutMs` older than now. */
  activeAt: number;
}

/**
 * The watermark of the partitions of one consumer (Flink's bounded-out-of-orderness strategy
 * with idleness): per partition the largest event time seen, combined as the minimum over the
 * active partitions, never going backwards. A "partition" here is a record's `channel` when it
 * has one (Flink's input channels: one per upstream partition after a repartition).
 * `withWatermarks` feeds it records; the rebalance listener calls `forget` and `restore`; a flush
 * calls `freeze` and `thaw`; checkpoints and metrics read `current` and `partitions`.
 */
export class WatermarkTracker {
  readonly scheduler: SchedulerLike;
  private readonly outOfOrdernessMs: number;
  private readonly idleTimeoutMs: number;
  private readonly states = new Map<number, PartitionState>();
  // The combined watermark reached so far: it only ratchets up.
  private watermark = -Infinity;
  // Processing time at which the idleness clock stopped (`freeze`), while it stands still.
  private frozenAt: number | undefined;

  constructor(options: WatermarkOptions) {
    this.outOfOrdernessMs = options.outOfOrdernessMs;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.scheduler = options.scheduler ?? asyncScheduler;
  }

  /** Records a record of `partition` with event time `timestamp`: the partition is active (again). */
  observe(partition: number, timestamp: number): void {
    const now = this.clock();
    const state = this.states.get(partition);
    if (state === undefined) this.states.set(partition, { maxTimestamp: timestamp, activeAt: now });
    else {
      state.maxTimestamp = Math.max(state.maxTimestamp, timestamp);
      state.activeAt = now;
    }
  }

  /** Seeds `partition` with the largest event time restored from a changelog; it is active from now. */
  restore(partition: number, maxTimestamp: number): void {
    const known = this.states.get(partition)?.maxTimestamp ?? -Infinity;
    this.states.set(partition, {
      maxTimestamp: Math.max(known, maxTimestamp),
      activeAt: this.clock(),
    });
  }

  /**
   * Marks `partition` active now without a record (its records are known to be on their way,
   * e.g. its input has lag), keeping the event time it reached: it holds the watermark back.
   */
  touch(partition: number): void {
    const state = this.states.get(partition);
    if (state) state.activeAt = this.clock();
    else this.states.set(partition, { maxTimestamp: Number.NEGATIVE_INFINITY, activeAt: this.clock() });
  }

  /** How often `rewind` was called: the operator starts its watermark over when it changes. */
  rewinds = 0;

  /**
   * Lets the watermark start over from the partitions' current positions, even below what was
   * emitted (after a rebalance brings partitions that are behind: otherwise their records would
   * all be late). Windows already closed stay closed; records for them correct them.
   */
  rewind(): void {
    this.watermark = -Infinity;
    this.rewinds += 1;
  }

  /** Drops `partition` (revoked on a rebalance): it no longer holds the watermark back. */
  forget(partition: number): void {
    this.states.delete(partition);
  }

  /**
   * The combined watermark as of now: the minimum of the active partitions' watermarks, unless
   * that is lower than before or every partition is idle; -Infinity before the first record.
   */
  current(): number {
    const now = this.clock();
    let min = Infinity;
    for (const state of this.states.values()) {
      if (now - state.activeAt < this.idleTimeoutMs) {
        min = Math.min(min, state.maxTimestamp - this.outOfOrdernessMs);
      }
    }
    if (min !== Infinity && min > this.watermark) this.watermark = min;
    return this.watermark;
  }

  /** Largest event time per partition, in partition order: a snapshot for checkpoints and metrics. */
  partitions(): Map<number, number> {
    const sorted = [...this.states].sort(([a], [b]) => a - b);
    return new Map(sorted.map(([partition, state]) => [partition, state.maxTimestamp]));
  }

  /** Processing time at which the next active partition turns idle; undefined when none is active. */
  nextIdleAt(): number | undefined {
    const now = this.clock();
    let next: number | undefined;
    for (const { activeAt } of this.states.values()) {
      const idleAt = activeAt + this.idleTimeoutMs;
      if (idleAt > now && (next === undefined || idleAt < next)) next = idleAt;
    }
    return next === undefined ? undefined : this.scheduler.now() + (next - now);
  }

  /**
   * Stops the idleness clock: while this process writes the effects of records rather than
   * reading more, a partition that shows none is not idle. `thaw` starts it again.
   */
  freeze(): void {
    this.frozenAt ??= this.scheduler.now();
  }

  /** Starts the idleness clock again: every partition's last activity moves on by the time it stood still. */
  thaw(): void {
    if (this.frozenAt === undefined) return;
    const stood = this.scheduler.now() - this.frozenAt;
    this.frozenAt = undefined;
    for (const state of this.states.values()) state.activeAt += stood;
  }

  /** Processing time as idleness counts it: standing still while frozen. */
  private clock(): number {
    return this.frozenAt ?? this.scheduler.now();
  }
}

export interface WithWatermarksOptions {
  /** On completion, emit a watermark of `Number.MAX_SAFE_INTEGER` first, closing every window (default true). */
  finalWatermarkOnComplete?: boolean;
}

/**
 * Passes the data events through and emits a watermark event right after every data event,
 * or idleness timeout, that advances the tracker's combined watermark; on completion emits a
 * final watermark of `Number.MAX_SAFE_INTEGER`. Watermark events of the input are dropped.
 *
 * ```ts
 * const tracker = new WatermarkTracker({ outOfOrdernessMs: 10_000, idleTimeoutMs: 30_000 });
 * events$.pipe(withWatermarks(tracker), tumblingWindow({ sizeMs: 60_000, ... }))
 * ```
 */
export function withWatermarks<T>(
  tracker: WatermarkTracker,
  options: WithWatermarksOptions = {},
): OperatorFunction<StreamEvent<T>, StreamEvent<T>> {
  const { finalWatermarkOnComplete = true } = options;
  const { scheduler } = tracker;
  return (source) =>
    new Observable<StreamEvent<T>>((subscriber) => {
      // Last watermark emitted downstream.
      let emitted = -Infinity;
      // Wakes up when the next active partition turns idle, so the watermark advances without
      // data. Idleness deadlines only move later (records and restores push them to now +
      // timeout), so a pending timer is never too late; when it fires it re-arms itself.
      let timer: Subscription | null = null;

      // The tracker's rewinds seen: a new one lets the next watermark be lower than the last.
      let rewinds = tracker.rewinds;

      // After a rewind the next watermark goes out even if lower (even -Infinity), before any
      // record, so that records of partitions taken over are not judged by the old one.
      const rewound = () => {
        if (tracker.rewinds === rewinds) return;
        rewinds = tracker.rewinds;
        emitted = tracker.current();
        subscriber.next({ kind: 'watermark', watermark: emitted });
      };

      const advance = () => {
        rewound();
        const watermark = tracker.current();
        if (watermark > emitted) {
          emitted = watermark;
          subscriber.next({ kind: 'watermark', watermark });
        }
      };

      const arm = () => {
        if (timer !== null) return;
        const at = tracker.nextIdleAt();
        if (at === undefined) return;
        timer = scheduler.schedule(() => {
          timer = null;
          advance();
          arm();
        }, at - scheduler.now());
      };

      const subscription = source.subscribe({
        next(event) {
          if (event.kind !== 'data') return;
          rewound();
          tracker.observe(event.channel ?? event.partition, event.timestamp);
          subscriber.next(event);
          advance();
          arm();
        },
        error(error) {
          subscriber.error(error);
        },
        complete() {
          if (finalWatermarkOnComplete && emitted < Number.MAX_SAFE_INTEGER) {
            subscriber.next({ kind: 'watermark', watermark: Number.MAX_SAFE_INTEGER });
          }
          subscriber.complete();
        },
      });

      return () => {
        timer?.unsubscribe();
        subscription.unsubscribe();
      };
    });
}
