import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Config } from '../../core/config.js';
import type { Logger } from '../../core/log.js';
import { repartitionTopic } from '../../sinks/repartition.js';
import { TIER_AGGREGATES } from '../../sinks/tables.js';
import { runPipeline } from '../../topology/run.js';
import {
  caughtUp,
  cli,
  configFile,
  counts,
  produce,
  query,
  runToEnd,
  tempDir,
  testConfig,
  testKafka,
  tierCheck,
  within,
} from './helpers.js';

/** One embedded engine per process: every in-process run of this file uses this folder. */
const chPath = tempDir('ch-stream-threads');

/** A record carries 5 samples 10 s apart: event time runs up to 50 s out of order per partition. */
const windows = { outOfOrdernessMs: 60_000 };

/**
 * A logger keeping every line (parsed) for the test; warnings and errors also go to stderr.
 * `until` resolves once a kept line satisfies `predicate` (it may already have).
 */
function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ predicate: (line: Record<string, unknown>) => boolean; resolve: () => void }> = [];
  const log: Logger = pino(
    { name: 'run', level: 'info' },
    {
      write(text: string) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (Number(line.level) >= 40) process.stderr.write(text);
        for (const w of [...waiters])
          if (w.predicate(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
      },
    },
  );
  const until = (predicate: (line: Record<string, unknown>) => boolean) =>
    new Promise<void>((resolve) => {
      if (lines.some(predicate)) resolve();
      else waiters.push({ predicate, resolve });
    });
  return { log, lines, until };
}

/**
 * Resolves once each of `threads` threads has had partitions assigned: the group then holds all
 * of them. The input is produced after that, so that each record is processed once and the
 * summed counts can be compared exactly. On a broker that completes a group's first rebalance at
 * once (`group.initial.rebalance.delay.ms` 0, as the suite's), a thread often joins alone, takes
 * every partition and processes what is there; the rebalance caused by the next thread then
 * fences its commit and the input is processed again: the stored rows are the same (the sinks
 * are idempotent), but `records`, `stored` and `rollups` count it twice.
 */
function allThreadsJoined(capture: ReturnType<typeof capturingLog>, threads: number): Promise<void> {
  const joined = new Set<unknown>();
  return capture.until((l) => {
    if (l.msg === 'partitions assigned') joined.add(l.thread);
    return joined.size === threads;
  });
}

/** Every row of both tiers (FINAL), ordered by series and time: the aggregate columns, not the revision. */
async function tierRows(config: Config): Promise<Record<string, unknown[]>> {
  const db = `\`${config.clickhouse.database}\``;
  const rows: Record<string, unknown[]> = {};
  for (const tier of ['1m', '1h']) {
    rows[tier] = await query(
      config,
      `SELECT metric, series_id, toUnixTimestamp64Milli(ts) AS t, ${TIER_AGGREGATES.join(', ')}
       FROM ${db}.samples_${tier} FINAL ORDER BY metric, series_id, t`,
    );
  }
  return rows;
}

