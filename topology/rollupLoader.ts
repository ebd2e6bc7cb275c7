import type { Kafka } from 'kafkajs';
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { committedToEnd } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import type { Rejected } from '../core/records.js';
import { withRetry } from '../core/retry.js';
import { WIRE_HEADER_BYTES, rollupType, type Rollup } from '../schemas/index.js';
import type { Registry } from '../schemas/registry.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { sendToDeadLetter } from '../sinks/deadLetter.js';
import { insertRollups, type Tier } from '../sinks/rollupSink.js';
import type avro from 'avsc';

export interface RollupLoader {
  loaded: Record<Tier, number>;
  stop(): Promise<void>;
  /** True once both tier topics are committed up to their end. */
  isIdle(): Promise<boolean>;
}

/**
 * The loader's second source: window results published by topology instances running with
 * `--sink topics`, read from the tier topics and inserted into `samples_1m` / `samples_1h`.
 * Offsets are committed after the insert; a repeat inserts an identical row (same revision),
 * which ReplacingMergeTree keeps once.
 */
export async function startRollupLoader(deps: {
  config: Config;
  kafka: Kafka;
  registry: Registry;
  clickhouse: ClickHouse;
  log: Logger;
}): Promise<RollupLoader> {
  const { config, kafka, registry, clickhouse, log } = deps;
  const tiers: Record<string, Tier> = { [config.topics.metrics1m]: '1m', [config.topics.metrics1h]: '1h' };
  const groupId = `${config.appId}-loader-rollups`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: config.kafka.sessionTimeoutMs });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const admin = kafka.admin();
  await Promise.all([consumer.connect(), producer.connect(), admin.connect()]);
  const readers = new Map<number, Promise<ReturnType<avro.Type['createResolver']>>>();
  const reader = (id: number) => {
    let r = readers.get(id);
    if (!r) {
      r = registry.writerType(id).then((writer) => rollupType.createResolver(writer));
      r.catch(() => readers.delete(id));
      readers.set(id, r);
    }
    return r;
  };
  const loaded: Record<Tier, number> = { '1m': 0, '1h': 0 };
  for (const topic of Object.keys(tiers)) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const tier = tiers[batch.topic] as Tier;
      const rows: Rollup[] = [];
      const rejects: Rejected[] = [];
      for (const m of batch.messages) {
        const reject = (reason: string) =>
          rejects.push({
            topic: batch.topic,
            partition: batch.partition,
            offset: Number(m.offset),
            key: m.key,
            value: m.value,
            headers: m.headers,
            stage: 'decode',
            reason,
          });
        if (!m.value || m.value.length < WIRE_HEADER_BYTES || m.value[0] !== 0) {
          reject('not a Confluent-framed Avro window result');
          continue;
        }
        try {
          const resolver = await reader(m.value.readUInt32BE(1));
          rows.push(rollupType.fromBuffer(m.value.subarray(WIRE_HEADER_BYTES), resolver) as Rollup);
        } catch (error) {
          reject(`cannot decode window result: ${messageOf(error)}`);
        }
      }
      await insertRollups(clickhouse, tier, rows);
      await sendToDeadLetter(producer, config.topics.dlq, rejects);
      loaded[tier] += rows.length;
      await withRetry(() =>
        consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) },
        ]),
      );
    },
  });
  log.info({ topics: Object.keys(tiers), groupId }, 'loading window results');
  return {
    loaded,
    async stop() {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
    async isIdle() {
      for (const topic of Object.keys(tiers))
        if (!(await committedToEnd(admin, groupId, topic))) return false;
      return true;
    },
  };
}
