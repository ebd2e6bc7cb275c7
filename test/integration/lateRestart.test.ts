import { describe, expect, it } from 'vitest';
import { createKafka, ensureTopics } from '../../core/kafka.js';
import { seriesId } from '../../core/series.js';
import { valueSubject } from '../../producer/produce.js';
import { batchSchema, batchType, frame, type Sample } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import { LATE_REASON_HEADER } from '../../sinks/late.js';
import { cli, configFile, query, quietLog, readTopic, runToEnd, tempDir } from './helpers.js';

const SECOND = 1000;
const MINUTE = 60_000;

/**
 * A sample later than its window's allowed lateness, in input read again after restarts and a
 * kill, as operators met it: every series in partition 0 of three, so that at each start the
 * other two (assigned, without records) hold the combined watermark back.
 */
describe('a too-late sample across restarts and kills', () => {
  it('goes to the late topic every time, never reopens its closed minute, and the hour keeps every regular sample', async () => {
    const dir = tempDir('late-restart');
    const { config, file } = configFile(dir, {
      // A kill right after a flush lands before the commit: it comes after 60 s, or 4 s of quiet input.
      sink: { maxMs: 2000, commitIntervalMs: 60_000 },
    });
    const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
    const registry = new Registry(config.schemaRegistry.url as string);
    const schemaId = await registry.register(valueSubject(config.topics.metrics), batchSchema);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: config.topics.metrics, partitions: config.topics.partitions }]);
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    // Two hours back, on an hour: every window of the test lies in one hour, within every TTL.
    const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;
    const labels = { host: 'a' };
    const send = async (times: number[]) => {
      const samples = times.map((t): Sample => ({
        name: 'late_test',
        labels,
        timestamp: T0 + t,
        value: 1,
        kind: 'gauge',
      }));
      await producer.send({
        topic: config.topics.metrics,
        acks: -1,
        messages: samples.map((s) => ({
          partition: 0,
          value: frame(schemaId, batchType.toBuffer({ samples: [s] })),
        })),
      });
    };
    const minute0 = [0, 5, 10, 15, 20, 25].map((s) => s * SECOND);
    const later = (from: number, to: number) =>
      Array.from({ length: (to - from) / (20 * SECOND) + 1 }, (_, i) => from + i * 20 * SECOND);

    // First run: minute 0 full (6 samples), then samples to minute 4: minute 0 closes and is purged.
    await send([...minute0, ...later(MINUTE, 4 * MINUTE)]);
    await runToEnd(config);

    // Then a sample of minute 0, long past its allowed lateness (window end + 10 s grace + 60 s),
    // and more regular ones. A second run is killed right after its first flush, before any commit.
    const lateOffset = minute0.length + later(MINUTE, 4 * MINUTE).length;
    await send([30 * SECOND, ...later(4 * MINUTE + 20 * SECOND, 6 * MINUTE)]);
    await producer.disconnect();
    const killed = cli(['--config', file, 'run'], { LOG_LEVEL: 'debug' });
    await killed.waitFor(/"msg":"flushed"/);
    killed.child.kill('SIGKILL');
    expect(await killed.exit).toBe('SIGKILL');
    // A third run reads the records after the last commit again.
    const last = cli(['--config', file, 'run', '--exit-when-idle']);
    expect(await last.exit, last.stderr().slice(-2000)).toBe(0);

    const regular =
      minute0.length + later(MINUTE, 4 * MINUTE).length + later(4 * MINUTE + 20 * SECOND, 6 * MINUTE).length;
    const db = `\`${config.clickhouse.database}\``;
    const id = seriesId('late_test', [['host', 'a']]).toString();
    const tiers = await query<{ tier: string; count: string }>(
      config,
      `SELECT '1m' AS tier, count FROM ${db}.samples_1m FINAL WHERE series_id = ${id} AND ts = toDateTime64(${T0 / 1000}, 3)
       UNION ALL
       SELECT '1h' AS tier, count FROM ${db}.samples_1h FINAL WHERE series_id = ${id} AND ts = toDateTime64(${T0 / 1000}, 3)`,
    );
    // ORDER BY after UNION ALL would sort only its last SELECT: sorted here.
    const byTier = tiers
      .map((r): [string, number] => [r.tier, Number(r.count)])
      .sort(([a], [b]) => a.localeCompare(b));
    expect(byTier).toEqual([
      ['1h', regular],
      ['1m', 6],
    ]);
    // Late in both runs that read it, with its reason; nothing else is late.
    const late = await readTopic(config.topics.late, 2);
    expect(late.map((m) => Number(String(m.headers?.['late.source.offset'])))).toEqual([
      lateOffset,
      lateOffset,
    ]);
    for (const m of late)
      expect(String(m.headers?.[LATE_REASON_HEADER])).toMatch(/allowed lateness of 60000 ms has passed/);
  });
});
