import type { SampleWindowStore } from '../operators/sampleWindow.js';
import type { IHeaders, Message } from 'kafkajs';
import { lastValueFrom, of, Subject, type OperatorFunction, type Subscription } from 'rxjs';
import type avro from 'avsc';
import type { RollupAcc } from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import { RejectError } from '../core/errors.js';
import type { RecordProducer } from '../core/kafka.js';
import { createLogger, type Logger } from '../core/log.js';
import { partitionBatchOf, type Durable, type PartitionBatch, type ProcessedBatch } from '../core/records.js';
import { rowsOf } from '../core/sampleColumns.js';
import { MemoryAlertStore } from '../alerts/store.js';
import { decodeRecords } from '../operators/decodeRecords.js';
import { readRepartitioned } from '../operators/readRepartitioned.js';
import { AlertTask } from './alertTask.js';
import type { RuleSet } from '../alerts/rules.js';
import {
  alertType,
  batchType,
  frame,
  rollupBatchType,
  WIRE_HEADER_BYTES,
  type AlertEvent,
  type Rollup,
  type RollupBatch,
  type Sample,
  type SampleBatch,
} from '../schemas/index.js';
import { LATE_REASON_HEADER } from '../sinks/late.js';
import { RollupSink } from '../sinks/rollupSink.js';
import { AlertSelection, alertInputTopic } from './alertStage.js';
import { buildTopology, NODE } from './graph.js';
import { createTopologyMetrics, type TopologyMetrics } from './metrics.js';
import { windowStoreCodecs } from './storeCodecs.js';
import type { ChangelogEntry } from '../streams/stateStore.js';
import { Tasks } from '../streams/tasks.js';
import { emptyStats, type TopologyStats } from './topology.js';
import { WindowStage } from './windowStage.js';
import { every, FakeClock, settlePromises, type Timer } from '../streams/clock.js';
import { StreamThread, type OwnedOffsets } from './streamThread.js';
import type { Wiring } from '../streams/topologyBuilder.js';
import { tierTopic } from '../core/tiers.js';

/** A record as written to one of the driver's topics. */
export interface OutputRecord {
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
}

export interface TestDriverOptions {
  /** Partitions of the input (and of every topic the topology creates); default 1. */
  partitions?: number;
  /** Wall-clock time the driver starts at (ms since the epoch); default 0. */
  startTime?: number;
  /** Alert rules: with some, the samples they select go to the alert stage's input topic. */
  rules?: RuleSet;
  log?: Logger;
}

/** The schema id that `pipeInput` frames sample batches with; every other id is unknown. */
const SAMPLE_BATCH_SCHEMA_ID = 1;
/** The schema ids the topology registers for its outputs. */
const ROLLUP_SCHEMA_ID = 2;
const LATE_SCHEMA_ID = 3;
const INTERNAL_SCHEMA_ID = 4;
const ALERT_SCHEMA_ID = 5;

/**
 * The whole topology without Kafka, on virtual time, as Kafka Streams' `TopologyTestDriver`
 * (with rules, the alert stage too, every `alerts.tickMs`):
 * `pipeInput` appends records to the input topic (they reach the topology at once, as a fetch
 * would bring them), `advance` moves the wall clock (the buffer's age, idle ticks, the commit
 * interval, the watermark's idleness: everything the topology times runs on it), `readOutput`
 * and `committed` show the topics and offsets, `stores` the tasks' state. Topics live in memory;
 * the repartition topic feeds the windows back as Kafka would; ClickHouse is left out (results
 * and samples are read from the topics).
 *
 * ```ts
 * const driver = new TopologyTestDriver(config);
 * driver.pipeInput(0, [sample]);
 * await driver.advance(60_000);
 * driver.readOutput(tierTopic(config, config.tiers[0]));
 * ```
 */
