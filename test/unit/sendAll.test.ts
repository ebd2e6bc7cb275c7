import type { Message, ProducerRecord } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { sendAll, type RecordProducer } from '../../core/kafka.js';

/** A producer that keeps every request it is asked to send. */
function recording(): { producer: RecordProducer; requests: Message[][] } {
  const requests: Message[][] = [];
  const producer: RecordProducer = {
    send: (record: ProducerRecord) => {
      requests.push(record.messages);
      return Promise.resolve([]);
    },
  };
  return { producer, requests };
}

const record = (partition: number | undefined, bytes: number, i: number): Message => ({
  key: `k${i}`,
  value: Buffer.alloc(bytes),
  partition,
});

/** Every partition's records were sent once each, in their order. */
function expectPartitionOrder(requests: Message[][], messages: Message[]): void {
  const sent = requests.flat();
  expect(sent).toHaveLength(messages.length);
  const of = (list: Message[], p: number | undefined) => list.filter((m) => m.partition === p);
  for (const p of new Set(messages.map((m) => m.partition))) expect(of(sent, p)).toEqual(of(messages, p));
}

describe('sendAll', () => {
  it('sends records for several partitions in one request, each partition within its limit', async () => {
    const { producer, requests } = recording();
    // 4 partitions × 3 records of 200 KiB: two fit a partition's 512 KiB, so two requests.
    const messages = [0, 1, 2, 3].flatMap((p) => [0, 1, 2].map((i) => record(p, 200 * 1024, p * 3 + i)));
    await sendAll(producer, 't', messages);
    expect(requests.map((r) => r.length)).toEqual([8, 4]);
    expectPartitionOrder(requests, messages);
    for (const request of requests)
      for (const p of [0, 1, 2, 3]) {
        const bytes = request
          .filter((m) => m.partition === p)
          .reduce((n, m) => n + (m.value as Buffer).length, 0);
        expect(bytes).toBeLessThanOrEqual(512 * 1024);
      }
  });

  it('keeps a request within ~4 MiB in all and 1,000 records per partition', async () => {
    const { producer, requests } = recording();
    const big = Array.from({ length: 24 }, (_, i) => record(i % 12, 400 * 1024, i));
    await sendAll(producer, 't', big);
    for (const r of requests)
      expect(r.reduce((n, m) => n + (m.value as Buffer).length, 0)).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(requests.length).toBeGreaterThan(2);
    expectPartitionOrder(requests, big);

    const small = recording();
    const many = Array.from({ length: 2500 }, (_, i) => record(0, 10, i));
    await sendAll(small.producer, 't', many);
    expect(small.requests.map((r) => r.length)).toEqual([1000, 1000, 500]);
  });

  it('counts records without a partition as one partition', async () => {
    const { producer, requests } = recording();
    const messages = Array.from({ length: 6 }, (_, i) => record(undefined, 200 * 1024, i));
    await sendAll(producer, 't', messages);
    expect(requests.map((r) => r.length)).toEqual([2, 2, 2]);
    expect(requests.flat()).toEqual(messages);
  });

  it('sends a record larger than the limits alone', async () => {
    const { producer, requests } = recording();
    const messages = [record(0, 10, 0), record(0, 5 * 1024 * 1024, 1), record(1, 10, 2)];
    await sendAll(producer, 't', messages);
    expect(requests.map((r) => r.length)).toEqual([2, 1]);
    expectPartitionOrder(requests, messages);
  });
});
