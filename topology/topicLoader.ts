import type { Kafka } from 'kafkajs';
import type avro from 'avsc';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { ensureTopics } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { Rejected } from '../core/records.js';
import {
  alertType,
  rollupBatchType,
  WIRE_HEADER_BYTES,
  type AlertEvent,
  type RollupBatch,
} from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import { insertAlerts } from '../sinks/alertsTable.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { insertRollups } from '../sinks/rollupSink.js';
import { ConsumerRuntime } from '../streams/consumerRuntime.js';
import { tierTopic } from '../core/tiers.js';

/** A topic a loader stores: the Avro type of its records, and how rows of it are inserted. */
export interface LoadedTopic<T> {
  topic: string;
  /** What a record holds, for log lines and DLQ reasons ("window result", "alert event"). */
  what: string;
  type: avro.Type;
  insert(rows: T[]): Promise<void>;
}

export interface TopicLoader {
  /** What it loads, as named when started ("rollups", "alerts"). */
  what: string;
  /** Rows inserted so far, per topic. */
  loaded: Record<string, number>;
  /** Resolves after stop(); rejects when the loader cannot go on (its consumer failed). */
  done: Promise<void>;
  /** Why it is not consuming, or undefined while it is. */
  problem(): string | undefined;
  stop(): Promise<void>;
  /** True once every topic is committed up to its end. */
  isIdle(): Promise<boolean>;
}

/**
 * Stores Avro records of Kafka topics in ClickHouse, as its own consumer group: each fetched
 * batch is decoded (records that cannot be go to the DLQ with their reason), inserted, and only
 * then committed. A repeat after a crash inserts identical rows, which the ReplacingMergeTree
 * tables keep once.
 */
export async function startTopicLoader(deps: {
  config: Config;
  kafka: Kafka;
  registry: Registry;
  groupId: string;
  /** What it loads, for logs ("rollups", "alerts"). */
  what: string;
  topics: ReadonlyArray<LoadedTopic<never>>;
  log: Logger;
}): Promise<TopicLoader> {
  const { config, kafka, registry, groupId, log } = deps;
  const byTopic = new Map(deps.topics.map((t) => [t.topic, t as LoadedTopic<unknown>]));
  const runtime = new ConsumerRuntime({
    kafka,
    name: `loader ${groupId}`,
    groupId,
    topics: [...byTopic.keys()],
    consumer: { sessionTimeout: config.kafka.sessionTimeoutMs },
    log,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  type Resolver = ReturnType<avro.Type['createResolver']>;
  const readers = new Map<string, Promise<Resolver>>();
  const reader = (type: avro.Type, id: number) => {
    const key = `${type.name ?? ''}:${id}`;
    let r = readers.get(key);
    if (!r) {
      r = registry.writerType(id).then((writer) => type.createResolver(writer));
      r.catch(() => readers.delete(key));
      readers.set(key, r);
    }
    return r;
  };
  const loaded: Record<string, number> = Object.fromEntries(deps.topics.map((t) => [t.topic, 0]));
  await ensureTopics(
    admin,
    [...byTopic.keys()].map((topic) => ({ topic, partitions: config.topics.partitions })),
  );
  await admin.disconnect();
  await runtime.start(async (batch, { heartbeat }) => {
    const source = byTopic.get(batch.topic) as LoadedTopic<unknown>;
    const rows: unknown[] = [];
    const rejects: Rejected[] = [];
    for (const m of batch.messages) {
      // Read once: the client's record makes a Buffer at each read of its value.
      const value = m.value;
      const reject = (reason: string) =>
        rejects.push({
          topic: batch.topic,
          partition: batch.partition,
          offset: Number(m.offset),
          key: m.key,
          value,
          headers: m.headers,
          stage: 'decode',
          reason,
        });
      if (!value || value.length < WIRE_HEADER_BYTES || value[0] !== 0) {
        reject(`not a Confluent-framed Avro ${source.what}`);
        continue;
      }
      try {
        const resolver = await reader(source.type, value.readUInt32BE(1));
        rows.push(source.type.fromBuffer(value.subarray(WIRE_HEADER_BYTES), resolver));
      } catch (error) {
        reject(`cannot decode ${source.what}: ${messageOf(error)}`);
      }
    }
    // An insert may wait out a full disk or a server that is down (StorageHealth): the
    // group must not take this member for dead meanwhile.
    const beating = setInterval(() => void heartbeat().catch(() => undefined), 1000);
    try {
      await source.insert(rows);
    } finally {
      clearInterval(beating);
    }
    await sendToDeadLetter(producer, config.topics.dlq, rejects);
    loaded[batch.topic] = (loaded[batch.topic] ?? 0) + rows.length;
    await runtime.commit(
      [{ topic: batch.topic, partition: batch.partition, offset: String(batch.lastOffset + 1) }],
      batch.generation,
    );
  });
  log.info({ topics: [...byTopic.keys()], groupId }, 'loading topics into ClickHouse');
  return {
    what: deps.what,
    loaded,
    done: runtime.done,
    problem: () => runtime.problem(),
    async stop() {
      await runtime.close();
      await producer.disconnect().catch(() => undefined);
    },
    isIdle: () => runtime.isIdle(),
  };
}

/**
 * The loader's second source (`run --mode load`): window results published by topology
 * instances running with `--sink topics`, batches of them per record (schemas/rollupBatch.avsc),
 * from the tier topics into `samples_<tier>` (a repeat inserts an identical row, same
 * revision).
 */
export function rollupTopics(config: Config, clickhouse: ClickHouse): Array<LoadedTopic<RollupBatch>> {
  return config.tiers.map((tier) => ({
    topic: tierTopic(config, tier),
    what: 'batch of window results',
    type: rollupBatchType,
    insert: (batches) =>
      insertRollups(
        clickhouse,
        tier.name,
        batches.flatMap((b) => b.results),
      ),
  }));
}

/** The alerts topic into the `alerts` history table. */
export function alertTopic(config: Config, clickhouse: ClickHouse): LoadedTopic<AlertEvent> {
  return {
    topic: config.topics.alerts,
    what: 'alert event',
    type: alertType,
    insert: (rows) => insertAlerts(clickhouse, rows),
  };
}
