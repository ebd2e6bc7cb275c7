import type { SampleWindowStore } from '../operators/sampleWindow.js';
import { concat, concatMap, defer, filter, from, merge, Observable, share, takeUntil, tap } from 'rxjs';
import type { Config } from '../core/config.js';
import type { RecordProducer } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { Durable, PartitionBatch, ProcessedBatch } from '../core/records.js';
import { bufferRows } from '../operators/bufferRows.js';
import { decodeRecords, type WriterLookup } from '../operators/decodeRecords.js';
import { readRepartitioned } from '../operators/readRepartitioned.js';
import { validateSamples } from '../operators/validateSamples.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { sendLate } from '../sinks/late.js';
import type { WindowResults } from '../sinks/rollupSink.js';
import { sendRepartitioned } from '../sinks/repartition.js';
import type { AlertSelection } from './alertStage.js';
import { NODE, tiersOf } from './graph.js';
import { observeSamplesSink, observeWindowResults, type TopologyMetrics } from './metrics.js';
import type { TopologyStats } from './topology.js';
import type { WindowStage } from './windowStage.js';
import type { RollupAcc } from '../core/aggregate.js';
import { clockScheduler, every, type Clock, type Timer } from '../streams/clock.js';
import { CommitInterval } from '../streams/commitInterval.js';
import { changesOf, type Tasks } from '../streams/tasks.js';
import type { Wiring } from '../streams/topologyBuilder.js';
import type { TierConfig } from '../core/tiers.js';

/**
 * At most this many steps of event time when the windows close at the end of input. On the
 * bench's 1M samples (180,000 open windows), 4 steps peaked at 1.04-1.05 GB resident, 1 step at
 * 1.23-1.25 GB and 17 (one a minute) at 1.20-1.21 GB, in the same time, when each step's results
 * were written before the next step closed its windows. Since a step is written while the next
 * closes (two steps' results held), 8 steps peaked as 4 do on 2M samples (3 runs each).
 */
const CLOSE_STEPS = 4;

/** The consumer group's view the thread needs: what this instance owns, and the commit. */
export interface OwnedOffsets {
  owns(topic: string, partition: number): boolean;
  assigned(topic: string): number[];
  /** Commits what `durable` says is done with, unless the group rebalanced since `generation`. */
  commit(durable: Durable, generation: number): Promise<void>;
}

/** Where the raw rows go (ClickHouse); without one, records are done once their other effects are. */
export interface RawSink {
  write(batches: ProcessedBatch[]): Promise<Durable>;
  /** After a rebalance: what was being written may belong to another instance now. */
  reassigned(): void;
}

/** Where window results go (the tier topics and tables). */
export interface ResultSink {
  writeResults(results: WindowResults): Promise<void>;
}

/** An internal topic the thread sends validated samples to, by series id. */
export interface RepartitionTarget {
  topic: string;
  partitions: number;
  schemaId: number;
}

export interface StreamThreadOptions {
  config: Config;
  clock: Clock;
  log: Logger;
  metrics: TopologyMetrics;
  stats: TopologyStats;
  /** The graph's wiring: the thread records every node and edge it builds. */
  wiring: Wiring;
  /** The input topic, and the repartition topic the windows read instead when there is one. */
  topic: string;
  repartition?: RepartitionTarget;
  producer: RecordProducer;
  offsets: OwnedOffsets;
  writerType: WriterLookup;
  sink?: RawSink;
  rollups: ResultSink;
  lateSchemaId: number;
  /** The windows: the tasks with their stores, and the stage that runs the tiers over them. */
  windows?: { tasks: Tasks<SampleWindowStore, RollupAcc>; stage: WindowStage };
  alerts?: { target: RepartitionTarget; selection: AlertSelection };
  /** Called with every batch once decoded and validated: the fetch limit weighs what it holds from then on. */
  weigh?: (batch: ProcessedBatch) => void;
  /** Called with every batch once it is done with (processed, or dropped as stale): the fetch limit's release. */
  release?: (batch: ProcessedBatch) => void;
}

