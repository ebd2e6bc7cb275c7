import { describe, expect, it } from 'vitest';
import { createKafka, ensureTopics } from '../../core/kafka.js';
import { valueSubject } from '../../producer/produce.js';
import { batchSchema, batchType, frame, type Sample } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import { DLQ_HEADERS } from '../../sinks/deadLetter.js';
import { counts, query, quietLog, readTopic, runToEnd, tempDir, testConfig } from './helpers.js';

const chPath = tempDir('ch-dlq');

describe('dead-letter topic', () => {
  it('dead-letters each bad record with its bytes and reason, and stores the good records around them', async () => {
    const config = testConfig(chPath, { topics: { partitions: 1 } });
    const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
    const registry = new Registry(config.schemaRegistry.url as string);
    const schemaId = await registry.register(valueSubject(config.topics.metrics), batchSchema);
    const now = Date.now();
    const sample = (over: Partial<Sample> = {}): Sample => ({
      name: 'dlq_test_gauge',
      labels: { host: 'a' },
      timestamp: now,
      value: 1,
      kind: 'gauge',
      ...over,
    });
    const encode = (samples: Sample[]) => frame(schemaId, batchType.toBuffer({ samples }));
    const good = encode([sample()]);
    const tooManyLabels = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`l${i}`, 'v']));
    const bad: Array<{ value: Buffer; reason: RegExp }> = [
      { value: Buffer.concat([Buffer.from([1]), good.subarray(1)]), reason: /wrong magic byte 1/ },
      { value: frame(987_654, good.subarray(5)), reason: /unknown schema id 987654/ },
      { value: good.subarray(0, good.length - 4), reason: /cannot decode Avro body/ },
      { value: encode([sample({ value: Number.NaN })]), reason: /value NaN .* not finite/ },
      {
        value: encode([sample({ value: Number.POSITIVE_INFINITY })]),
        reason: /value Infinity .* not finite/,
      },
      { value: encode([sample({ name: '' })]), reason: /empty metric name/ },
      { value: encode([sample({ labels: { 'bad-label': 'x' } })]), reason: /invalid label name "bad-label"/ },
      { value: encode([sample({ timestamp: now - 30 * 24 * 3600_000 })]), reason: /older than/ },
      { value: encode([sample({ timestamp: now + 24 * 3600_000 })]), reason: /ahead/ },
      { value: encode([sample({ labels: tooManyLabels })]), reason: /40 labels .* more than 30/ },
    ];
    // Good records before, between and after every bad one, each a distinct sample.
    const messages = [];
    let goodCount = 0;
    const goodRecord = () => ({
      key: 'good',
      value: encode([sample({ timestamp: now - 1000 * ++goodCount })]),
    });
    messages.push(goodRecord());
    for (const b of bad) messages.push({ key: 'bad', value: b.value }, goodRecord());
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: config.topics.metrics, partitions: 1 }]);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: config.topics.metrics, messages, acks: -1 });
    await producer.disconnect();

    const stats = await runToEnd(config);
    expect(stats).toMatchObject({ records: messages.length, stored: goodCount, deadLettered: bad.length });
    expect(await counts(config)).toEqual({ rows: goodCount, distinct: goodCount, series: 1 });

    const dead = await readTopic(config.topics.dlq, bad.length);
    expect(dead).toHaveLength(bad.length);
    dead.forEach((message, i) => {
      const expected = bad[i]!;
      expect(message.value?.equals(expected.value)).toBe(true);
      expect(String(message.headers?.[DLQ_HEADERS.reason])).toMatch(expected.reason);
      expect(String(message.headers?.[DLQ_HEADERS.topic])).toBe(config.topics.metrics);
      expect(Number(message.headers?.[DLQ_HEADERS.offset])).toBe(2 * i + 1);
    });
  });

  it('keeps the good samples of a partly bad batch and dead-letters the record once', async () => {
    const config = testConfig(chPath, { topics: { partitions: 1 } });
    const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
    const registry = new Registry(config.schemaRegistry.url as string);
    const schemaId = await registry.register(valueSubject(config.topics.metrics), batchSchema);
    const now = Date.now();
    const samples: Sample[] = [0, 1, 2, 3].map((i) => ({
      name: 'partly_bad',
      labels: { i: String(i) },
      timestamp: now,
      value: i === 2 ? Number.NaN : i,
      kind: 'gauge',
    }));
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: config.topics.metrics,
      messages: [{ value: frame(schemaId, batchType.toBuffer({ samples })) }],
    });
    await producer.disconnect();

    await runToEnd(config);
    const rows = await query<{ value: number }>(
      config,
      `SELECT value FROM \`${config.clickhouse.database}\`.samples ORDER BY value`,
    );
    expect(rows.map((r) => r.value)).toEqual([0, 1, 3]);
    const [dead] = await readTopic(config.topics.dlq, 1);
    expect(String(dead?.headers?.[DLQ_HEADERS.reason])).toMatch(
      /sample 2: value NaN.*\(3 of 4 samples stored\)/,
    );
  });
});
