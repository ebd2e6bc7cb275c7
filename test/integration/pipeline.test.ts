import { describe, expect, it } from 'vitest';
import { produceSynthetic } from '../../producer/produce.js';
import { Registry } from '../../schemas/registry.js';
import { createKafka } from '../../core/kafka.js';
import { counts, quietLog, runToEnd, tempDir, testConfig, tierCheck } from './helpers.js';

const chPath = tempDir('ch-pipeline');

describe('topology on real Kafka, registry and ClickHouse', () => {
  it.each([
    { batch: 10, series: 500, samples: 50_000 },
    { batch: 1, series: 300, samples: 6_000 },
  ])('stores exactly the N produced samples (batch $batch)', async ({ batch, series, samples }) => {
    // A record carries `batch` samples 10 s apart: that much out-of-orderness per partition.
    const config = testConfig(chPath, { windows: { outOfOrdernessMs: batch * 10_000 } });
    const produced = await produceSynthetic({
      kafka: createKafka(config.kafka.brokers, 'test', quietLog),
      registry: new Registry(config.schemaRegistry.url as string),
      topic: config.topics.metrics,
      partitions: config.topics.partitions,
      series,
      samples,
      batch,
      seed: 7,
    });
    expect(produced.samples).toBe(samples);
    expect(produced.records).toBe(Math.ceil(samples / batch));

    const stats = await runToEnd(config);
    expect(stats).toMatchObject({ records: produced.records, stored: samples, deadLettered: 0, late: 0 });
    expect(await counts(config)).toEqual({ rows: samples, distinct: samples, series });
    for (const tier of ['1m', '1h'] as const) {
      const check = await tierCheck(config, tier);
      expect(check.windows).toBeGreaterThanOrEqual(series);
      expect(check, tier).toMatchObject({ mismatches: 0, duplicates: 0 });
    }
  });

  it('exits at once on an empty topic and stores nothing', async () => {
    const config = testConfig(chPath);
    const stats = await runToEnd(config);
    expect(stats.records).toBe(0);
    expect(await counts(config)).toEqual({ rows: 0, distinct: 0, series: 0 });
  });
});
