import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKafka } from '../../core/kafka.js';
import { createLogger } from '../../core/log.js';
import { ConsumerRuntime } from '../../streams/consumerRuntime.js';

const log = createLogger('corrections-test', 'silent');

describe('consumer runtime start (the correction feed among others)', () => {
  it('disconnects the consumer when starting it fails after connect', async () => {
    const brokers = process.env.KAFKA_BROKERS?.split(',');
    const kafka = createKafka(brokers, `corrections-test-${randomUUID()}`, log);
    const runtime = new ConsumerRuntime({
      kafka,
      name: 'test',
      groupId: `corrections-test-${randomUUID()}`,
      // The broker refuses the name: a real failure after connect.
      topics: ['not a topic name'],
      log,
    });
    let disconnected = false;
    runtime.consumer.on(runtime.consumer.events.DISCONNECT, () => (disconnected = true));
    await expect(runtime.start(async () => undefined)).rejects.toThrow();
    expect(disconnected).toBe(true);
    expect(runtime.ready()).toBe(false);
  });
});
