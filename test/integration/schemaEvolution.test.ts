import type avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { createKafka, ensureTopics } from '../../core/kafka.js';
import { valueSubject } from '../../producer/produce.js';
import { batchSchema, frame, sampleSchema } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import { query, quietLog, runToEnd, tempDir, testConfig, within } from './helpers.js';
import avsc from 'avsc';

const chPath = tempDir('ch-evolution');

/** The batch schema with `extra` appended to the fields of Sample. */
function batchWith(extra: Record<string, unknown>): avro.Schema {
  const sample = sampleSchema as { fields: unknown[] };
  return {
    ...(batchSchema as object),
    fields: [
      { name: 'samples', type: { type: 'array', items: { ...sample, fields: [...sample.fields, extra] } } },
    ],
  } as avro.Schema;
}

describe('schema evolution through the registry', () => {
  it('registers under a new subject from several clients at once: one id, compatibility BACKWARD', async () => {
    const config = testConfig(chPath);
    const subject = valueSubject(config.topics.metrics);
    // Processes starting together (instances of one topology) race to set the new subject's
    // compatibility; the registry refuses all but the first.
    const ids = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Registry(config.schemaRegistry.url as string).register(subject, batchSchema),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    const compatibility = await fetch(`${config.schemaRegistry.url}/config/${subject}`).then((r) => r.json());
    expect(compatibility).toEqual({ compatibilityLevel: 'BACKWARD' });
  });

  it('accepts a backward-compatible new optional field, rejects an incompatible change, and decodes both versions', async () => {
    const config = testConfig(chPath);
    const registry = new Registry(config.schemaRegistry.url as string);
    const subject = valueSubject(config.topics.metrics);
    const v1 = await registry.register(subject, batchSchema);

    const compatibility = await fetch(`${config.schemaRegistry.url}/config/${subject}`).then((r) => r.json());
    expect(compatibility).toEqual({ compatibilityLevel: 'BACKWARD' });

    const v2Schema = batchWith({ name: 'unit', type: ['null', 'string'], default: null });
    const v2 = await registry.register(subject, v2Schema);
    expect(v2).not.toBe(v1);

    // A new field without a default cannot be read from old data: BACKWARD refuses it.
    await expect(
      registry.register(subject, batchWith({ name: 'required_unit', type: 'string' })),
    ).rejects.toThrow(/409|compatib/i);

    const now = Date.now();
    const s = (value: number) => ({
      name: 'evolving_metric',
      labels: { host: 'a' },
      timestamp: now - value * 1000,
      value,
      kind: 'gauge',
    });
    const v1Type = avsc.Type.forSchema(batchSchema);
    const v2Type = avsc.Type.forSchema(v2Schema);
    // The topic is created first, as in the other tests, rather than on demand by the producer's
    // first send. Each step is bounded, so that a hang names its step (this test once timed out in
    // CI, after a "does not host this topic-partition" answer to a producer's first metadata request).
    const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
    const admin = kafka.admin();
    const producer = kafka.producer();
    try {
      await within('connecting', 20_000, Promise.all([admin.connect(), producer.connect()]));
      await within(
        'creating the topic',
        20_000,
        ensureTopics(admin, [{ topic: config.topics.metrics, partitions: 1 }]),
      );
      await within(
        'sending the records',
        20_000,
        producer.send({
          acks: -1,
          topic: config.topics.metrics,
          messages: [
            { value: frame(v1, v1Type.toBuffer({ samples: [s(1)] })) },
            {
              value: frame(
                v2,
                v2Type.toBuffer({
                  samples: [
                    { ...s(2), unit: 'percent' },
                    { ...s(3), unit: null },
                  ],
                }),
              ),
            },
          ],
        }),
      );
    } finally {
      await Promise.all([admin.disconnect(), producer.disconnect()]).catch(() => undefined);
    }

    const stats = await runToEnd(config, {}, 60_000);
    expect(stats).toMatchObject({ records: 2, stored: 3, deadLettered: 0 });
    const rows = await query<{ value: number }>(
      config,
      `SELECT value FROM \`${config.clickhouse.database}\`.samples ORDER BY value`,
    );
    expect(rows.map((r) => r.value)).toEqual([1, 2, 3]);
    // The steps' bounds (20 + 20 + 20 s, then the run's 60 + 5 s) fit in this test's timeout.
  }, 150_000);
});
