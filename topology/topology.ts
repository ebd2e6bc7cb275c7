import type { Consumer, Kafka, Producer } from 'kafkajs';
import { concatMap, lastValueFrom, Subject, takeUntil, tap } from 'rxjs';
import type { Config } from '../core/config.js';
import { isRetriable, messageOf } from '../core/errors.js';
import { ensureTopics } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { ProcessedBatch } from '../core/records.js';
import { withRetry } from '../core/retry.js';
import { bufferRows } from '../operators/bufferRows.js';
import { decodeRecords } from '../operators/decodeRecords.js';
import { validateSamples } from '../operators/validateSamples.js';
import type { Registry } from '../schemas/registry.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { SamplesSink, type Durable } from '../sinks/samplesSink.js';
import { ensureTables } from '../sinks/tables.js';
import { InFlight, kafkaSource } from './kafkaSource.js';

export interface TopologyDeps {
  config: Config;
  kafka: Kafka;
  registry: Registry;
  clickhouse: ClickHouse;
  log: Logger;
}

export interface TopologyStats {
  records: number;
  stored: number;
  deadLettered: number;
  flushes: number;
}

export interface RunningTopology {
  stats: TopologyStats;
  /** Resolves when the topology has stopped (after `stop()`, or on a fatal error, which it rejects with). */
  done: Promise<void>;
  /** Stops consuming, flushes and commits what was consumed, disconnects. */
  stop(): Promise<void>;
  /** True once every partition of the input is committed up to its end. */
  isIdle(): Promise<boolean>;
}

/**
 * The topology, top to bottom:
 *
 *   source [metrics] → decode (registry) → validate (normalize, series id)
 *     → buffer (rows, time) → sink samples+series (ClickHouse, idempotent) ─┐
 *     rejects → sink [metrics-dlq]                                           ├→ commit offsets
 */
export async function startTopology(deps: TopologyDeps): Promise<RunningTopology> {
  const { config, kafka, registry, clickhouse, log } = deps;
  const topic = config.topics.metrics;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic, partitions: config.topics.partitions },
    { topic: config.topics.dlq, partitions: config.topics.partitions },
  ]);
  await ensureTables(clickhouse, config.retention);

  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer: Consumer = kafka.consumer({
    groupId: config.appId,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    heartbeatInterval: Math.floor(config.kafka.sessionTimeoutMs / 5),
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 32 * 1024 * 1024,
  });
  await consumer.connect();

  const sink = new SamplesSink(clickhouse, log.child({ stage: 'sink-samples' }));
  const inFlight = new InFlight();
  const stats: TopologyStats = { records: 0, stored: 0, deadLettered: 0, flushes: 0 };
  const committed = new Map<number, number>();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = Object.entries(payload.memberAssignment).flatMap(([t, ps]) =>
      ps.map((partition) => ({ topic: t, partition })),
    );
    sink.reassigned(assigned);
    log.info({ assigned: payload.memberAssignment, generation: payload.groupId }, 'partitions assigned');
  });

  const commit = async (durable: Durable) => {
    const offsets = [...durable.values()].map((d) => ({
      topic: d.topic,
      partition: d.partition,
      offset: String(d.lastOffset + 1),
    }));
    if (offsets.length === 0) return;
    try {
      await withRetry(() => consumer.commitOffsets(offsets), {
        attempts: 5,
        retryIf: (e) => isRetriable(e) && !/rebalanc|not.*member|generation/i.test(messageOf(e)),
      });
      for (const d of durable.values()) committed.set(d.partition, d.lastOffset + 1);
    } catch (error) {
      // After a rebalance the new owner replays from the last commit; the sinks make that idempotent.
      log.warn({ error: messageOf(error), offsets }, 'offset commit failed; records will be replayed');
    }
  };

  const flush = async (group: ProcessedBatch[]) => {
    const started = performance.now();
    const durable = await sink.write(group);
    const rejects = group.flatMap((b) => b.rejects);
    await sendToDeadLetter(producer, config.topics.dlq, rejects);
    await commit(durable);
    const records = group.reduce((n, b) => n + b.recordCount, 0);
    const rows = group.reduce((n, b) => n + b.rows.length, 0);
    inFlight.release(records);
    stats.records += records;
    stats.stored += rows;
    stats.deadLettered += rejects.length;
    stats.flushes += 1;
    log.debug(
      { records, rows, rejects: rejects.length, ms: Math.round(performance.now() - started) },
      'flushed',
    );
  };

  const stop$ = new Subject<void>();
  const pipeline = kafkaSource({
    consumer,
    topics: [topic],
    inFlight,
    maxInFlightRecords: config.sink.maxInFlightRecords,
  }).pipe(
    takeUntil(stop$),
    decodeRecords((id) => registry.writerType(id)),
    validateSamples(config.validation, Date.now),
    bufferRows({
      maxRows: config.sink.maxRows,
      maxMs: config.sink.maxMs,
      weigh: (b) => b.rows.length + b.rejects.length + 1,
    }),
    concatMap(flush),
    tap({ error: (error: unknown) => log.error({ error: messageOf(error) }, 'topology failed') }),
  );

  const done = lastValueFrom(pipeline, { defaultValue: undefined }).finally(async () => {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  });

  let stopping: Promise<void> | undefined;
  return {
    stats,
    done,
    stop() {
      stopping ??= (async () => {
        // Stop fetching first so that no batch arrives after the last flush.
        await consumer.stop();
        stop$.next();
        await done;
      })();
      return stopping;
    },
    async isIdle() {
      if (inFlight.records > 0) return false;
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
