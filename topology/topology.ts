import type { SampleWindowStore } from '../operators/sampleWindow.js';
import type { Kafka, Producer } from 'kafkajs';
import { lastValueFrom, Subject, tap } from 'rxjs';
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../streams/clock.js';
import { StreamThread } from './streamThread.js';
import type { Wiring } from '../streams/topologyBuilder.js';
import { ConsumerRuntime } from '../streams/consumerRuntime.js';
import { readChangelogs } from '../streams/readToEnd.js';
import { buildTopology } from './graph.js';
import type { RollupAcc } from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { batchSchema, rollupBatchSchema } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { RollupSink, type TierOutput } from '../sinks/rollupSink.js';
import { repartitionTopic } from '../sinks/repartition.js';
import { SamplesSink } from '../sinks/samplesSink.js';
import { watchStorage } from './storageWatch.js';
import { ensureTables } from '../sinks/tables.js';
import type { RuleSet } from '../alerts/rules.js';
import { ensureTopics, partitionCount } from '../core/kafka.js';
import { AlertSelection, alertInputTopic, alertTopicSpecs } from './alertStage.js';
import { watchEventLoop } from '../streams/eventLoop.js';
import { batchKey, InFlight, kafkaSource, processedBytes } from '../streams/kafkaSource.js';
import { windowStoreCodecs } from './storeCodecs.js';
import { GroupOffsets } from '../streams/groupOffsets.js';
import { Tasks } from '../streams/tasks.js';
import { prepareTopics } from './topics.js';
import { WindowStage } from './windowStage.js';
import { createTopologyMetrics, PartitionLag, type TopologyMetrics } from './metrics.js';
import { tierTopic } from '../core/tiers.js';
import { Signal } from '../core/signal.js';

export interface TopologyDeps {
  config: Config;
  kafka: Kafka;
  registry: Registry;
  /**
   * Where raw samples and window results are stored. Without it (`run --sink topics`), window
   * results go to the tier topics only and a loader (`metrics-pipeline load`) stores everything:
   * several instances can then share one embedded ClickHouse, which admits one process.
   */
  clickhouse: ClickHouse | undefined;
  /** Run the window stages (default true); the loader runs the raw path only. */
  windows?: boolean;
  /**
   * Alert rules (loaded from `alerts.rules`): with the windows, the samples they select also go
   * to the alert stage's input topic (see `startAlertStage`).
   */
  rules?: RuleSet;
  log: Logger;
  /** Processing time (default: the wall clock). */
  clock?: Clock;
  /**
   * Awaited once the topology stopped normally (flushed and committed), before its consumer
   * leaves the group: stream threads of one process leave together (topology/streamThreads.ts),
   * so that none of them rebalances while another still commits.
   */
  beforeLeave?: () => Promise<void>;
  /**
   * The consumer joins the group once this settles (default: at once): stream threads of one
   * process join together, so that few join in a generation of their own.
   */
  joinAfter?: Promise<unknown>;
  /** The tables exist already (created by whoever started this instance): not again. */
  tablesReady?: boolean;
  /** Records wait for this before they are processed (see `KafkaSourceOptions.processAfter`). */
  processAfter?: Promise<unknown>;
  /** Called at every assignment of the group, with this instance's partitions of the input. */
  onAssign?: (partitions: number[]) => void;
}

export interface TopologyStats {
  records: number;
  stored: number;
  deadLettered: number;
  late: number;
  /** Window results per tier name. */
  rollups: Record<string, number>;
  /** Samples sent to the repartition topic. */
  repartitioned: number;
  /** Samples sent to the alert stage. */
  toAlerts: number;
  flushes: number;
}

/** Counts of a topology that has not consumed anything yet. */
export function emptyStats(): TopologyStats {
  return {
    records: 0,
    stored: 0,
    deadLettered: 0,
    late: 0,
    rollups: {},
    repartitioned: 0,
    toAlerts: 0,
    flushes: 0,
  };
}

export interface RunningTopology {
  stats: TopologyStats;
  metrics: TopologyMetrics;
  /** The nodes and edges of the graph that this instance built (`describe` shows the graph). */
  wiring: Wiring;
  /** Bytes of window and series state held by this instance (as last written to the changelogs). */
  stateBytes(): number;
  /** Resolves when the topology has stopped (after `stop()`, or on a fatal error, which it rejects with). */
  done: Promise<void>;
  /** Consuming: the group joined, the consumer neither stopped nor failed. */
  ready(): boolean;
  /** Why it is not ready, or undefined when it is. */
  problem(): string | undefined;
  /**
   * Stops consuming, flushes and commits what was consumed, disconnects. With `closeWindows`,
   * first closes every open window as at the end of input and writes the results.
   */
  stop(options?: {
    closeWindows?: boolean;
    /** Writes waiting for storage give up (the process is asked to stop): see `StorageHealth.abandon`. */
    abandon?: boolean;
  }): Promise<void>;
  /** True once every partition of the input (and of the repartition topic) is committed up to its end. */
  isIdle(): Promise<boolean>;
  /**
   * Calls `listener` each time every record fetched is processed and written, and after each
   * commit (until the returned function is called): a moment to look for the end of the input
   * (`run --exit-when-idle`) without waiting for the next poll.
   */
  onSettled?(listener: () => void): () => void;
}

