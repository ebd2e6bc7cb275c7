import { describe, expect, it } from 'vitest';
import { partitionCount } from '../../core/kafka.js';
import { repartitionTopic } from '../../sinks/repartition.js';
import { runPipeline } from '../../topology/run.js';
import {
  caughtUp,
  counts,
  produce,
  quietLog,
  runToEnd,
  tempDir,
  testConfig,
  testKafka,
  tierCheck,
} from './helpers.js';

const chPath = tempDir('ch-repartition');

/**
 * The input of these tests is dealt round-robin to the partitions (`keys: 'round-robin'`):
 * every series is spread over all of them, so that only a repartition by series brings each
 * series' samples together. A record carries 5 samples 10 s apart: event time runs up to 50 s
 * out of order per input partition.
 */
const notCoPartitioned = () =>
  testConfig(chPath, { input: { coPartitioned: false }, windows: { outOfOrdernessMs: 60_000 } });

async function tiersEqualRecomputation(config: ReturnType<typeof testConfig>): Promise<void> {
  for (const tier of ['1m', '1h'] as const) {
    const check = await tierCheck(config, tier);
    expect(check.windows).toBeGreaterThan(0);
    expect(check, tier).toMatchObject({ mismatches: 0, duplicates: 0, missing: 0, extra: 0 });
  }
}

describe('repartition by series (input.coPartitioned: false)', () => {
  it('every series spread over all input partitions: both tiers equal a batch recomputation', async () => {
    const config = notCoPartitioned();
    const total = 60_000;
    const produced = await produce(config, {
      series: 500,
      samples: total,
      batch: 5,
      seed: 5,
      keys: 'round-robin',
    });

    const stats = await runToEnd(config);
    expect(stats).toMatchObject({
      records: produced.records,
      stored: total,
      repartitioned: total,
      deadLettered: 0,
      late: 0,
    });
    expect(await counts(config)).toEqual({ rows: total, distinct: total, series: 500 });
    await tiersEqualRecomputation(config);

    // Partitioned like the input; what the windows consumed was deleted.
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const topic = repartitionTopic(config.appId);
      expect(await partitionCount(admin, topic)).toBe(config.topics.partitions);
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBeGreaterThan(0);
      for (const p of offsets) expect(p.low).toBe(p.high);
    } finally {
      await admin.disconnect();
    }
  });

  it('a replay of the whole input repartitions every sample again: the windows count each once', async () => {
    const config = notCoPartitioned();
    const total = 30_000;
    const produced = await produce(config, {
      series: 300,
      samples: total,
      batch: 5,
      seed: 6,
      keys: 'round-robin',
    });

    // First run: everything consumed; stopped without closing the windows (they stay in the stores).
    const stop = new AbortController();
    const first = runPipeline({ config, log: quietLog, signal: stop.signal });
    await caughtUp(config.appId, [config.topics.metrics, repartitionTopic(config.appId)]);
    stop.abort();
    expect(await first).toMatchObject({ repartitioned: total, late: 0 });

    // As after a crash before any commit: the whole input again, so every sample is repartitioned twice.
    const admin = testKafka().admin();
    await admin.connect();
    try {
      await admin.resetOffsets({ groupId: config.appId, topic: config.topics.metrics, earliest: true });
    } finally {
      await admin.disconnect();
    }
    const second = await runToEnd(config);
    expect(second).toMatchObject({ records: produced.records, repartitioned: total, late: 0 });
    expect(await counts(config)).toEqual({ rows: total, distinct: total, series: 300 });
    await tiersEqualRecomputation(config);
  });

  it('co-partitioned input (the default) creates no repartition topic', async () => {
    const config = testConfig(chPath);
    expect(config.input.coPartitioned).toBe(true);
    await runToEnd(config);
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      expect(topics).toContain(config.topics.metrics);
      expect(topics).toContain(`${config.appId}-window-1m-changelog`);
      expect(topics).not.toContain(repartitionTopic(config.appId));
    } finally {
      await admin.disconnect();
    }
  });
});