export class TopologyTestDriver {
  readonly clock: FakeClock;
  readonly stats: TopologyStats = emptyStats();
  readonly metrics: TopologyMetrics = createTopologyMetrics();
  /** What the runtime built of the graph (the instance running now). */
  wiring!: Wiring;
  private readonly topics = new Map<string, Map<number, OutputRecord[]>>();
  private readonly committedOffsets = new Map<string, number>();
  private fetched!: Subject<PartitionBatch>;
  private stop$!: Subject<void>;
  private thread!: StreamThread;
  private tasks!: Tasks<SampleWindowStore, RollupAcc>;
  private stage!: WindowStage;
  private running!: Subscription;
  private done!: Promise<void>;
  private readonly partitions: number;
  private readonly log: Logger;
  private readonly rules: RuleSet | undefined;
  private failure: unknown;
  private closeWindows = false;
  /** The alert stage, with rules: fed from its input topic, evaluated every `alerts.tickMs`. */
  private readonly alerting:
    { task: AlertTask; decode: OperatorFunction<PartitionBatch, ProcessedBatch>; timer: Timer } | undefined;
  /** Alert input records applied so far: the alert task's position. */
  private alertPosition = 0;
  /** The alert stage's turns, one at a time, and how many are not finished. */
  private alertQueue: Promise<unknown> = Promise.resolve();
  private alertTurns = 0;

  constructor(
    private readonly config: Config,
    options: TestDriverOptions = {},
  ) {
    this.partitions = options.partitions ?? 1;
    this.clock = new FakeClock(options.startTime ?? 0, () => this.settle());
    this.log = options.log ?? createLogger('test-driver', 'silent');
    this.rules = options.rules;
    this.start();
    if (options.rules) {
      this.wiring.connect(NODE.alertInputSource, NODE.alertRules);
      this.wiring.connect(NODE.alertRules, NODE.sinkAlerts);
    }
    this.alerting = options.rules
      ? {
          task: new AlertTask({
            rules: options.rules,
            store: new MemoryAlertStore(),
            clock: this.clock,
            inputPartitions: this.partitions,
            outOfOrdernessMs: config.windows.outOfOrdernessMs,
            idleTimeoutMs: config.windows.idleTimeoutMs,
          }),
          decode: (batches) =>
            batches.pipe(
              decodeRecords((id) => this.writerType(id)),
              readRepartitioned(),
            ),
          timer: every(this.clock, config.alerts.tickMs, () => {
            this.alertTurns += 1;
            this.alertQueue = this.alertQueue
              .then(() => this.evaluateAlerts())
              .catch((error: unknown) => (this.failure ??= error))
              .finally(() => (this.alertTurns -= 1));
          }),
        }
      : undefined;
  }

  /**
   * A kill (SIGKILL) and a restart: the running instance stops where it is, with no last commit;
   * a new one restores its tasks from the changelog topics and reads the input again from the
   * committed offsets, as a topology process started anew does.
   */
  async restart(): Promise<void> {
    this.running.unsubscribe();
    this.stage.close();
    this.start();
    await this.settle();
    for (const topic of [this.config.topics.metrics, `${this.config.appId}-repartition`]) {
      for (const [partition, log] of this.topics.get(topic) ?? []) {
        const from = this.committed(topic, partition) ?? 0;
        if (from < log.length) this.fetch(topic, partition, log.slice(from));
      }
    }
    await this.settle();
    this.throwIfFailed();
  }

  /** An instance of the topology over the driver's topics: its tasks, stage and thread, running. */
  private start(): void {
    const config = this.config;
    const log = this.log;
    const repartition = config.input.coPartitioned
      ? undefined
      : { topic: `${config.appId}-repartition`, partitions: this.partitions, schemaId: INTERNAL_SCHEMA_ID };
    const alerts = this.rules
      ? {
          target: { topic: alertInputTopic(config.appId), partitions: 1, schemaId: INTERNAL_SCHEMA_ID },
          selection: new AlertSelection(this.rules),
        }
      : undefined;
    this.tasks = new Tasks(
      (topics, partitions) => Promise.resolve(this.changelogs(topics, partitions)),
      config,
      windowStoreCodecs,
      log,
    );
    const stage = new WindowStage(config, this.tasks, repartition ? this.partitions : undefined, this.clock);
    this.stage = stage;
    const producer = this.producer();
    const all = Array.from({ length: this.partitions }, (_, p) => p);
    const owned: OwnedOffsets = {
      owns: (_topic, partition) => partition < this.partitions,
      assigned: () => all,
      commit: (durable: Durable) => {
        for (const d of durable.values())
          this.committedOffsets.set(`${d.topic}:${d.partition}`, d.lastOffset + 1);
        this.metrics.commits.inc();
        return Promise.resolve();
      },
    };
    this.wiring = buildTopology(config, { alerting: alerts !== undefined }).wiring();
    this.thread = new StreamThread({
      config,
      clock: this.clock,
      log,
      metrics: this.metrics,
      stats: this.stats,
      wiring: this.wiring,
      topic: config.topics.metrics,
      repartition,
      producer,
      offsets: owned,
      writerType: (id) => this.writerType(id),
      rollups: new RollupSink(
        undefined,
        producer,
        config.tiers.map((t) => ({
          name: t.name,
          topic: tierTopic(config, t),
          schemaId: ROLLUP_SCHEMA_ID,
          partitions: this.partitions,
        })),
      ),
      lateSchemaId: LATE_SCHEMA_ID,
      windows: { tasks: this.tasks, stage },
      alerts,
    });
    this.thread.assign(all, true);
    this.fetched = new Subject<PartitionBatch>();
    this.stop$ = new Subject<void>();
    this.done = new Promise<void>((resolve) => {
      this.running = this.thread
        .run(this.fetched, this.stop$, () => this.closeWindows)
        .subscribe({
          error: (error: unknown) => {
            this.failure = error;
            resolve();
          },
          complete: () => resolve(),
        });
    });
  }

