import type { Consumer, Kafka, Producer } from 'kafkajs';
import {
  concatMap,
  defer,
  EMPTY,
  interval,
  lastValueFrom,
  map,
  merge,
  Subject,
  takeUntil,
  tap,
  concat,
  from,
} from 'rxjs';
import type { RollupAcc, SampleAcc } from '../core/aggregate.js';
import type { Config } from '../core/config.js';
import { ConfigError, isRetriable, messageOf } from '../core/errors.js';
import { ensureTopics } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { ProcessedBatch } from '../core/records.js';
import { withRetry } from '../core/retry.js';
import { bufferRows } from '../operators/bufferRows.js';
import { decodeRecords } from '../operators/decodeRecords.js';
import { validateSamples } from '../operators/validateSamples.js';
import { batchSchema, rollupSchema } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { sendLate } from '../sinks/late.js';
import { RollupSink } from '../sinks/rollupSink.js';
import { SamplesSink, type Durable } from '../sinks/samplesSink.js';
import { ensureTables } from '../sinks/tables.js';
import { batchKey, InFlight, kafkaSource } from './kafkaSource.js';
import { windowStoreCodecs } from './storeCodecs.js';
import { Tasks } from './tasks.js';
import { WindowStage } from './windowStage.js';
import { createTopologyMetrics, type TopologyMetrics } from './metrics.js';

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
  log: Logger;
}

export interface TopologyStats {
  records: number;
  stored: number;
  deadLettered: number;
  late: number;
  rollups: { '1m': number; '1h': number };
  flushes: number;
}

/** Counts of a topology that has not consumed anything yet. */
export function emptyStats(): TopologyStats {
  return { records: 0, stored: 0, deadLettered: 0, late: 0, rollups: { '1m': 0, '1h': 0 }, flushes: 0 };
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
  /** True once every partition of the input is committed up to its end. */
  isIdle(): Promise<boolean>;
}

/**
 * The topology, top to bottom (see `metrics-pipeline describe`):
 *
 *   source [metrics] → decode (registry) → validate (normalize, series id) → buffer (rows, time)
 *     ├→ sink samples + series (ClickHouse, idempotent blocks)
 *     ├→ watermark → window-1m (store window-1m) → sink samples_1m + [metrics-1m]
 *     │                └→ window-1h (store window-1h) → sink samples_1h + [metrics-1h]
 *     ├→ rejects → [metrics-dlq]      late → [metrics-late]
 *     └→ changelogs [<appId>-*-changelog] → commit offsets
 */
