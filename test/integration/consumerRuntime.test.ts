import { describe, expect, it } from 'vitest';
import { createKafka } from '../../core/kafka.js';
import { PipelineError } from '../../core/errors.js';
import { produceSynthetic } from '../../producer/produce.js';
import { Registry } from '../../schemas/registry.js';
import { startAdminServer } from '../../streams/adminServer.js';
import { ConsumerRuntime, type RuntimeBatch } from '../../streams/consumerRuntime.js';
import { startTopology } from '../../topology/topology.js';
import { quietLog, tempDir, testConfig, testKafka, unique } from './helpers.js';

/** A topic with `count` records, one partition. */
async function topicWith(count: number): Promise<string> {
  const topic = unique('rt');
  const kafka = testKafka();
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: String(i) })) });
  } finally {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }
  return topic;
}

function runtimeOn(topic: string, checkIntervalMs = 5000): ConsumerRuntime {
  return new ConsumerRuntime({
    kafka: testKafka(),
    name: 'test',
    groupId: unique('rt-group'),
    topics: [topic],
    consumer: { maxWaitTimeInMs: 200 },
    checkIntervalMs,
    log: quietLog,
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