/**
 * The loop of one topology instance (Kafka Streams' StreamThread): the fetched batches go
 * through decode → validate → buffer, then each buffered group is processed (raw rows, the
 * repartition and alert topics, the window tiers of the partitions' tasks, dead letters), and
 * the state and offsets are committed every `sink.commitIntervalMs` or when the input goes
 * quiet. Time is the injected clock's: the buffer's age, the idle ticks, the commit interval
 * and the watermark's idleness, so that the test driver runs it all on virtual time. The windows
 * close by punctuation only: stream time as records move the watermark, wall clock at the start
 * of a turn once due (the thread wakes for it); nothing closes a window between two turns.
 *
 * A group's writes run while the next group goes through the windows (one group's at a time,
 * in order); a commit waits for them.
 *
 * A rebalance (`assign`) only notes the new assignment; the tasks and the watermark take it at
 * the thread's next turn, never in the middle of processing or of a commit.
 */
export class StreamThread {
  /** Rebalances so far: batches fetched before the last one are fetched again, and dropped. */
  private generation = 0;
  /** An assignment the tasks have not taken yet (partitions of the windows' topic, and whether some were gained). */
  private pending: { assigned: number[]; gained: boolean; revoked: Set<number> } | undefined;
  /** The windows' partitions of the last assignment (taken or not). */
  private lastAssigned: number[] = [];
  /** When this process last ran records through the windows. */
  private lastPush: number;
  /** Records whose effects are durable and whose offsets wait for the next commit. */
  private uncommitted: Durable = new Map();
  /** The generation the uncommitted records were fetched in. */
  private uncommittedIn = 0;
  /** Two tick intervals without records is a quiet input. */
  private readonly commitInterval: CommitInterval;
  private readonly windowTopic: string;
  /** Groups handed to `process` and not finished: the test driver waits for none. */
  private queued = 0;
  /**
   * The writes of the last group processed (its rows, window results, late and dead letters),
   * still in flight while the next group runs through the windows: the engine's inserts and the
   * broker's acknowledgements take the other core meanwhile. One group's writes at a time, in
   * order; a commit waits for them.
   */
  private writing: Promise<void> = Promise.resolve();
  /** The first write that failed: every write after it fails too, and a tick that writes nothing throws it. */
  private writeFailure: { error: unknown } | undefined;
  /** Groups whose writes are not finished (the test driver waits for none). */
  private writes = 0;
  /** While running: asks for a turn (a tick) at processing time `at`, unless one is asked for by then. */
  private wakeAt: ((at: number) => void) | undefined;

  constructor(private readonly o: StreamThreadOptions) {
    const now = o.clock.now();
    this.lastPush = now;
    this.commitInterval = new CommitInterval(o.config.sink.commitIntervalMs, 2 * o.config.sink.maxMs, () =>
      o.clock.now(),
    );
    this.windowTopic = o.repartition?.topic ?? o.topic;
    const w = o.wiring;
    w.connect(NODE.source, NODE.decode);
    w.connect(NODE.decode, NODE.validate);
    w.connect(NODE.decode, NODE.sinkDlq);
    w.connect(NODE.validate, NODE.sinkDlq);
    w.connect(NODE.validate, NODE.sinkSamples);
    if (o.repartition) {
      w.connect(NODE.validate, NODE.repartitionSink);
      w.connect(NODE.repartitionSource, NODE.repartitionDlq);
    }
    if (o.alerts) w.connect(NODE.validate, NODE.alertInputSink);
    if (o.windows) {
      w.connect(o.repartition ? NODE.repartitionSource : NODE.validate, NODE.watermark);
      for (const tier of tiersOf(o.config)) {
        w.connect(tier.from === 'raw' ? NODE.watermark : NODE.window(tier.from), NODE.window(tier.name));
        w.connect(NODE.window(tier.name), NODE.tierTopic(tier.name));
        w.connect(NODE.window(tier.name), NODE.tierTable(tier.name));
        if (tier.from === 'raw') w.connect(NODE.window(tier.name), NODE.sinkLate);
      }
    }
  }

  /** The current consumer group generation, stamped on fetched batches. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** Whether a group is being processed, or its writes are in flight. */
  get busy(): boolean {
    return this.queued > 0 || this.writes > 0;
  }

