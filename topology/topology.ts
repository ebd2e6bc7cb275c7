import type { Consumer, Kafka, Producer } from 'kafkajs';
import {
  concat,
  concatMap,
  defer,
  EMPTY,
  filter,
  from,
  interval,
  lastValueFrom,
  map,
  merge,
  share,
  Subject,
  takeUntil,
  tap,
} from 'rxjs';
import type { RollupAcc, SampleAcc } from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import { tierTopic, type TierConfig } from '../core/tiers.js';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ProcessedBatch } from '../core/records.js';
import { bufferRows } from '../operators/bufferRows.js';
import { decodeRecords } from '../operators/decodeRecords.js';
import { readRepartitioned } from '../operators/readRepartitioned.js';
import { validateSamples } from '../operators/validateSamples.js';
import { batchSchema, rollupBatchSchema } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { sendLate } from '../sinks/late.js';
import { RollupSink, type TierOutput } from '../sinks/rollupSink.js';
import { repartitionTopic, sendRepartitioned } from '../sinks/repartition.js';
import { SamplesSink, type Durable } from '../sinks/samplesSink.js';
import { watchStorage } from './storageWatch.js';
import { ensureTables } from '../sinks/tables.js';
import type { RuleSet } from '../alerts/rules.js';
import { ensureTopics, partitionCount } from '../core/kafka.js';
import { AlertSelection, alertInputTopic, alertTopicSpecs } from './alertStage.js';
import { watchEventLoop } from './eventLoop.js';
import { batchKey, InFlight, kafkaSource } from './kafkaSource.js';
import { windowStoreCodecs } from './storeCodecs.js';
import { GroupOffsets } from './groupOffsets.js';
import { Tasks } from './tasks.js';
import { prepareTopics } from './topics.js';
import { WindowStage } from './windowStage.js';
import {
  createTopologyMetrics,
  observeSamplesSink,
  observeWindowResults,
  type TopologyMetrics,
} from './metrics.js';

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
  /** Bytes of window and series state held by this instance (as last written to the changelogs). */
  stateBytes(): number;
  /** Resolves when the topology has stopped (after `stop()`, or on a fatal error, which it rejects with). */
  done: Promise<void>;
  /**
   * Stops consuming, flushes and commits what was consumed, disconnects. With `closeWindows`,
   * first closes every open window as at the end of input and writes the results.
   */
  stop(options?: { closeWindows?: boolean }): Promise<void>;
  /** True once every partition of the input (and of the repartition topic) is committed up to its end. */
  isIdle(): Promise<boolean>;
}

/**
 * The topology, top to bottom (see `metrics-pipeline describe`):
 *
 *   source [metrics] → decode (registry) → validate (normalize, series id) → buffer (rows, time)
 *     ├→ sink samples + series (ClickHouse, idempotent blocks)
 *     ├→ watermark → window-1m (store window-1m) → sink samples_1m + [metrics-1m]
 *     │                └→ window-1h (store window-1h) → sink samples_1h + [metrics-1h]
 *     ├→ rules' samples → [<appId>-alert-input] → alert stage (startAlertStage) → [alerts]
 *     ├→ rejects → [metrics-dlq]      late → [metrics-late]
 *     └→ changelogs [<appId>-*-changelog] → commit offsets
 *
 * With `input.coPartitioned: false`, as Kafka Streams' `groupBy`, two sub-topologies in one
 * consumer: validated samples also go to [<appId>-repartition], to the partition their series id
 * maps to (sub-topology 0), and the windows read that topic (sub-topology 1) instead of the input.
 */