  /** Appends one record holding `samples` (a Confluent-framed Avro batch) to input partition `partition`. */
  pipeInput(partition: number, samples: Sample[]): void {
    this.pipeRaw(partition, frame(SAMPLE_BATCH_SCHEMA_ID, batchType.toBuffer({ samples })));
  }

  /** Appends a record with any bytes (e.g. one that does not decode) to input partition `partition`. */
  pipeRaw(partition: number, value: Buffer, key: Buffer | null = null): void {
    if (partition >= this.partitions) throw new Error(`the input has ${this.partitions} partition(s)`);
    this.append(this.config.topics.metrics, partition, [{ key, value }]);
  }

  /** Moves the wall clock on by `ms`, running everything due meanwhile (flushes, ticks, commits) to its end. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
    this.throwIfFailed();
  }

  /** The records of `topic`, every partition, in partition then offset order. */
  readOutput(topic: string): OutputRecord[] {
    return [...(this.topics.get(topic)?.entries() ?? [])]
      .sort(([a], [b]) => a - b)
      .flatMap(([, records]) => records);
  }

  /** The window results published to a tier topic, decoded: one entry per result. */
  readRollups(topic: string): Rollup[] {
    return this.readOutput(topic).flatMap((r) => this.readRollupRecord(r));
  }

  /** The window results one record of a tier topic holds. */
  readRollupRecord(record: OutputRecord): Rollup[] {
    return (rollupBatchType.fromBuffer((record.value as Buffer).subarray(WIRE_HEADER_BYTES)) as RollupBatch)
      .results;
  }

  /** The samples of the late topic, with the reason each missed its window. */
  readLate(): Array<Sample & { reason: string }> {
    return this.readOutput(this.config.topics.late).flatMap((r) => {
      const { samples } = batchType.fromBuffer(
        (r.value as Buffer).subarray(WIRE_HEADER_BYTES),
      ) as SampleBatch;
      return samples.map((s) => ({ ...s, reason: String(r.headers?.[LATE_REASON_HEADER] ?? '') }));
    });
  }

  /** The offset committed for a partition of `topic` (the next to read), undefined before the first commit. */
  committed(topic: string, partition: number): number | undefined {
    return this.committedOffsets.get(`${topic}:${partition}`);
  }

  /** Entries held by the stores of a partition's task. */
  stores(partition: number): { window1m: number; window1h: number; series: number } | undefined {
    const task = this.tasks.get(partition);
    if (!task) return undefined;
    return {
      window1m: task.samples.size,
      window1h: task.rollups.get('window-1h')?.size ?? 0,
      series: task.series.size,
    };
  }

