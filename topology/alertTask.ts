import { AlertEngine } from '../alerts/engine.js';
import type { RuleSet } from '../alerts/rules.js';
import type { AlertStore } from '../alerts/store.js';
import type { SampleRow } from '../core/records.js';
import { WatermarkTracker } from '../operators/withWatermarks.js';
import type { AlertEvent } from '../schemas/index.js';
import { clockScheduler, type Clock } from '../streams/clock.js';

export interface AlertTaskOptions {
  rules: RuleSet;
  store: AlertStore;
  clock: Clock;
  /** Partitions of the input whose samples the task receives (each its own watermark channel). */
  inputPartitions: number;
  outOfOrdernessMs: number;
  idleTimeoutMs: number;
  /** Event time each input partition reached, as the last checkpoint recorded it. */
  restored?: Record<number, number>;
  /** A rule whose evaluation failed: its alerts stay as they were, the next evaluation tries again. */
  onRuleError?: (rule: { name: string; group: string }, error: Error) => void;
}

/**
 * The task of the alert stage's one input partition: the engine, its store and the watermark
 * over the input partitions the samples came from. `process` applies a sample and evaluates
 * the instants the watermark passes; `punctuate` evaluates without samples, as far as idleness
 * lets the watermark go, and on with the wall clock once everything there is has been read.
 * Time is the injected clock's, so the test driver evaluates rules on virtual time.
 */
export class AlertTask {
  readonly engine: AlertEngine;
  private readonly tracker: WatermarkTracker;
  /** The watermark the samples of the current batch have reached so far. */
  private evaluated = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: AlertTaskOptions) {
    this.tracker = new WatermarkTracker({
      outOfOrdernessMs: o.outOfOrdernessMs,
      idleTimeoutMs: o.idleTimeoutMs,
      scheduler: clockScheduler(o.clock),
    });
    // Every input partition holds the watermark back until it shows samples or turns idle: the
    // first to show some must not run the rules past the others' samples.
    for (let p = 0; p < o.inputPartitions; p++) this.tracker.restore(p, Number.NEGATIVE_INFINITY);
    for (const [p, maxTimestamp] of Object.entries(o.restored ?? {}))
      this.tracker.restore(Number(p), maxTimestamp);
    this.engine = new AlertEngine(o.rules, {
      store: o.store,
      ...(o.onRuleError ? { onError: o.onRuleError } : {}),
    });
  }

  /** Before a batch of samples: the instants evaluated from here are those the watermark passes from now on. */
  beginBatch(): void {
    this.evaluated = this.tracker.current();
  }

  /** Applies a sample (a repeat from a replay upstream replaces the sample it repeats); the events of the instants it lets pass. */
  process(row: SampleRow): AlertEvent[] {
    this.engine.add(row);
    this.tracker.observe(row.origin?.partition ?? 0, row.timestamp);
    const now = this.tracker.current();
    if (now <= this.evaluated) return [];
    this.evaluated = now;
    return this.engine.advance(now);
  }

  /**
   * Evaluation by the wall clock, without samples. `behind`: the input partitions whose samples
   * are still on their way (not idle, however long they take); an empty list when everything
   * there is has been read, and undefined when that is not known. `settled`: every input
   * partition is idle; `followsClock`: event time is the wall clock's (minus the out-of-orderness bound).
   */
  punctuate(behind: ReadonlyArray<number> | undefined): {
    events: AlertEvent[];
    settled: boolean;
    followsClock: boolean;
    watermark: number;
  } {
    for (const p of behind ?? []) this.tracker.touch(p);
    let t = this.tracker.current();
    const settled = this.tracker.nextIdleAt() === undefined;
    let followsClock = false;
    if (settled && behind?.length === 0) {
      // Everything there is has been read: evaluate as far as the newest sample allows (the
      // partitions did not all take part in one watermark before they turned idle), and on
      // with the wall clock.
      const newest = Math.max(...this.tracker.partitions().values());
      t = Math.max(t, newest - this.o.outOfOrdernessMs);
      const wall = this.o.clock.now() - this.o.outOfOrdernessMs;
      followsClock = wall > t;
      t = Math.max(t, wall);
    }
    return { events: this.engine.advance(t), settled, followsClock, watermark: t };
  }

  /** What the checkpoint records with the state: the event time each input partition reached. */
  channels(): Record<number, number> {
    return Object.fromEntries(this.tracker.partitions());
  }
}