export async function startTopology(deps: TopologyDeps): Promise<RunningTopology> {
  const { config, kafka, registry, clickhouse, log } = deps;
  const windowed = deps.windows ?? true;
  /** The tier over the samples: its watermark and late records are the topology's. */
  const firstTier = (config.tiers[0] as TierConfig).name;
  const topic = config.topics.metrics;
  const repartition = windowed && !config.input.coPartitioned ? repartitionTopic(config.appId) : undefined;
  /** The topic the windows read; the topics consumed, in topology order. */
  const windowTopic = repartition ?? topic;
  const sources = repartition ? [topic, repartition] : [topic];
  // The loader reads the input on its own, as a second consumer group.
  const groupId = windowed ? config.appId : `${config.appId}-loader`;
  const tasks = new Tasks<SampleAcc, RollupAcc>(
    kafka,
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
  if (clickhouse) await ensureTables(clickhouse, config);
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
  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    heartbeatInterval: Math.floor(config.kafka.sessionTimeoutMs / 5),
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
    // A fetch waits this long for records when there are none; stopping waits for it to return
    // (kafkajs' default, 5 s, was most of the time `run --exit-when-idle` took to exit).
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();

  const sink = clickhouse ? new SamplesSink(clickhouse, log.child({ stage: 'sink-samples' })) : undefined;
  const rollups = new RollupSink(clickhouse, producer, tierOutputs);
  const stage = windowed
    ? new WindowStage(config, tasks, repartition ? inputPartitions : undefined)
    : undefined;
  const inFlight = new InFlight();
  const stats = emptyStats();
  const metrics = createTopologyMetrics(
    undefined,
    config.tiers.map((t) => t.name),
  );
  const unwatchStorage = clickhouse ? watchStorage(clickhouse.health, metrics, log) : () => undefined;
  const offsets = new GroupOffsets({ consumer, admin, groupId, topics: sources, repartition, metrics, log });
  /** Rebalances so far: batches fetched before the last one are fetched again, and dropped. */
  let generation = 0;
  /** When this process last ran records through the windows. */
  let lastPush = performance.now();

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assignment = (t: string) => (payload.memberAssignment[t] ?? []).slice().sort((a, b) => a - b);
    const assigned = assignment(windowTopic);
    const gained = assigned.filter((p) => !offsets.owns(windowTopic, p));
    offsets.assign(payload.memberAssignment);
    generation += 1;
    sink?.reassigned();
    log.info(
      { assigned: assignment(topic), ...(repartition ? { repartition: assigned } : {}), generation },
      'partitions assigned',
    );
    if (!stage) return;
    const revoked = tasks.retain(assigned);
    tasks.assign(assigned);
    stage.rebalanced(assigned, revoked, gained.length > 0);
  });

  /** Window results and late records: written until none are left, then the state that produced them. */
  const writeWindowEffects = async () => {
    if (!stage) return;
    for (;;) {
      const out = stage.drain();
      if (out.results.length === 0 && out.late.length === 0) break;
      const started = performance.now();
      await rollups.write(out.results);
      await sendLate(producer, config.topics.late, lateSchemaId, out.late);
      for (const r of out.results) stats.rollups[r.tier] = (stats.rollups[r.tier] ?? 0) + 1;
      observeWindowResults(metrics, out.results, started);
      stats.late += out.late.length;
      if (out.late.length > 0) metrics.late.inc({ tier: firstTier }, out.late.length);
    }
  };

  /**
   * Kafka Streams' commit.interval.ms: the state stores' changes go to their changelogs and the
   * offsets are committed together, every `sink.commitIntervalMs` and as soon as the input goes
   * quiet, not after every flush: a series' changelog record then carries the changes of
   * several flushes (changelog records were half of what the topology produced). Everything
   * else a flush does (rows, window results, dead letters) is durable before its records count
   * as done here; a crash replays at most one interval, which the sinks make idempotent.
   */
  let uncommitted: Durable = new Map();
  /** The generation the uncommitted records were fetched in. */
  let uncommittedIn = 0;
  let committedAt = performance.now();
  /** When the last flush with records ended: two tick intervals without one is a quiet input. */
  let busyAt = performance.now();

  const commit = async () => {
    if (stage) await tasks.write(producer, tasks.collect());
    // After a rebalance, the partitions' owners replay from the last commit (idempotently): a
    // commit of records fetched before it could go behind one made meanwhile.
    if (uncommitted.size > 0 && uncommittedIn === generation) await offsets.commit(uncommitted);
    uncommitted = new Map();
    committedAt = performance.now();
  };

  const flush = async (group: ProcessedBatch[]) => {
    // Batches fetched before the last rebalance come again from the last commit: drop them.
    const stale = group.filter((b) => b.generation !== generation);
    if (stale.length > 0) {
      for (const b of stale) inFlight.release(batchKey(b));
      group = group.filter((b) => b.generation === generation);
    }
    if (stage && performance.now() - lastPush > config.windows.idleTimeoutMs / 2)
      stage.resume(offsets.assigned(windowTopic));
    // Partitions do not turn idle while this process is busy with a flush.
    stage?.freeze();
    try {
      await flushGroup(group, generation);
    } finally {
      stage?.thaw();
    }
  };

  const flushGroup = async (group: ProcessedBatch[], fetchedIn: number) => {
    const started = performance.now();
    // Sub-topology 0 reads the input; the windows read the repartition topic if there is one.
    const input = repartition ? group.filter((b) => b.topic === topic) : group;
    const keyed = repartition ? group.filter((b) => b.topic === repartition) : group;
    // Records of partitions revoked since they were fetched are left to their new owner.
    const windowed = stage ? keyed.filter((b) => offsets.owns(windowTopic, b.partition)) : [];
    for (const batch of windowed) await tasks.ready(batch.partition);
    stage?.push(windowed);
    if (group.length > 0) lastPush = performance.now();
    // The raw rows and the window effects do not depend on each other: they are written at the
    // same time (the embedded engine inserts on its own thread while this one encodes results).
    // The commit waits for both.
    const [durable] = await Promise.all([
      (async () => {
        const sinkStarted = performance.now();
        const written = sink ? await sink.write(input) : everything(input);
        observeSamplesSink(metrics, input, sinkStarted);
        if (repartitionTarget) {
          const sent = await sendRepartitioned(producer, repartitionTarget, input);
          stats.repartitioned += sent;
          metrics.recordsOut.inc({ stage: 'repartition' }, sent);
          for (const [key, d] of everything(keyed)) written.set(key, d);
        }
        if (alertTarget && selection) {
          // Sub-topology 0 hands the samples the rules need to the alert stage (one partition).
          const sent = await sendRepartitioned(producer, alertTarget, selection.select(input));
          stats.toAlerts += sent;
          metrics.recordsOut.inc({ stage: 'alerts' }, sent);
        }
        return written;
      })(),
      writeWindowEffects(),
    ]);
    const rejects = group.flatMap((b) => b.rejects);
    await sendToDeadLetter(producer, config.topics.dlq, rejects);
    if (generation === fetchedIn) {
      if (uncommittedIn !== fetchedIn) {
        uncommitted = new Map();
        uncommittedIn = fetchedIn;
      }
      for (const [key, d] of durable) {
        const at = uncommitted.get(key);
        if (at === undefined || d.lastOffset > at.lastOffset) uncommitted.set(key, d);
      }
    }
    // Their effects are durable: the records no longer count against the fetch limit.
    for (const b of group) inFlight.release(batchKey(b));
    // Ticks queue up behind a long flush: only time tells a quiet input from a busy one.
    const now = performance.now();
    if (group.length > 0) busyAt = now;
    const quiet = group.length === 0 && now - busyAt >= 2 * config.sink.maxMs;
    if (quiet || now - committedAt >= config.sink.commitIntervalMs) await commit();
    const records = input.reduce((n, b) => n + b.recordCount, 0);
    const rows = input.reduce((n, b) => n + b.rows.length, 0);
    stats.records += records;
    stats.stored += rows;
    stats.deadLettered += rejects.length;
    stats.flushes += 1;
    metrics.recordsIn.inc({ stage: 'source' }, records);
    metrics.recordsOut.inc({ stage: 'validate' }, rows);
    metrics.recordsOut.inc({ stage: 'sink_samples' }, rows);
    metrics.recordsOut.inc({ stage: 'dlq' }, rejects.length);
    for (const r of rejects) metrics.deadLettered.inc({ reason_kind: r.stage });
    if (stage) {
      metrics.watermarkSeconds.set({ tier: firstTier }, Math.max(0, stage.watermark() / 1000));
      for (const [tier, open] of Object.entries(stage.openWindows())) metrics.windowOpen.set({ tier }, open);
    }
    for (const t of tasks.all()) {
      for (const store of [t.samples, ...t.rollups.values(), t.series]) {
        metrics.stateBytes.set({ store: `${store.name}-${t.partition}` }, store.approximateBytes);
        metrics.stateEntries.set({ store: `${store.name}-${t.partition}` }, store.size);
      }
    }
    if (group.length > 0)
      log.debug(
        { records, rows, rejects: rejects.length, ms: Math.round(performance.now() - started) },
        'flushed',
      );
  };

  const stop$ = new Subject<void>();
  let closeWindows = false;
  const decoded$ = kafkaSource({
    consumer,
    topics: sources,
    inFlight,
    maxInFlightBytes: config.sink.maxInFlightBytes,
    generation: () => generation,
  }).pipe(
    takeUntil(stop$),
    decodeRecords((id) => registry.writerType(id)),
    share(),
  );
  const validated$ = decoded$.pipe(
    filter((b) => b.topic === topic),
    validateSamples(config.validation, Date.now),
  );
  const batches$ = (
    repartition
      ? merge(
          validated$,
          decoded$.pipe(
            filter((b) => b.topic === repartition),
            readRepartitioned(),
          ),
        )
      : validated$
  ).pipe(
    bufferRows({
      maxRows: config.sink.maxRows,
      maxMs: config.sink.maxMs,
      weigh: (b) => b.rows.length + b.rejects.length + 1,
    }),
  );
  // Windows closed by the watermark's idle timer are written even while no records arrive.
  const ticks$ = interval(config.sink.maxMs).pipe(
    takeUntil(stop$),
    map(() => [] as ProcessedBatch[]),
  );
  const pipeline = concat(
    merge(batches$, ticks$).pipe(concatMap(flush)),
    // What the last flushes left uncommitted.
    defer(() => from(commit())),
    defer(() => {
      if (!closeWindows || !stage) return EMPTY;
      stage.complete();
      return from(writeWindowEffects().then(commit));
    }),
  ).pipe(tap({ error: (error: unknown) => log.error({ error: messageOf(error) }, 'topology failed') }));

  // A block of 5 s (or a third of the session timeout, if less) is reported: at the whole
  // timeout, the group rebalances.
  const stopWatch = watchEventLoop(
    log,
    Math.min(5000, Math.max(1000, Math.floor(config.kafka.sessionTimeoutMs / 3))),
  );
  // Consumer lag of the partitions this instance owns, for /metrics.
  const lagTimer = setInterval(() => void offsets.observeLag().catch(() => undefined), 5000);
  lagTimer.unref();

  const done = lastValueFrom(pipeline, { defaultValue: undefined }).finally(async () => {
    clearInterval(lagTimer);
    unwatchStorage();
    stopWatch();
    stage?.close();
    await offsets.purge();
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  });

  let stopping: Promise<void> | undefined;
  return {
    stats,
    metrics,
    stateBytes: () => {
      let bytes = 0;
      for (const t of tasks.all())
        for (const store of [t.samples, ...t.rollups.values(), t.series]) bytes += store.approximateBytes;
      return bytes;
    },
    done,
    stop(options = {}) {
      stopping ??= (async () => {
        closeWindows = options.closeWindows ?? false;
        // Stop fetching first so that no batch arrives after the last flush.
        await consumer.stop();
        stop$.next();
        await done;
      })();
      return stopping;
    },
    async isIdle() {
      // With windows, only once this instance took part in the group and restored the state of
      // every partition it owns: closing the windows at the end of input needs all of them.
      if (stage && (generation === 0 || offsets.assigned(windowTopic).some((p) => !tasks.get(p))))
        return false;
      return inFlight.empty && (await offsets.atEnd());
    },
  };
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
