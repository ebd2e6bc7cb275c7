import { describe, expect, it } from 'vitest';
import { createKafka } from '../../core/kafka.js';
import { PipelineError } from '../../core/errors.js';
import { produceSynthetic } from '../../producer/produce.js';
import { Registry } from '../../schemas/registry.js';
import { startAdminServer } from '../../streams/adminServer.js';
import {
  ConsumerRuntime,
  type ConsumerRuntimeOptions,
  type RuntimeBatch,
} from '../../streams/consumerRuntime.js';
import { InFlight } from '../../streams/kafkaSource.js';
import { startTopology } from '../../topology/topology.js';
import { quietLog, tempDir, testConfig, testKafka, unique, within } from './helpers.js';

/** A topic with `count` records ("0", "1", …), spread over `partitions` partitions in turn. */
async function topicWith(count: number, partitions = 1): Promise<string> {
  const topic = unique('rt');
  const kafka = testKafka();
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ value: String(i), partition: i % partitions })),
    });
  } finally {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }
  return topic;
}

function runtimeOn(topic: string, options: Partial<ConsumerRuntimeOptions> = {}): ConsumerRuntime {
  return new ConsumerRuntime({
    kafka: testKafka(),
    name: 'test',
    groupId: unique('rt-group'),
    topics: [topic],
    consumer: { maxWaitTimeInMs: 200 },
    checkIntervalMs: 5000,
    log: quietLog,
    ...options,
  });
}