  /**
   * A rebalance: the assignment of every topic consumed. The tasks of gained partitions start
   * restoring now, while the first records are fetched; the tasks and the watermark take the
   * assignment at the next turn. A partition that left the assignment since the last turn and
   * came back gets its state restored again then: another instance may have owned it meanwhile.
   */
  assign(assigned: number[], gained: boolean): void {
    this.generation += 1;
    // After the writes in flight, which may still be the raw sink's (of the group before).
    void this.chain(async () => this.o.sink?.reassigned());
    const before = this.pending;
    const revoked = new Set(before?.revoked);
    for (const p of this.lastAssigned) if (!assigned.includes(p)) revoked.add(p);
    this.lastAssigned = assigned;
    this.pending = { assigned, gained: gained || (before?.gained ?? false), revoked };
    this.o.windows?.tasks.prefetch(assigned.filter((p) => !revoked.has(p)));
  }

  /** True once every partition of the windows' topic has its task restored (and the group was joined). */
  restored(): boolean {
    const windows = this.o.windows;
    if (!windows) return true;
    if (this.generation === 0 || this.pending) return false;
    return this.o.offsets.assigned(this.windowTopic).every((p) => windows.tasks.get(p));
  }

  /**
   * The whole pipeline over `fetched$`: decode, validate, buffer, process; an idle tick every
   * `sink.maxMs` (so windows closed by idleness are written while no records come); at the end a
   * last commit, and with `closeWindows()` true every window closed as at the end of input.
   */
  run(
    fetched$: Observable<PartitionBatch>,
    stop$: Observable<void>,
    closeWindows: () => boolean,
  ): Observable<void> {
    const { config, clock, repartition, topic } = this.o;
    const decoded$ = fetched$.pipe(takeUntil(stop$), decodeRecords(this.o.writerType), share());
    const validated$ = decoded$.pipe(
      filter((b) => b.topic === topic),
      validateSamples(config.validation, () => clock.now()),
    );
    const scheduler = clockScheduler(clock);
    const batches$ = (
      repartition
        ? merge(
            validated$,
            decoded$.pipe(
              filter((b) => b.topic === repartition.topic),
              readRepartitioned(),
            ),
          )
        : validated$
    ).pipe(
      tap((batch) => this.o.weigh?.(batch)),
      bufferRows({
        maxRows: config.sink.maxRows,
        maxMs: config.sink.maxMs,
        weigh: (b) => b.samples.length + b.rejects.length + 1,
        scheduler,
      }),
    );
    const ticks$ = new Observable<ProcessedBatch[]>((subscriber) => {
      const ticking = every(clock, config.sink.maxMs, () => subscriber.next([]));
      let wakeUp: { at: number; timer: Timer } | undefined;
      this.wakeAt = (at) => {
        if (wakeUp && wakeUp.at <= at) return;
        wakeUp?.timer.cancel();
        const timer = clock.schedule(at - clock.now(), () => {
          wakeUp = undefined;
          subscriber.next([]);
        });
        wakeUp = { at, timer };
      };
      return () => {
        ticking.cancel();
        wakeUp?.timer.cancel();
        this.wakeAt = undefined;
      };
    }).pipe(takeUntil(stop$));
    return concat(
      merge(batches$, ticks$).pipe(
        concatMap((group) => {
          this.queued += 1;
          return from(this.process(group).finally(() => (this.queued -= 1)));
        }),
      ),
      // What the last flushes left uncommitted: committed once, after the windows closed if
      // they close (the state they leave is what the changelogs then need, not the state before).
      defer(() => {
        const windows = this.o.windows;
        if (!closeWindows() || !windows) return from(this.commit());
        return from(this.closeAtEnd(windows.stage).then(() => this.commit()));
      }),
    );
  }

  /** One buffered group of batches (empty: a tick), processed, its offsets noted for the next commit. */
  async process(group: ProcessedBatch[]): Promise<void> {
    this.takeAssignment();
    const { windows, offsets, clock, config } = this.o;
    // Batches fetched before the last rebalance come again from the last commit: drop them.
    const stale = group.filter((b) => b.generation !== this.generation);
    if (stale.length > 0) {
      for (const b of stale) this.o.release?.(b);
      group = group.filter((b) => b.generation === this.generation);
    }
    // The wall-clock punctuation, if due: partitions that turned idle stop holding the watermark
    // back, and the windows it then passes close; their results are written with this group.
    // Before `resume`, which would count a stall of this process as activity.
    windows?.stage.punctuate('wallClock', clock.now());
    if (windows && clock.now() - this.lastPush > config.windows.idleTimeoutMs / 2)
      windows.stage.resume(offsets.assigned(this.windowTopic));
    // Partitions do not turn idle while this process is busy with a flush.
    windows?.stage.freeze();
    try {
      await this.flushGroup(group, this.generation);
    } finally {
      windows?.stage.thaw();
    }
    // The next wall-clock punctuation is due when a partition turns idle (Kafka Streams' thread
    // wakes for a wall-clock schedule): a turn then, ticks or not, so that the watermark moves
    // as of that instant, as it would if a record came.
    const due = windows?.stage.nextPunctuation();
    if (due !== undefined) this.wakeAt?.(due);
  }