/**
 * The topology on Kafka: the graph of `buildTopology` (topology/graph.ts; `metrics-pipeline
 * describe` prints it) run by a `StreamThread` over one consumer of the input (and of the
 * repartition topic, with `input.coPartitioned: false`: two sub-topologies in one consumer, as
 * Kafka Streams' `groupBy`), one idempotent producer, the tasks' changelogs and the group's
 * offsets. This function creates the topics, tables and schemas, and connects those edges.
 */
export async function startTopology(deps: TopologyDeps): Promise<RunningTopology> {
  const { config, kafka, registry, clickhouse, log } = deps;
  const clock = deps.clock ?? systemClock;
  const windowed = deps.windows ?? true;
  const topic = config.topics.metrics;
  const repartition = windowed && !config.input.coPartitioned ? repartitionTopic(config.appId) : undefined;
  /** The topic the windows read; the topics consumed, in topology order. */
  const windowTopic = repartition ?? topic;
  const sources = repartition ? [topic, repartition] : [topic];
  // The loader reads the input on its own, as a second consumer group.
  const groupId = windowed ? config.appId : `${config.appId}-loader`;
  const tasks = new Tasks<SampleWindowStore, RollupAcc>(
    (changelogs, partitions) =>
      readChangelogs(kafka, `${config.appId}-restore-${randomUUID()}`, changelogs, partitions),
    config,
    windowStoreCodecs,
    log.child({ stage: 'state' }),
  );
  const admin = kafka.admin();
  await admin.connect();
  const inputPartitions = await prepareTopics(admin, config, {
    repartition,
    stores: windowed ? (partitions) => tasks.topics(partitions) : undefined,
  });
  if (windowed && deps.rules) await ensureTopics(admin, alertTopicSpecs(config));
  if (clickhouse && !deps.tablesReady) await ensureTables(clickhouse, config, log);
  const tierOutputs: TierOutput[] = [];
  for (const tier of config.tiers) {
    const topic = tierTopic(config, tier);
    tierOutputs.push({
      name: tier.name,
      topic,
      schemaId: await registry.register(`${topic}-value`, rollupBatchSchema),
      partitions: await partitionCount(admin, topic),
    });
  }
  const lateSchemaId = await registry.register(`${config.topics.late}-value`, batchSchema);
  const alertTarget =
    windowed && deps.rules
      ? {
          topic: alertInputTopic(config.appId),
          partitions: 1,
          schemaId: await registry.register(`${alertInputTopic(config.appId)}-value`, batchSchema),
        }
      : undefined;
  const selection = alertTarget && deps.rules ? new AlertSelection(deps.rules) : undefined;
  const repartitionTarget = repartition
    ? {
        topic: repartition,
        partitions: inputPartitions,
        schemaId: await registry.register(`${repartition}-value`, batchSchema),
      }
    : undefined;

  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const rollups = new RollupSink(clickhouse, producer, tierOutputs);
  const stage = windowed
    ? new WindowStage(config, tasks, repartition ? inputPartitions : undefined, clock)
    : undefined;
  const inFlight = new InFlight();
  // Moments the end of the input may have been reached: every record fetched written, or a commit
  // done (with stream threads, each looks at the others' partitions as committed).
  const settled = new Signal();
  inFlight.onEmpty(() => settled.emit());
  const stats = emptyStats();
  const metrics = createTopologyMetrics(
    undefined,
    config.tiers.map((t) => t.name),
  );
  const unwatchStorage = clickhouse ? watchStorage(clickhouse.health, metrics, log) : () => undefined;
  /**
   * The consumer loop. It counts rebalances as the thread does (both on every assignment):
   * batches fetched before the last one are fetched again, and dropped; their commits fenced.
   */
  const lag = new PartitionLag(metrics.consumerLag);
  const runtime = new ConsumerRuntime({
    kafka,
    name: 'topology',
    groupId,
    topics: sources,
    consumer: {
      sessionTimeout: config.kafka.sessionTimeoutMs,
      // A member learns of a rebalance at its next heartbeat: within a second, not a fifth of
      // the session (6 s by default), which other members of the group (stream threads joining
      // together, instances scaling out) would spend waiting for it.
      heartbeatInterval: Math.min(1000, Math.floor(config.kafka.sessionTimeoutMs / 5)),
      maxBytesPerPartition: 4 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      // A fetch waits this long for records when there are none; stopping waits for it to return
      // (kafkajs' default, 5 s, was most of the time `run --exit-when-idle` took to exit).
      maxWaitTimeInMs: 500,
    },
    onAssign: (assignment) => {
      lag.assigned(assignment);
      const assigned = assignment[windowTopic] ?? [];
      const gained = assigned.filter((p) => !offsets.owns(windowTopic, p));
      offsets.assign(assignment);
      thread.assign(assigned, gained.length > 0);
      deps.onAssign?.(assignment[topic] ?? []);
      log.info(
        {
          assigned: assignment[topic],
          ...(repartition ? { repartition: assigned } : {}),
          generation: thread.currentGeneration,
        },
        'partitions assigned',
      );
    },
    onLag: (lagTopic, partition, behind) => lag.set(lagTopic, partition, behind),
    log,
  });
  const offsets = new GroupOffsets({ runtime, admin, groupId, topics: sources, repartition, metrics, log });
  const wiring = buildTopology(config, { windows: windowed, alerting: alertTarget !== undefined }).wiring();
  const thread = new StreamThread({
    config,
    clock,
    log,
    metrics,
    stats,
    wiring,
    topic,
    repartition: repartitionTarget,
    producer,
    offsets: {
      owns: (t, p) => offsets.owns(t, p),
      assigned: (t) => offsets.assigned(t),
      commit: async (durable, generation) => {
        await offsets.commit(durable, generation);
        settled.emit();
      },
    },
    writerType: (id) => registry.writerType(id),
    sink: clickhouse ? new SamplesSink(clickhouse, log.child({ stage: 'sink-samples' })) : undefined,
    rollups,
    lateSchemaId,
    windows: stage ? { tasks, stage } : undefined,
    alerts: alertTarget && selection ? { target: alertTarget, selection } : undefined,
    weigh: (b) => inFlight.reweigh(batchKey(b), processedBytes(b)),
    release: (b) => inFlight.release(batchKey(b)),
  });

  const stop$ = new Subject<void>();
  let closeWindows = false;
  const fetched$ = kafkaSource({
    runtime,
    inFlight,
    maxInFlightBytes: config.sink.maxInFlightBytes,
    processAfter: deps.processAfter,
  });
  const pipeline = thread
    .run(fetched$, stop$, () => closeWindows)
    .pipe(tap({ error: (error: unknown) => log.error({ error: messageOf(error) }, 'topology failed') }));

  // A block of 5 s (or a third of the session timeout, if less) is reported: at the whole
  // timeout, the group rebalances.
  const stopWatch = watchEventLoop(
    log,
    Math.min(5000, Math.max(1000, Math.floor(config.kafka.sessionTimeoutMs / 3))),
  );

  const done = Promise.resolve(deps.joinAfter)
    .then(() => lastValueFrom(pipeline, { defaultValue: undefined }))
    .then(() => deps.beforeLeave?.())
    .finally(async () => {
      unwatchStorage();
      stopWatch();
      stage?.close();
      await offsets.purge();
      await runtime.close();
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    });

  let stopping: Promise<void> | undefined;
  return {
    stats,
    metrics,
    wiring,
    stateBytes: () => {
      let bytes = 0;
      for (const t of tasks.all())
        for (const store of [t.samples, ...t.rollups.values(), t.series]) bytes += store.approximateBytes;
      return bytes;
    },
    done,
    ready: () => runtime.ready(),
    problem: () => runtime.problem(),
    stop(options = {}) {
      stopping ??= (async () => {
        closeWindows = options.closeWindows ?? false;
        if (options.abandon) clickhouse?.health.abandon();
        // Stop fetching first so that no batch arrives after the last flush. At the end of the
        // input, only pause: the group stays joined for the commit after the windows close.
        if (closeWindows) runtime.pause();
        else await runtime.stop();
        stop$.next();
        await done;
      })();
      return stopping;
    },
    onSettled: (listener) => settled.on(listener),
    async isIdle() {
      // With windows, only once this instance took part in the group and restored the state of
      // every partition it owns: closing the windows at the end of input needs all of them.
      const waiting = !thread.restored()
        ? 'the state of its partitions to be restored'
        : !inFlight.empty
          ? 'records in flight'
          : !(await offsets.atEnd(thread.durable()))
            ? 'records done with to the end of the input'
            : undefined;
      if (waiting) log.debug({ waiting }, 'topology not idle');
      return waiting === undefined;
    },
  };
}
