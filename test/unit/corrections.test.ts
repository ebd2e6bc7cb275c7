import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKafka } from '../../core/kafka.js';
import { createLogger } from '../../core/log.js';
import { disconnectOnFailure } from '../../query/corrections.js';

const log = createLogger('corrections-test', 'silent');

describe('correction feed start', () => {
  it('disconnects the consumer when starting it fails after connect', async () => {
    const brokers = process.env.KAFKA_BROKERS?.split(',');
    const kafka = createKafka(brokers, `corrections-test-${randomUUID()}`, log);
    const consumer = kafka.consumer({ groupId: `corrections-test-${randomUUID()}` });
    let disconnected = false;
    consumer.on(consumer.events.DISCONNECT, () => (disconnected = true));
    await consumer.connect();
    try {
      // kafkajs refuses a subscription once the consumer runs: a real failure after connect.
      const start = disconnectOnFailure(consumer, async () => {
        await consumer.run({ eachMessage: async () => undefined });
        await consumer.subscribe({ topic: `corrections-test-${randomUUID()}` });
      });
      await expect(start).rejects.toThrow(/running/i);
      expect(disconnected).toBe(true);
    } finally {
      await consumer.disconnect();
    }
  });
});