  /**
   * Kafka Streams' commit.interval.ms: the state stores' changes go to their changelogs and the
   * offsets are committed together, every `sink.commitIntervalMs` and as soon as the input goes
   * quiet, not after every flush: a series' changelog record then carries the changes of
   * several flushes. Everything else a flush does (rows, window results, dead letters) is
   * durable before its records count as done here; a crash replays at most one interval, which
   * the sinks make idempotent.
   */
  async commit(): Promise<void> {
    this.startCommit();
    await this.writing;
  }

  /**
   * A commit as `commit`, without waiting for it: the state's changes are collected (encoded)
   * now, and written, then the offsets committed, once the writes in flight are done (the
   * changelogs then cover only records whose effects are durable); the next group's writes
   * follow them. The thread processes the next group meanwhile.
   */
  private startCommit(): void {
    // Tasks revoked meanwhile leave first: their changes are the new owner's to make.
    this.takeAssignment();
    const { windows, producer, offsets } = this.o;
    const changes = windows?.tasks.collect();
    const collectedIn = this.generation;
    const collectedTasks = new Map([...(windows?.tasks.all() ?? [])].map((t) => [t.partition, t]));
    this.commitInterval.committed();
    void this.chain(async () => {
      if (windows && changes) {
        // After a rebalance since the collect, a revoked partition's changes are its new owner's
        // to make: only those of partitions still owned, by the same task, are written.
        const mine =
          collectedIn === this.generation
            ? changes
            : changesOf(
                changes,
                (p) => offsets.owns(this.windowTopic, p) && windows.tasks.get(p) === collectedTasks.get(p),
              );
        await windows.tasks.write(producer, mine);
      }
      // After a rebalance, the partitions' owners replay from the last commit (idempotently): a
      // commit of records fetched before it could go behind one made meanwhile.
      if (this.uncommitted.size > 0 && this.uncommittedIn === this.generation)
        await offsets.commit(this.uncommitted, this.uncommittedIn);
      this.uncommitted = new Map();
    });
  }

  /**
   * Runs `write` once the writes in flight are done, as the last of them; returns the previous
   * last. A failure surfaces where the writes are awaited: the next group, the commit.
   */
  private chain(write: () => Promise<void>): Promise<void> {
    const previous = this.writing;
    this.writes += 1;
    const writing = (async () => {
      try {
        await previous;
        await write();
      } finally {
        this.writes -= 1;
      }
    })();
    this.writing = writing;
    writing.catch((error: unknown) => (this.writeFailure ??= { error }));
    return previous;
  }

  /** Records whose effects are stored and whose offsets wait for the next commit (of the current generation). */
  durable(): Durable {
    return this.uncommittedIn === this.generation ? this.uncommitted : new Map();
  }

  /** The tasks and the watermark take the last assignment: revoked tasks leave, gained ones restore. */
  private takeAssignment(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    const windows = this.o.windows;
    if (!windows) return;
    // Partitions that left since the last turn leave with their state, even if they came back.
    const revoked = windows.tasks.retain(pending.assigned.filter((p) => !pending.revoked.has(p)));
    windows.tasks.assign(pending.assigned);
    windows.stage.rebalanced(pending.assigned, revoked, pending.gained);
  }

