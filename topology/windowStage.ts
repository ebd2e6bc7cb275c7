import { Subject, type Subscription } from 'rxjs';
import {
  finalize,
  createRollupAggregator,
  sampleAggregator,
  type RollupAcc,
  type SampleAcc,
  type Slot,
} from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import type { ProcessedBatch, SampleRow } from '../core/records.js';
import type { StreamEvent } from '../core/stream.js';
import { tumblingWindow, type WindowOutput } from '../operators/tumblingWindow.js';
import { WatermarkTracker, withWatermarks } from '../operators/withWatermarks.js';
import type { RollupRow, Tier } from '../sinks/rollupSink.js';
import type { Tasks } from './tasks.js';

/** A record later than its window's allowed lateness, bound for the late topic. */
export interface LateSample {
  tier: Tier;
  partition: number;
  offset: number;
  row: SampleRow;
  reason: string;
}

/** A 1m result on its way into the 1h tier. */
type MinuteResult = Slot & { key: string };

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
 */
export class WindowStage {
  readonly tracker: WatermarkTracker;
  private readonly input = new Subject<StreamEvent<SampleRow>>();
  private readonly subscription: Subscription;
  private results: RollupRow[] = [];
  private late: LateSample[] = [];
  private failure: unknown;

  constructor(
    config: Config,
    private readonly tasks: Tasks<SampleAcc, RollupAcc>,
  ) {
    const { minute, hour, outOfOrdernessMs, idleTimeoutMs } = config.windows;
    this.tracker = new WatermarkTracker({ outOfOrdernessMs, idleTimeoutMs });
    const minutes = new Subject<StreamEvent<MinuteResult>>();
    const minute$ = this.input.pipe(
      withWatermarks<SampleRow>(this.tracker),
      tumblingWindow<SampleRow, SampleAcc>({
        ...minute,
        key: (row) => row.seriesId.toString(),
        aggregator: sampleAggregator,
        store: (partition) => this.tasks.get(partition)?.minute,
        partitions: () => [...this.tasks.all()].map((t) => t.partition),
      }),
    );
    const hour$ = minutes.pipe(
      tumblingWindow<MinuteResult, RollupAcc>({
        ...hour,
        key: (r) => r.key,
        // 1m results can still be corrected until the 1m window's grace and allowed lateness pass.
        aggregator: createRollupAggregator(minute.sizeMs + minute.graceMs + minute.allowedLatenessMs),
        store: (partition) => this.tasks.get(partition)?.hour,
        partitions: () => [...this.tasks.all()].map((t) => t.partition),
      }),
    );
    this.subscription = hour$.subscribe({
      next: (out) => this.collect('1h', out),
      error: (error: unknown) => (this.failure = error),
    });
    this.subscription.add(
      minute$.subscribe({
        next: (out) => {
          this.collect('1m', out);
          // 1m results feed the 1h tier, keyed by series, at the minute's start; watermarks follow.
          if (out.kind === 'result') {
            const aggregate = finalize(out.acc);
            minutes.next({
              kind: 'data',
              partition: out.partition,
              offset: -1,
              timestamp: out.start,
              value: { start: out.start, aggregate, key: out.key },
            });
          } else if (out.kind === 'watermark') minutes.next(out);
        },
        error: (error: unknown) => (this.failure = error),
        complete: () => minutes.complete(),
      }),
    );
  }

  /** Runs a batch's rows through the windows (skipping what the state already holds). */
  push(batch: ProcessedBatch): void {
    const task = this.tasks.get(batch.partition);
    if (!task) throw new Error(`partition ${batch.partition} is not restored`);
    const skipUpTo = task.checkpoint?.offset ?? -1;
    let maxTimestamp = task.checkpoint?.maxTimestamp ?? Number.NEGATIVE_INFINITY;
    for (const row of batch.rows) {
      if (row.offset <= skipUpTo) continue;
      const id = row.seriesId.toString();
      if (!task.series.get(id)) task.series.put(id, { name: row.name, labels: row.labels, kind: row.kind });
      if (row.timestamp > maxTimestamp) maxTimestamp = row.timestamp;
      this.input.next({
        kind: 'data',
        partition: batch.partition,
        offset: row.offset,
        timestamp: row.timestamp,
        value: row,
      });
    }
    if (batch.lastOffset > skipUpTo) task.checkpoint = { offset: batch.lastOffset, maxTimestamp };
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
    let m = 0;
    let h = 0;
    for (const task of this.tasks.all()) {
      m += task.minute.size;
      h += task.hour.size;
    }
    return { '1m': m, '1h': h };
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  private collect<V>(tier: Tier, out: WindowOutput<V, SampleAcc | RollupAcc>): void {
    if (out.kind === 'result') {
      const task = this.tasks.get(out.partition);
      const series = task?.series.get(out.key);
      if (!series) throw new Error(`no series metadata for ${out.key} in partition ${out.partition}`);
      this.results.push({
        tier,
        seriesId: BigInt(out.key),
        series,
        start: out.start,
        end: out.end,
        aggregate: finalize(out.acc),
        revision: out.revision,
      });
    } else if (out.kind === 'late' && tier === '1m') {
      this.late.push({
        tier,
        partition: out.partition,
        offset: out.offset,
        row: out.value as SampleRow,
        reason: out.reason,
      });
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
