import { describe, expect, it } from 'vitest';
import { createKafka } from '../../core/kafka.js';
import { tierTopic, type TierConfig } from '../../core/tiers.js';
import { produceSynthetic } from '../../producer/produce.js';
import { Registry } from '../../schemas/registry.js';
import { counts, query, quietLog, runToEnd, tempDir, testConfig, testKafka, tierCheck } from './helpers.js';

const chPath = tempDir('ch-tiers');

/** The default tiers with a 5m tier between them: a configuration change only. */
const tiers = [
  { name: '1m', sizeMs: 60_000, graceMs: 10_000, allowedLatenessMs: 60_000, from: 'raw', retentionDays: 30 },
  { name: '5m', sizeMs: 300_000, graceMs: 10_000, allowedLatenessMs: 70_000, from: '1m', retentionDays: 90 },
  {
    name: '1h',
    sizeMs: 3_600_000,
    graceMs: 60_000,
    allowedLatenessMs: 600_000,
    from: '5m',
    retentionDays: 365,
  },
];

describe('tiers 1m, 5m and 1h from the configuration, on real Kafka and ClickHouse', () => {
  it('fills samples_5m and its topic, every tier agreeing with a GROUP BY over the raw samples (stddev as stddevPopStable)', async () => {
    const batch = 10;
    const series = 120;
    const samples = 60_000; // 500 samples of each series 10 s apart: 83 minutes, 17 five-minute windows, 2–3 hours.
    const config = testConfig(chPath, { windows: { outOfOrdernessMs: batch * 10_000 }, tiers });
    const produced = await produceSynthetic({
      kafka: createKafka(config.kafka.brokers, 'test', quietLog),
      registry: new Registry(config.schemaRegistry.url as string),
      topic: config.topics.metrics,
      partitions: config.topics.partitions,
      series,
      samples,
      batch,
      seed: 11,
    });
    expect(produced.samples).toBe(samples);

    const stats = await runToEnd(config);
    expect(stats).toMatchObject({ stored: samples, deadLettered: 0, late: 0 });
    expect(await counts(config)).toEqual({ rows: samples, distinct: samples, series });
    for (const tier of ['1m', '5m', '1h']) {
      const check = await tierCheck(config, tier);
      expect(check, tier).toEqual({
        windows: check.windows,
        mismatches: 0,
        duplicates: 0,
        missing: 0,
        extra: 0,
      });
      expect(check.windows, tier).toBeGreaterThanOrEqual(series);
    }
    // Every series has 16 or more whole five-minute windows between the 1m and 1h tiers' counts.
    const [row] = await query<{ m: string; f: string; h: string; sd: string }>(
      config,
      `SELECT (SELECT count() FROM \`${config.clickhouse.database}\`.samples_1m FINAL) AS m,
              (SELECT count() FROM \`${config.clickhouse.database}\`.samples_5m FINAL) AS f,
              (SELECT count() FROM \`${config.clickhouse.database}\`.samples_1h FINAL) AS h,
              (SELECT countIf(stddev > 0) FROM \`${config.clickhouse.database}\`.samples_5m FINAL) AS sd`,
    );
    const [minutes, fives, hours] = [Number(row?.m), Number(row?.f), Number(row?.h)];
    expect(fives).toBeGreaterThanOrEqual(16 * series);
    expect(minutes).toBeGreaterThan(4 * fives);
    expect(fives).toBeGreaterThan(5 * hours);
    // The stddev is not trivially 0: the synthetic series vary.
    expect(Number(row?.sd)).toBeGreaterThan(fives / 2);
    expect(stats.rollups).toEqual({ '1m': minutes, '5m': fives, '1h': hours });

    // The tier's topic and changelog are named after it, and hold its results.
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const topic = tierTopic(config, tiers[1] as TierConfig);
      expect(topic).toBe(`${config.topics.metrics}-5m`);
      const topics = await admin.listTopics();
      expect(topics).toContain(topic);
      expect(topics).toContain(`${config.appId}-window-5m-changelog`);
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBeGreaterThan(0);
    } finally {
      await admin.disconnect();
    }
  });
});