  /**
   * Closes every window as at the end of input, in steps of event time (at most
   * `CLOSE_STEPS`, each at least one window of the first tier long) from the watermark to the
   * event time reached: the results of a backlog of open windows (a bench's 17 minutes of
   * 10,000 series: 180,000 windows) are never all held at once. A step's results are written
   * while the next step closes its windows (one step's writes in flight, in order). The windows
   * close as they would have at those watermarks, each once.
   */
  private async closeAtEnd(stage: WindowStage): Promise<void> {
    const close = async (punctuate: () => void) => {
      punctuate();
      const out = stage.drain();
      await this.chain(() => this.writeEffects(out));
    };
    const started = performance.now();
    const before = { ...this.o.stats.rollups };
    this.o.log.info('end of the input: closing the open windows');
    const from = stage.watermark();
    const to = stage.eventTimeReached();
    if (Number.isFinite(from) && Number.isFinite(to)) {
      const step = Math.max(this.o.config.tiers[0]?.sizeMs ?? 60_000, (to - from) / CLOSE_STEPS);
      for (let t = from + step; t < to; t += step) await close(() => stage.punctuate('streamTime', t));
    }
    await close(() => stage.complete());
    await this.writing;
    const results = Object.fromEntries(
      Object.entries(this.o.stats.rollups).map(([tier, n]) => [tier, n - (before[tier] ?? 0)]),
    );
    this.o.log.info({ results, ms: Math.round(performance.now() - started) }, 'windows closed and written');
  }

  /** Window results and late records drained from the stage, written. */
  private async writeEffects(out: ReturnType<WindowStage['drain']>): Promise<void> {
    const { rollups, producer, config, stats, metrics, lateSchemaId } = this.o;
    if (!hasEffects(out)) return;
    const started = performance.now();
    await rollups.writeResults(out.results);
    await sendLate(producer, config.topics.late, lateSchemaId, out.late);
    for (const tier of out.results.tiers())
      stats.rollups[tier] = (stats.rollups[tier] ?? 0) + (out.results.columns(tier)?.length ?? 0);
    observeWindowResults(metrics, out.results, started);
    stats.late += out.late.length;
    if (out.late.length > 0) metrics.late.inc({ tier: firstTier(config) }, out.late.length);
  }

  /**
   * Runs a group through the windows, then hands its writes on: they start once the previous
   * group's are done and run while the next group is processed. Returns once the previous
   * group's writes are done (at most one group's in flight), starting a commit if one is due
   * (its writes follow this group's). A tick that has nothing to write returns at once.
   */
  private async flushGroup(group: ProcessedBatch[], fetchedIn: number): Promise<void> {
    const { windows, offsets, repartition, clock } = this.o;
    // Sub-topology 0 reads the input; the windows read the repartition topic if there is one.
    const keyed = repartition ? group.filter((b) => b.topic === repartition.topic) : group;
    // Records of partitions revoked since they were fetched are left to their new owner.
    const windowed = windows ? keyed.filter((b) => offsets.owns(this.windowTopic, b.partition)) : [];
    for (const batch of windowed) await windows?.tasks.ready(batch.partition);
    windows?.stage.push(windowed);
    if (group.length > 0) this.lastPush = clock.now();
    // What this turn (and the punctuation before it) produced, taken now: the next group's
    // results are its own.
    const effects = windows?.stage.drain();
    // A tick that closed no window has nothing to write: it does not wait for the writes in
    // flight, which would hold up the group fetched meanwhile behind it (the next group runs
    // through the windows while they go on, as after a group with records).
    if (group.length === 0 && !hasEffects(effects)) {
      // A write that failed fails the pipeline here too, not only at the next group of records.
      if (this.writeFailure) throw this.writeFailure.error;
      this.observeState();
      // A quiet input's commit, once nothing is in flight: a stuck write (storage full) does not
      // queue one commit per tick behind it.
      if (this.writes === 0 && this.commitInterval.due(false)) this.startCommit();
      return;
    }
    const previous = this.chain(() => this.writeGroup(group, fetchedIn, effects));
    await previous;
    // Groups queue up behind a long flush: only time tells a quiet input from a busy one.
    if (this.commitInterval.due(group.length > 0)) this.startCommit();
  }