describe('stream threads (streams.threads)', () => {
  it('two threads store what one thread stores: the same samples, counts and tier rows', async () => {
    const two = testConfig(chPath, { streams: { threads: 2 }, windows });
    // Another application (group, changelogs, database) over the same input topic.
    const one = testConfig(chPath, {
      streams: { threads: 1 },
      windows,
      topics: { metrics: two.topics.metrics },
    });
    expect(one.topics.metrics).toBe(two.topics.metrics);
    expect(one.appId).not.toBe(two.appId);
    expect(one.clickhouse.database).not.toBe(two.clickhouse.database);

    const series = 400;
    const total = 6_000;
    const threaded = capturingLog();
    // The whole input is there before the threads join: the first to join must not process it
    // alone (the threads start processing once all have their partitions), or the counts below
    // would count it twice (see `allThreadsJoined`).
    const produced = await produce(two, { series, samples: total, batch: 5, seed: 21 });
    // Without a poll (an hour apart): the end of the input is found when the threads (or the one
    // thread) have written every record they fetched.
    const noPoll = { idlePollMs: 3_600_000 };
    const statsTwo = await runToEnd(two, { log: threaded.log, ...noPoll });
    expect(produced).toMatchObject({ samples: total, records: total / 5 });
    const statsOne = await runToEnd(one, noPoll);
    expect(threaded.lines.find((l) => l.msg === 'stream threads started')).toMatchObject({ threads: 2 });

    const rowsByRun: Array<Record<string, unknown[]>> = [];
    for (const [config, stats] of [
      [two, statsTwo],
      [one, statsOne],
    ] as const) {
      expect(stats).toMatchObject({ records: produced.records, stored: total, deadLettered: 0, late: 0 });
      expect(await counts(config)).toEqual({ rows: total, distinct: total, series });
      for (const tier of ['1m', '1h'] as const) {
        const check = await tierCheck(config, tier);
        expect(check.windows).toBeGreaterThanOrEqual(series);
        expect(check, tier).toMatchObject({ mismatches: 0, duplicates: 0, missing: 0, extra: 0 });
      }
      const rows = await tierRows(config);
      // Every window result counted once, by whichever thread produced it.
      expect(stats.rollups).toEqual({ '1m': rows['1m']?.length, '1h': rows['1h']?.length });
      rowsByRun.push(rows);
    }
    expect(statsTwo.rollups).toEqual(statsOne.rollups);
    const [threadedRows, singleRows] = rowsByRun as [Record<string, unknown[]>, Record<string, unknown[]>];
    for (const tier of ['1m', '1h']) expect(threadedRows[tier], tier).toEqual(singleRows[tier]);
  });

  it("both threads' log lines reach the caller's logger, with their thread; /metrics sums the threads", async () => {
    const config = testConfig(chPath, { streams: { threads: 2 }, windows });
    const capture = capturingLog();
    const { log, lines } = capture;

    const stop = new AbortController();
    const run = runPipeline({ config, log, signal: stop.signal });
    let produced: Awaited<ReturnType<typeof produce>>;
    let scraped: string;
    try {
      await within('both threads joining', 60_000, allThreadsJoined(capture, 2));
      produced = await produce(config, { series: 60, samples: 1_200, batch: 5, seed: 22 });
      await within('consuming the input', 60_000, caughtUp(config.appId, [config.topics.metrics]));
      const url = lines.find((l) => l.msg === 'admin server listening')?.url as string;
      scraped = await (await fetch(`${url}/metrics`)).text();
    } finally {
      stop.abort();
    }
    const stats = await within('the run', 90_000, run);
    expect(stats).toMatchObject({ records: produced.records, stored: produced.samples });

    const assigned = lines.filter((l) => l.msg === 'partitions assigned');
    expect(new Set(assigned.map((l) => l.thread))).toEqual(new Set([0, 1]));
    // Each thread owned partitions of the input at some point, and between them all three.
    const owned = (thread: number) =>
      new Set(assigned.filter((l) => l.thread === thread).flatMap((l) => l.assigned as number[]));
    expect(owned(0).size).toBeGreaterThan(0);
    expect(owned(1).size).toBeGreaterThan(0);
    expect(new Set([...owned(0), ...owned(1)])).toEqual(new Set([0, 1, 2]));
    // Relayed lines are the main logger's (its name), with the thread's own fields kept.
    expect(assigned.every((l) => l.name === 'run' && typeof l.generation === 'number')).toBe(true);
    // The main thread's own lines carry no thread.
    expect(lines.find((l) => l.msg === 'stream threads started')).not.toHaveProperty('thread');

    // Every record was counted by one thread or the other: the sum is all of them.
    expect(scraped).toMatch(
      new RegExp(`^metrics_pipeline_records_in_total\\{stage="source"\\} ${produced.records}$`, 'm'),
    );
  });

  it('SIGKILLed mid-stream twice with two threads, then restarted: every sample stored once', async () => {
    const dir = tempDir('threads-restart');
    const { config, file } = configFile(dir, {
      streams: { threads: 2 },
      sink: { maxRows: 4000, maxMs: 100 },
      windows,
    });
    const total = 120_000;
    // Produced at a steady rate while the topology runs, so that the kills land mid-stream.
    const production = produce(config, { series: 500, samples: total, batch: 5, seed: 23, rate: 4_000 });

    // Kill once right after a thread stored a flush, once later in the middle of consuming.
    for (const pattern of [/"msg":"flushed"/, /consumed [1-9]\d{3,} records/]) {
      const run = cli(['--config', file, 'run'], { LOG_LEVEL: 'debug' });
      await run.waitFor(pattern);
      expect(run.stderr()).toMatch(/"threads":2,"msg":"stream threads started"/);
      run.child.kill('SIGKILL');
      expect(await run.exit).toBe('SIGKILL');
    }
    const { rows: beforeLast } = await counts(config);
    expect(beforeLast).toBeGreaterThan(0);
    expect(beforeLast).toBeLessThan(total);

    await production;
    const last = cli(['--config', file, 'run', '--exit-when-idle']);
    expect(await last.exit, last.stderr().slice(-2000)).toBe(0);
    expect(last.stderr()).toMatch(/"threads":2,"msg":"stream threads started"/);
    expect(await counts(config)).toEqual({ rows: total, distinct: total, series: 500 });
    expect(last.stdout()).toMatch(/, 0 late samples/);
    for (const tier of ['1m', '1h'] as const) {
      const check = await tierCheck(config, tier);
      expect(check.windows).toBeGreaterThan(0);
      expect(check, tier).toMatchObject({ mismatches: 0, duplicates: 0 });
    }
  }, 240_000);

  it('a thread that cannot start its topology fails the run with its error, instead of hanging', async () => {
    // The windows' repartition topic exists with fewer partitions than the input: each thread's
    // topology refuses to start (the main thread does not look at topics before starting them).
    const config = testConfig(chPath, { streams: { threads: 2 }, input: { coPartitioned: false } });
    const admin = testKafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic: config.topics.metrics, numPartitions: 3 },
          { topic: repartitionTopic(config.appId), numPartitions: 1 },
        ],
      });
    } finally {
      await admin.disconnect();
    }
    const { log, lines } = capturingLog();
    const failure = await within(
      'the failing run',
      60_000,
      runToEnd(config, { log }).catch((e: unknown) => e),
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure).toMatchObject({
      name: 'ConfigError',
      message: `${repartitionTopic(config.appId)} has 1 partitions and the input ${config.topics.metrics} has 3: they must be equal`,
      hint: expect.stringMatching(/delete .* while no topology runs/),
    });
    // It was a stream thread's: its stack is the worker's.
    expect((failure as Error).stack).toMatch(/topology\/streamWorker\.ts/);
    // Nothing started consuming.
    expect(lines.some((l) => l.msg === 'stream threads started')).toBe(false);
    expect(lines.some((l) => l.msg === 'partitions assigned')).toBe(false);
  });

  it('a thread failing mid-run stops the others and fails the run with its error; the process is left with no thread', async () => {
    const config = testConfig(chPath, { streams: { threads: 2 }, windows });
    await produce(config, { series: 30, samples: 600, batch: 5, seed: 23 });
    const capture = capturingLog();
    const run = runPipeline({ config, log: capture.log });
    const settled = run.then(
      () => undefined,
      (error: unknown) => error,
    );
    await within('consuming the input', 60_000, caughtUp(config.appId, [config.topics.metrics]));
    const admin = testKafka().admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [config.topics.metrics] });
    } finally {
      await admin.disconnect();
    }
    // Gone, or (brokers create topics on a metadata request) created again, empty: either way the
    // threads' consumers fail, and with them the run, which does not hang on its stop barrier.
    const error = await within('the failed run', 60_000, settled);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(new RegExp(`topic ${config.topics.metrics} `));
    expect(capture.lines.some((l) => l.msg === 'consumer failed' && typeof l.thread === 'number')).toBe(true);
  });
});
