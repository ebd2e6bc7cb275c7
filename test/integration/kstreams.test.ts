import avro from 'avsc';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureKstreamsJar, MavenFetchError, runKstreamsJob } from '../../bench/kstreamsJob.js';
import { rollupBatchType, rollupSchema, WIRE_HEADER_BYTES } from '../../schemas/index.js';
import { cli, configFile, produce, readTopic, tempDir, testKafka } from './helpers.js';
import { namedTier, namedTierTopic } from '../../core/tiers.js';

/** The fields both sides compute; the sketch bytes and the revision are left out. */
interface Result {
  seriesId: string;
  windowStart: number;
  windowEnd: number;
  name: string;
  kind: string;
  count: number;
  sum: number;
  stddev: number;
  min: number;
  max: number;
  first: number;
  last: number;
  increase: number;
  p50: number;
  p99: number;
}

const rollupType = avro.Type.forSchema(rollupSchema);

describe('the Kafka Streams reference job (bench/kstreams)', () => {
  it('computes the same 1m and 1h window results as the topology with --sink topics, on the same input', async (ctx) => {
    try {
      await ensureKstreamsJar(() => {});
    } catch (error) {
      // Only a Maven that cannot download the job's artifacts skips; a compile error fails.
      if (error instanceof MavenFetchError)
        return ctx.skip(`Maven cannot fetch the Kafka Streams job's artifacts: ${error.message}`);
      throw error;
    }
    const dir = tempDir('kstreams');
    const batch = 20;
    const { config, file } = configFile(dir, {
      topics: { partitions: 4 },
      // A record of `batch` samples 10 s apart spans batch × 10 s of event time.
      windows: { outOfOrdernessMs: batch * 10_000 },
    });
    const total = 30_000;
    // The synthetic workload has counters among its metrics: their increases are compared too.
    await produce(config, { series: 60, samples: total, batch, seed: 7 });

    const ours = cli(['--config', file, 'run', '--sink', 'topics', '--exit-when-idle']);
    expect(await ours.exit, ours.stderr().slice(-2000)).toBe(0);
    const stats = /(\d+) 1m and (\d+) 1h window results/.exec(ours.stdout());
    expect(stats, ours.stdout()).not.toBeNull();

    const { windows } = config;
    const job = await runKstreamsJob({
      brokers: (config.kafka.brokers ?? []).join(','),
      registryUrl: config.schemaRegistry.url as string,
      input: config.topics.metrics,
      appId: `${config.appId}-kstreams`,
      out1m: `${namedTierTopic(config, '1m')}-kstreams`,
      out1h: `${namedTierTopic(config, '1h')}-kstreams`,
      stateDir: join(dir, 'kstreams-state'),
      grace1mMs: namedTier(config, '1m').graceMs + windows.outOfOrdernessMs,
      grace1hMs: namedTier(config, '1h').graceMs + windows.outOfOrdernessMs,
      heapMB: 512,
      logFile: join(dir, 'kstreams.log'),
    });
    expect(job).toMatchObject({ samples: total, miskeyed: 0 });
    expect([job.results1m, job.results1h]).toEqual([Number(stats?.[1]), Number(stats?.[2])]);
    expect(job.committedAt).toBeGreaterThanOrEqual(job.endOfInputAt);

    for (const [tier, theirs, count] of [
      ['1m', `${namedTierTopic(config, '1m')}-kstreams`, job.results1m],
      ['1h', `${namedTierTopic(config, '1h')}-kstreams`, job.results1h],
    ] as const) {
      const expected = byWindow(await oursResults(namedTierTopic(config, tier)));
      const actual = byWindow(
        (await readTopic(theirs, count)).map((m) => rollupType.fromBuffer(body(m.value)) as Result),
      );
      expect(actual.size, tier).toBe(expected.size);
      expect(actual.size).toBeGreaterThan(0);
      let counters = 0;
      for (const [window, want] of expected) {
        const got = actual.get(window);
        expect(got, `${tier} ${window}`).toBeDefined();
        if (!got) continue;
        if (want.kind === 'counter') counters++;
        const { sum, stddev, increase, p50, p99, ...exact } = want;
        expect({ ...got, sum: 0, stddev: 0, increase: 0, p50: 0, p99: 0 }, `${tier} ${window}`).toMatchObject(
          {
            ...exact,
            sum: 0,
            stddev: 0,
            increase: 0,
            p50: 0,
            p99: 0,
          },
        );
        expect(got.sum).toBeCloseTo(sum, 6);
        // Merged in another order (per-record partials): equal to rounding, relative to the value.
        expect(Math.abs(got.stddev - stddev)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(stddev)));
        expect(got.increase).toBeCloseTo(increase, 6);
        // Both are DDSketches with the same mapping, each within 1 % of the exact quantile, so
        // within about 2 % of each other (the two libraries place a bin's value a little apart).
        for (const [q, theirs, ours] of [
          ['p50', got.p50, p50],
          ['p99', got.p99, p99],
        ] as const) {
          const bound = 0.025 * Math.max(Math.abs(theirs), Math.abs(ours)) + 1e-9;
          expect(Math.abs(theirs - ours), `${tier} ${window} ${q}: ${theirs} vs ${ours}`).toBeLessThanOrEqual(
            bound,
          );
        }
      }
      expect(counters, `${tier}: counter windows compared`).toBeGreaterThan(0);
    }
  }, 300_000);
});

/** Every result of one of our tier topics (RollupBatch records), read to the topic's end. */
async function oursResults(topic: string): Promise<Result[]> {
  const admin = testKafka().admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const records = offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const messages = await readTopic(topic, records);
  return messages.flatMap(
    (m) => (rollupBatchType.fromBuffer(body(m.value)) as { results: Result[] }).results,
  );
}

function body(value: Buffer | null): Buffer {
  if (!value) throw new Error('a tier record without a value');
  return value.subarray(WIRE_HEADER_BYTES);
}

/** Results by series and window start; a later result of the same window replaces an earlier one. */
function byWindow(results: Result[]): Map<string, Result> {
  const out = new Map<string, Result>();
  for (const r of results) {
    const {
      seriesId,
      windowStart,
      windowEnd,
      name,
      kind,
      count,
      sum,
      stddev,
      min,
      max,
      first,
      last,
      increase,
      p50,
      p99,
    } = r;
    out.set(`${seriesId}@${windowStart}`, {
      seriesId,
      windowStart: Number(windowStart),
      windowEnd: Number(windowEnd),
      name,
      kind,
      count: Number(count),
      sum,
      stddev,
      min,
      max,
      first,
      last,
      increase,
      p50,
      p99,
    });
  }
  return out;
}