  /** Stops as `run` does: a last commit; with `closeWindows`, every window closed and written first. */
  async close(options: { closeWindows?: boolean } = {}): Promise<void> {
    this.alerting?.timer.cancel();
    this.closeWindows = options.closeWindows ?? false;
    this.stop$.next();
    this.fetched.complete();
    await this.settle();
    await this.done;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Lets the work due now finish: decoding, processing, commits. */
  private async settle(): Promise<void> {
    do await settlePromises();
    while (this.thread.busy || this.alertTurns > 0);
  }

  /** The alert stage's turn: apply what arrived on its input topic, then evaluate by the wall clock. */
  private async evaluateAlerts(): Promise<void> {
    const alerting = this.alerting;
    if (!alerting) return;
    const input = this.topics.get(alertInputTopic(this.config.appId))?.get(0) ?? [];
    const records = input.slice(this.alertPosition);
    this.alertPosition = input.length;
    const events: AlertEvent[] = [];
    if (records.length > 0) {
      const batch = partitionBatchOf(
        {
          topic: alertInputTopic(this.config.appId),
          partition: 0,
          lastOffset: input.length - 1,
          generation: 0,
        },
        records.map((r) => ({ offset: r.offset, key: null, value: r.value, headers: r.headers })),
      );
      const processed = await lastValueFrom(alerting.decode(of(batch)));
      alerting.task.beginBatch();
      for (const row of rowsOf(processed.samples)) events.push(...alerting.task.process(row));
    }
    // Input partitions whose records are not all through the topology are behind, not idle.
    const behind = Array.from({ length: this.partitions }, (_, p) => p).filter(
      (p) =>
        (this.committed(this.config.topics.metrics, p) ?? 0) <
        (this.topics.get(this.config.topics.metrics)?.get(p)?.length ?? 0),
    );
    events.push(...alerting.task.punctuate(behind).events);
    this.append(
      this.config.topics.alerts,
      0,
      events.map((e) => ({ key: e.fingerprint, value: frame(ALERT_SCHEMA_ID, alertType.toBuffer(e)) })),
    );
  }

  /** The alert events published, decoded, in order. */
  readAlerts(): AlertEvent[] {
    return this.readOutput(this.config.topics.alerts).map(
      (r) => alertType.fromBuffer((r.value as Buffer).subarray(WIRE_HEADER_BYTES)) as AlertEvent,
    );
  }

  private writerType(schemaId: number): Promise<avro.Type> {
    if (schemaId === SAMPLE_BATCH_SCHEMA_ID || schemaId === INTERNAL_SCHEMA_ID)
      return Promise.resolve(batchType);
    return Promise.reject(new RejectError(`unknown schema id ${schemaId}`));
  }

  /** In-memory topics behind the producer; records to the repartition topic come back as input of the windows. */
  private producer(): RecordProducer {
    return {
      send: (record) => {
        const byPartition = new Map<number, Message[]>();
        for (const m of record.messages) {
          const p = m.partition ?? 0;
          byPartition.set(p, [...(byPartition.get(p) ?? []), m]);
        }
        for (const [p, messages] of byPartition) this.append(record.topic, p, messages);
        return Promise.resolve([]);
      },
    };
  }

  private append(
    topic: string,
    partition: number,
    messages: ReadonlyArray<Pick<Message, 'key' | 'value' | 'headers'>>,
  ): void {
    let byPartition = this.topics.get(topic);
    if (!byPartition) this.topics.set(topic, (byPartition = new Map()));
    const log = byPartition.get(partition) ?? [];
    byPartition.set(partition, log);
    const first = log.length;
    for (const m of messages)
      log.push({
        partition,
        offset: log.length,
        key: m.key === null || m.key === undefined ? null : m.key.toString(),
        value: m.value === null || m.value === undefined ? null : Buffer.from(m.value),
        headers: m.headers,
      });
    const consumed = topic === this.config.topics.metrics || topic === `${this.config.appId}-repartition`;
    if (!consumed || this.failure !== undefined) return;
    this.fetch(topic, partition, log.slice(first));
  }

  /** Hands records to the running instance as a fetch would, after the send that wrote them returned. */
  private fetch(topic: string, partition: number, records: ReadonlyArray<OutputRecord>): void {
    const last = records.at(-1);
    if (!last) return;
    const batch: PartitionBatch = {
      topic,
      partition,
      records: records.map((r) => ({
        key: r.key === null ? null : Buffer.from(r.key),
        value: r.value,
        headers: r.headers,
      })),
      offsets: Float64Array.from(records, (r) => r.offset),
      lastOffset: last.offset,
      generation: this.thread.currentGeneration,
    };
    const fetched = this.fetched;
    queueMicrotask(() => fetched.next(batch));
  }

  private changelogs(
    topics: ReadonlyArray<string>,
    partitions: ReadonlySet<number>,
  ): Map<string, ChangelogEntry[]> {
    const out = new Map<string, ChangelogEntry[]>();
    for (const topic of topics)
      for (const p of partitions) {
        const records = this.topics.get(topic)?.get(p) ?? [];
        if (records.length > 0)
          out.set(
            `${topic}:${p}`,
            records.map((r) => ({ key: r.key ?? '', value: r.value })),
          );
      }
    return out;
  }
}