describe('ConsumerRuntime', () => {
  it('ends done with a handler error that no retry can help, and is no longer ready', async () => {
    const topic = await topicWith(3);
    const runtime = runtimeOn(topic);
    const seen: number[] = [];
    await runtime.start(async (batch) => {
      seen.push(batch.messages.length);
      throw new PipelineError('cannot apply this record', { retriable: false });
    });
    await expect(runtime.done).rejects.toThrow('cannot apply this record');
    expect(runtime.ready()).toBe(false);
    expect(runtime.problem()).toBe('test consumer failed: cannot apply this record');
    expect(seen).toEqual([3]);
    await runtime.close();
  });

  it('commits the current generation and drops the commits of a stale one', async () => {
    const topic = await topicWith(5);
    const runtime = runtimeOn(topic);
    const fetched = new Promise<RuntimeBatch>(
      (resolve) => void runtime.start(async (batch) => resolve(batch)),
    );
    const batch = await fetched;
    const next = [{ topic, partition: 0, offset: String(batch.lastOffset + 1) }];
    expect(await runtime.commit(next, batch.generation - 1)).toEqual([]);
    expect(runtime.committedOffset(topic, 0)).toBeUndefined();
    expect(await runtime.commit(next, batch.generation)).toEqual(next);
    expect(runtime.committedOffset(topic, 0)).toBe(5);
    expect(await runtime.isIdle()).toBe(true);
    await runtime.close();
    await expect(runtime.done).resolves.toBeUndefined();
  });

  it('rejoins the group, rather than failing, when a heartbeat sent by its handler meets a rebalance', async () => {
    const records = 40;
    const topic = await topicWith(records, 2);
    const groupId = unique('rt-group');
    // As the topology's consumer: a member learns of a rebalance at its next heartbeat, within a second.
    const consumer = { maxWaitTimeInMs: 200, heartbeatInterval: 1000 };
    const a = runtimeOn(topic, { name: 'a', groupId, consumer });
    const b = runtimeOn(topic, { name: 'b', groupId, consumer });
    let aFailed: unknown;
    a.done.catch((error: unknown) => (aFailed = error));

    const handled = new Set<string>();
    let allHandled!: () => void;
    const everyRecord = new Promise<void>((resolve) => (allHandled = resolve));
    const handle = (runtime: ConsumerRuntime) => async (batch: RuntimeBatch) => {
      for (const m of batch.messages) handled.add(String(m.value));
      await runtime.commit(
        [{ topic, partition: batch.partition, offset: String(batch.lastOffset + 1) }],
        batch.generation,
      );
      if (handled.size === records) allHandled();
    };

    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    let bJoins!: () => void;
    const bJoining = new Promise<void>((resolve) => (bJoins = resolve));
    b.consumer.on(b.consumer.events.CONNECT, () => bJoins());
    const heartbeatErrors: unknown[] = [];
    const inFlight = new InFlight();
    let first = true;
    try {
      await a.start(async (batch, { heartbeat, isCurrent }) => {
        if (first) {
          first = false;
          // The Kafka source with too many bytes in flight: it holds the batch and heartbeats
          // while it waits for the sinks (InFlight.below), here until B comes to join the group.
          inFlight.add('held', 1);
          holding();
          await bJoining;
          try {
            await inFlight.below(
              0,
              () =>
                heartbeat().catch((error: unknown) => {
                  heartbeatErrors.push(error);
                  throw error;
                }),
              isCurrent,
            );
          } finally {
            inFlight.release('held');
          }
          if (!isCurrent()) return;
        }
        await handle(a)(batch);
      });
      await within('runtime A holding its first batch', 30_000, held);
      // B joins the group while A's handler holds its batch: B's join waits for A to rejoin.
      await within('runtime B joining the group', 60_000, b.start(handle(b)));
      await within(`all ${records} records handled`, 60_000, everyRecord);

      // A's heartbeat met the rebalance B's join started...
      expect(heartbeatErrors).toHaveLength(1);
      expect(heartbeatErrors[0]).toMatchObject({ type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false });
      // ...and A rejoined instead of failing.
      expect(a.problem()).toBeUndefined();
      expect(aFailed).toBeUndefined();
      expect(a.ready()).toBe(true);
      expect(a.generation).toBeGreaterThanOrEqual(2);
      expect(b.problem()).toBeUndefined();
      // The group spread the two partitions over A and B, one each.
      const owned = [a.assigned(topic), b.assigned(topic)];
      expect(owned.map((partitions) => partitions.length)).toEqual([1, 1]);
      expect(owned.flat().sort()).toEqual([0, 1]);
      expect([...handled].map(Number).sort((x, y) => x - y)).toEqual(
        Array.from({ length: records }, (_, i) => i),
      );
      expect(await a.isIdle()).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    await expect(a.done).resolves.toBeUndefined();
  }, 120_000);
});

describe('a topology whose consumer fails', () => {
  it('ends done with the error and answers /readyz with 503 when its input topic is deleted', async () => {
    const config = testConfig(tempDir('rt-topology'), { topics: { partitions: 1 } });
    const kafka = createKafka(config.kafka.brokers, 'rt-test', quietLog);
    await produceSynthetic({
      kafka,
      registry: new Registry(config.schemaRegistry.url as string),
      topic: config.topics.metrics,
      series: 5,
      samples: 50,
      partitions: 1,
    });
    const topology = await startTopology({
      config,
      kafka,
      registry: new Registry(config.schemaRegistry.url as string),
      clickhouse: undefined,
      windows: false,
      log: quietLog,
    });
    const admin = await startAdminServer({
      port: 0,
      ready: () => true,
      extensions: [{ problem: () => topology.problem() }],
      log: quietLog,
    });
    const readyz = async () => {
      const response = await fetch(`${admin.url}/readyz`);
      return [response.status, await response.text()];
    };
    try {
      while (!(await topology.isIdle())) await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await readyz()).toEqual([200, 'ready\n']);
      const kafkaAdmin = testKafka().admin();
      await kafkaAdmin.connect();
      await kafkaAdmin.deleteTopics({ topics: [config.topics.metrics] });
      await kafkaAdmin.disconnect();
      // Gone, or (brokers create topics on a metadata request) created again, empty.
      const gone = new RegExp(
        `topic ${config.topics.metrics} (of consumer group ${config.appId}-loader no longer exists|partition 0 ends at 0, before offset 5 committed)`,
      );
      await expect(topology.done).rejects.toThrow(gone);
      const [status, text] = await readyz();
      expect(status).toBe(503);
      expect(text).toMatch(/^not ready: topology consumer failed: topic /);
    } finally {
      await admin.close();
      await topology.stop().catch(() => undefined);
    }
  }, 60_000);
});