export async function startTopology(deps: TopologyDeps): Promise<RunningTopology> {
  const { config, kafka, registry, clickhouse, log } = deps;
  const windowed = deps.windows ?? true;
  if (!config.input.coPartitioned) {
    throw new ConfigError(
      'input.coPartitioned: false needs the repartition stage, which this release does not have yet',
      {
        hint: 'key input records by series (as `produce` does) and keep input.coPartitioned: true',
      },
    );
  }
  const topic = config.topics.metrics;
  const tasks = new Tasks<SampleAcc, RollupAcc>(
    kafka,
    config,
    windowStoreCodecs,
    log.child({ stage: 'state' }),
  );
  const admin = kafka.admin();
  await admin.connect();
  const partitions = config.topics.partitions;
  await ensureTopics(admin, [
    { topic, partitions },
    { topic: config.topics.dlq, partitions },
    { topic: config.topics.late, partitions },
    { topic: config.topics.metrics1m, partitions },
    { topic: config.topics.metrics1h, partitions },
    ...(windowed ? tasks.topics() : []),
  ]);
  if (clickhouse) await ensureTables(clickhouse, config.retention);
  const schemaIds = {
    '1m': await registry.register(`${config.topics.metrics1m}-value`, rollupSchema),
    '1h': await registry.register(`${config.topics.metrics1h}-value`, rollupSchema),
  };
  const lateSchemaId = await registry.register(`${config.topics.late}-value`, batchSchema);

  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer: Consumer = kafka.consumer({
    // The loader reads the input on its own, as a second consumer group.
    groupId: windowed ? config.appId : `${config.appId}-loader`,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    heartbeatInterval: Math.floor(config.kafka.sessionTimeoutMs / 5),
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
  });
  await consumer.connect();

  const sink = clickhouse ? new SamplesSink(clickhouse, log.child({ stage: 'sink-samples' })) : undefined;
  const rollups = new RollupSink(
    clickhouse,
    producer,
    { '1m': config.topics.metrics1m, '1h': config.topics.metrics1h },
    schemaIds,
  );
  const stage = windowed ? new WindowStage(config, tasks) : undefined;
  const inFlight = new InFlight();
  const stats = emptyStats();
  const metrics = createTopologyMetrics();
  const committed = new Map<number, number>();
  /** Partitions whose restored stream time the watermark tracker already knows. */
  const tracked = new Set<number>();
  /** Input partitions assigned to this instance now: only their records change state or get committed. */
  const owned = new Set<number>();
  /** Rebalances so far: batches fetched before the last one are fetched again, and dropped. */
  let generation = 0;
  /** When this process last ran records through the windows. */
  let lastPush = performance.now();

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = (payload.memberAssignment[topic] ?? []).slice().sort((a, b) => a - b);
    const gained = assigned.filter((p) => !owned.has(p));
    owned.clear();
    generation += 1;
    for (const p of assigned) owned.add(p);
    sink?.reassigned();
    log.info({ assigned, generation: payload.groupId }, 'partitions assigned');
    if (!stage) return;
    for (const p of tasks.retain(assigned)) {
      stage.tracker.forget(p);
      tracked.delete(p);
    }
    tasks.assign(assigned);
    // An assigned partition holds the watermark back until it shows records or turns idle.
    // Every assigned partition counts as active from now: a rebalance pause is not idleness.
    for (const p of assigned) stage.tracker.restore(p, Number.NEGATIVE_INFINITY);
    // Partitions taken over may be behind this instance's watermark: start it over.
    if (gained.length > 0) stage.tracker.rewind();
  });

  const commit = async (durable: Durable) => {
    // A partition revoked meanwhile is the new owner's: it replays from the last commit.
    const offsets = [...durable.values()]
      .filter((d) => owned.has(d.partition))
      .map((d) => ({
        topic: d.topic,
        partition: d.partition,
        offset: String(d.lastOffset + 1),
      }));
    if (offsets.length === 0) return;
    try {
      metrics.commits.inc();
      await withRetry(() => consumer.commitOffsets(offsets), {
        attempts: 5,
        retryIf: (e) => isRetriable(e) && !/rebalanc|not.*member|generation/i.test(messageOf(e)),
      });
      for (const o of offsets) committed.set(o.partition, Number(o.offset));
    } catch (error) {
      metrics.commitFailures.inc();
      // After a rebalance the new owner replays from the last commit; the sinks make that idempotent.
      log.warn({ error: messageOf(error), offsets }, 'offset commit failed; records will be replayed');
    }
  };

  /** Window results and late records: written until none are left, then the state that produced them. */
  const writeWindowEffects = async () => {
    if (!stage) return;
    for (;;) {
      const out = stage.drain();
      if (out.results.length === 0 && out.late.length === 0) break;
      const started = performance.now();
      await rollups.write(out.results);
      await sendLate(producer, config.topics.late, lateSchemaId, out.late);
      const now = Date.now();
      for (const r of out.results) {
        stats.rollups[r.tier] += 1;
        metrics.recordsOut.inc({ stage: r.tier === '1m' ? 'window_1m' : 'window_1h' });
        metrics.eventToStoreSeconds.observe(
          { table: r.tier === '1m' ? 'samples_1m' : 'samples_1h' },
          (now - r.end) / 1000,
        );
      }
      for (const tier of ['1m', '1h'] as const) {
        const n = out.results.filter((r) => r.tier === tier).length;
        if (n > 0) metrics.sinkBatchRows.observe({ table: `samples_${tier}` }, n);
      }
      metrics.sinkLatencySeconds.observe({ table: 'samples_1m' }, (performance.now() - started) / 1000);
      stats.late += out.late.length;
      if (out.late.length > 0) metrics.late.inc({ tier: '1m' }, out.late.length);
    }
    await tasks.write(producer, tasks.collect());
  };

  const flush = async (group: ProcessedBatch[]) => {
    // Batches fetched before the last rebalance come again from the last commit: drop them.
    const stale = group.filter((b) => b.generation !== generation);
    if (stale.length > 0) {
      for (const b of stale) inFlight.release(batchKey(b));
      group = group.filter((b) => b.generation === generation);
    }
    const started = performance.now();
    // A stall of this process (a long flush, a pause) is not idleness of the partitions: without
    // this, the first partition to show records after it would drag the watermark past the others.
    if (stage && performance.now() - lastPush > config.windows.idleTimeoutMs / 2) {
      for (const p of owned) if (tracked.has(p)) stage.tracker.restore(p, Number.NEGATIVE_INFINITY);
    }
    // Records of partitions revoked since they were fetched are left to their new owner.
    for (const batch of stage ? group.filter((b) => owned.has(b.partition)) : []) {
      const task = await tasks.ready(batch.partition);
      if (!tracked.has(batch.partition)) {
        tracked.add(batch.partition);
        if (task.restored) stage?.tracker.restore(batch.partition, task.restored.maxTimestamp);
      }
      stage?.push(batch);
    }
    if (group.length > 0) lastPush = performance.now();
    const sinkStarted = performance.now();
    const durable = sink ? await sink.write(group) : everything(group);
    observeSamplesSink(group, sinkStarted);
    await writeWindowEffects();
    const rejects = group.flatMap((b) => b.rejects);
    await sendToDeadLetter(producer, config.topics.dlq, rejects);
    await commit(durable);
    const records = group.reduce((n, b) => n + b.recordCount, 0);
    const rows = group.reduce((n, b) => n + b.rows.length, 0);
    for (const b of group) inFlight.release(batchKey(b));
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
      metrics.watermarkSeconds.set({ tier: '1m' }, Math.max(0, stage.tracker.current() / 1000));
      const open = stage.openWindows();
      metrics.windowOpen.set({ tier: '1m' }, open['1m']);
      metrics.windowOpen.set({ tier: '1h' }, open['1h']);
    }
    for (const t of tasks.all()) {
      for (const store of [t.minute, t.hour, t.series]) {
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

  /** Without a raw sink, everything fetched is done with once the other effects are durable. */
  const everything = (group: ProcessedBatch[]): Durable => {
    const durable: Durable = new Map();
    for (const b of group) {
      const key = `${b.topic}\u0000${b.partition}`;
      const at = durable.get(key)?.lastOffset ?? -1;
      durable.set(key, { topic: b.topic, partition: b.partition, lastOffset: Math.max(at, b.lastOffset) });
    }
    return durable;
  };

  const observeSamplesSink = (group: ProcessedBatch[], started: number) => {
    const rows = group.reduce((n, b) => n + b.rows.length, 0);
    if (rows === 0) return;
    metrics.sinkBatchRows.observe({ table: 'samples' }, rows);
    metrics.sinkLatencySeconds.observe({ table: 'samples' }, (performance.now() - started) / 1000);
    // A sample of the rows is enough for the latency distribution.
    const now = Date.now();
    for (const b of group) {
      const stride = Math.max(1, Math.floor(b.rows.length / 20));
      for (let i = 0; i < b.rows.length; i += stride)
        metrics.eventToStoreSeconds.observe(
          { table: 'samples' },
          (now - (b.rows[i]?.timestamp ?? now)) / 1000,
        );
    }
  };

  const stop$ = new Subject<void>();
  let closeWindows = false;
  const batches$ = kafkaSource({
    consumer,
    topics: [topic],
    inFlight,
    maxInFlightBytes: config.sink.maxInFlightBytes,
    generation: () => generation,
  }).pipe(
    takeUntil(stop$),
    decodeRecords((id) => registry.writerType(id)),
    validateSamples(config.validation, Date.now),
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
    defer(() => {
      if (!closeWindows || !stage) return EMPTY;
      stage.complete();
      return from(writeWindowEffects());
    }),
  ).pipe(tap({ error: (error: unknown) => log.error({ error: messageOf(error) }, 'topology failed') }));

  // Consumer lag of the partitions this instance owns, for /metrics.
  const lagTimer = setInterval(() => {
    admin
      .fetchTopicOffsets(topic)
      .then((ends) => {
        for (const p of ends) {
          if (!tasks.get(p.partition)) continue;
          const at = committed.get(p.partition) ?? 0;
          metrics.consumerLag.set({ topic, partition: p.partition }, Math.max(0, Number(p.high) - at));
        }
      })
      .catch(() => undefined);
  }, 5000);
  lagTimer.unref();

  const done = lastValueFrom(pipeline, { defaultValue: undefined }).finally(async () => {
    clearInterval(lagTimer);
    stage?.close();
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
        bytes += t.minute.approximateBytes + t.hour.approximateBytes + t.series.approximateBytes;
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
      if (!inFlight.empty) return false;
      const [ends, groupOffsets] = await Promise.all([
        admin.fetchTopicOffsets(topic),
        admin.fetchOffsets({ groupId: config.appId, topics: [topic] }),
      ]);
      const groupCommitted = new Map(
        groupOffsets[0]?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? [],
      );
      return ends.every((p) => {
        const at = Math.max(committed.get(p.partition) ?? -1, groupCommitted.get(p.partition) ?? -1);
        return Number(p.high) === 0 || at >= Number(p.high);
      });
    },
  };
}