  /** A group's effects written (rows, repartition and alert topics, window results, dead letters), its offsets noted. */
  private async writeGroup(
    group: ProcessedBatch[],
    fetchedIn: number,
    effects: ReturnType<WindowStage['drain']> | undefined,
  ): Promise<void> {
    const { sink, repartition, alerts, producer, config, stats, metrics, log } = this.o;
    const started = performance.now();
    // A rebalance since the group was processed: its records come again (in the new generation,
    // here or at their new owner), and the raw sink has started over; only the window effects,
    // which the tasks' state already holds, are written now.
    const current = this.generation === fetchedIn;
    const mine = current ? group : [];
    const input = repartition ? mine.filter((b) => b.topic === this.o.topic) : mine;
    const keyed = repartition ? mine.filter((b) => b.topic === repartition.topic) : mine;
    // The raw rows and the window effects do not depend on each other: they are written at the
    // same time (the embedded engine inserts on its own thread while this one encodes results).
    // The commit waits for both.
    const [durable] = await Promise.all([
      (async () => {
        const sinkStarted = performance.now();
        const written = sink && current ? await sink.write(input) : everything(input);
        observeSamplesSink(metrics, input, sinkStarted);
        if (repartition) {
          const sent = await sendRepartitioned(producer, repartition, input);
          stats.repartitioned += sent;
          metrics.recordsOut.inc({ stage: 'repartition' }, sent);
          for (const [key, d] of everything(keyed)) written.set(key, d);
        }
        if (alerts) {
          // Sub-topology 0 hands the samples the rules need to the alert stage (one partition).
          const sent = await sendRepartitioned(producer, alerts.target, alerts.selection.select(input));
          stats.toAlerts += sent;
          metrics.recordsOut.inc({ stage: 'alerts' }, sent);
        }
        return written;
      })(),
      effects ? this.writeEffects(effects) : undefined,
    ]);
    const rejects = current ? group.flatMap((b) => b.rejects) : [];
    await sendToDeadLetter(producer, config.topics.dlq, rejects);
    if (this.generation === fetchedIn) {
      if (this.uncommittedIn !== fetchedIn) {
        this.uncommitted = new Map();
        this.uncommittedIn = fetchedIn;
      }
      for (const [key, d] of durable) {
        const at = this.uncommitted.get(key);
        if (at === undefined || d.lastOffset > at.lastOffset) this.uncommitted.set(key, d);
      }
    }
    // Their effects are durable: the records no longer count against the fetch limit.
    for (const b of group) this.o.release?.(b);
    const records = input.reduce((n, b) => n + b.recordCount, 0);
    const rows = input.reduce((n, b) => n + b.samples.length, 0);
    stats.records += records;
    stats.stored += rows;
    stats.deadLettered += rejects.length;
    stats.flushes += 1;
    metrics.recordsIn.inc({ stage: 'source' }, records);
    metrics.recordsOut.inc({ stage: 'validate' }, rows);
    metrics.recordsOut.inc({ stage: 'sink_samples' }, rows);
    metrics.recordsOut.inc({ stage: 'dlq' }, rejects.length);
    for (const r of rejects) metrics.deadLettered.inc({ reason_kind: r.stage });
    this.observeState();
    if (group.length > 0)
      log.debug(
        { records, rows, rejects: rejects.length, ms: Math.round(performance.now() - started) },
        'flushed',
      );
  }

  /** The watermark, open windows and state stores as gauges, after each group and each tick. */
  private observeState(): void {
    const { windows, metrics } = this.o;
    if (!windows) return;
    metrics.watermarkSeconds.set(
      { tier: firstTier(this.o.config) },
      Math.max(0, windows.stage.watermark() / 1000),
    );
    for (const [tier, open] of Object.entries(windows.stage.openWindows()))
      metrics.windowOpen.set({ tier }, open);
    for (const t of windows.tasks.all()) {
      for (const store of [t.samples, ...t.rollups.values(), t.series]) {
        metrics.stateBytes.set({ store: `${store.name}-${t.partition}` }, store.approximateBytes);
        metrics.stateEntries.set({ store: `${store.name}-${t.partition}` }, store.size);
      }
    }
  }
}

/** Whether a turn of the windows produced anything to write: results or late records. */
function hasEffects(out: ReturnType<WindowStage['drain']> | undefined): boolean {
  return out !== undefined && (out.results.length > 0 || out.late.length > 0);
}

/** Without a raw sink, everything fetched is done with once the other effects are durable. */
function everything(group: ReadonlyArray<ProcessedBatch>): Durable {
  const durable: Durable = new Map();
  for (const b of group) {
    const key = `${b.topic}\u0000${b.partition}`;
    const at = durable.get(key)?.lastOffset ?? -1;
    durable.set(key, { topic: b.topic, partition: b.partition, lastOffset: Math.max(at, b.lastOffset) });
  }
  return durable;
}

/** The tier over the samples: its watermark and late records are the topology's. */
function firstTier(config: Config): string {
  return (config.tiers[0] as TierConfig).name;
}
