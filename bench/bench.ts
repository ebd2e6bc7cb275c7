/**
 * `metrics-pipeline bench` (`npm run bench`): throughput, latency, memory and storage of the
 * topology on a seeded synthetic workload, on real Kafka, a real registry and ClickHouse.
 *
 *   1. batched run: pre-load a fresh topic with the workload (100 samples per record), then time
 *      `metrics-pipeline run --exit-when-idle` in its own process until it exits 0, sampling its
 *      /proc status for peak RSS; then count and measure what ClickHouse holds.
 *   2. unbatched run: the same with 1 sample per record.
 *   3. latency run: the topology runs while the workload is produced at a steady rate; polling
 *      `count()` every 250 ms against when each record was sent gives each row's latency.
 *
 * The method and its limits are in bench/README.md.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { messageOf } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import { createLogger } from '../core/log.js';
import { Registry } from '../schemas/registry.js';
import { startServices, type RunningServices } from '../services/index.js';
import { openClickHouse } from '../sinks/clickhouse.js';
import { commandConfig, type GlobalOptions } from '../cli/context.js';
import type { Config } from '../core/config.js';
import {
  COLLECTOR_RUNS,
  collectorRun,
  type CollectorBenchOptions,
  type CollectorBenchResult,
} from './collectorRun.js';
import { floorRun } from './floor.js';
import { formatKstreams, kstreamsComparison } from './kstreams.js';
import { latencyRun } from './latency.js';
import { queryBench, type QueryBenchResult } from './query.js';
import { formatQueryBench } from './queryReport.js';
import { formatCollector, formatReport, TARGETS, type BenchReport, type Machine } from './report.js';
import { throughputRun, type BenchContext } from './throughput.js';
import { BENCH_DIR } from './workspace.js';

export interface BenchFlags {
  series: number;
  samples: number;
  seed: number;
  /** Samples per second of the latency run (default: half the batched throughput, at most 200,000). */
  latencyRate?: number;
  latencySeconds: number;
  json?: boolean;
  /** Profile the batched run's topology process (node --cpu-prof) and summarize its hot spots. */
  cpuProf?: boolean;
  /** Keep the runs' ClickHouse data (and topics on an existing Kafka) for inspection. */
  keep?: boolean;
  /** Only the collector run. */
  collectorOnly?: boolean;
  collectorSeconds: number;
  /** Worker processes of the collector in the collector run. */
  collectorWorkers: number;
  /** Also measure the floor: the fixed parts (consume, insert, window results) alone (bench/floor.ts). */
  floor: boolean;
  /** Also the query part: the query service against a real Prometheus on seeded data (bench/query.ts). */
  query?: boolean;
  /** Only the query part (no Kafka, no topology). */
  queryOnly?: boolean;
  /** Series of the query part's data set. */
  querySeries: number;
  /** Runs of each query per side, cold and warm. */
  queryReps: number;
  /** Only the queries whose id contains this text (e.g. `90d`, `all.range`). */
  queryFilter?: string;
  /** A query data set kept by an earlier `--keep` run: no seeding. */
  queryData?: string;
  /** Only the comparison with the Kafka Streams job (bench/kstreams.ts). */
  kstreams?: boolean;
  /** Runs of each side in that comparison, alternating. */
  kstreamsRounds: number;
}

const RUNS = ['batched', 'unbatched', 'latency', 'floor', ...Object.values(COLLECTOR_RUNS)] as const;
/** Every run of `--kstreams` is named `kstreams…` (bench/kstreams.ts). */
const KSTREAMS_RUNS = 'kstreams';
const LATENCY_RATE_CAP = 200_000;
/** produceSynthetic's default: event time between two samples of a series in the throughput runs. */
const THROUGHPUT_INTERVAL_MS = 10_000;

const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

export async function benchCommand(global: GlobalOptions, flags: BenchFlags): Promise<void> {
  const began = Date.now();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const benchId = began.toString(36);
  let config = await commandConfig(global);
  let services: RunningServices | undefined;
  const ctxChildren: BenchContext['children'] = new Set();
  /** The query part's Prometheus and query service while they run. */
  const queryChildren = new Set<{ stop(): Promise<void> }>();
  const interrupt = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping the topology and the services`);
    void Promise.allSettled([...ctxChildren, ...queryChildren].map((c) => c.stop()))
      .then(() => services?.stop())
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    if (flags.queryOnly) {
      const query = await queryPart(config, benchId, flags, queryChildren);
      if (flags.json) console.log(JSON.stringify({ query, machine: machine(loadAtStart) }));
      return;
    }
    if (!config.kafka.brokers || !config.schemaRegistry.url) {
      say('starting local Kafka and schema registry (first run fetches their jars with Maven)…');
      services = await startServices({ onProgress: say });
      config = await commandConfig(global, {
        kafka: { brokers: services.brokers },
        schemaRegistry: { url: services.registryUrl },
      });
    }
    const log = createLogger('bench', 'warn');
    const ctx: BenchContext = {
      base: config,
      benchId,
      kafka: createKafka(config.kafka.brokers, config.kafka.clientId, log),
      registry: new Registry(config.schemaRegistry.url as string),
      say,
      children: ctxChildren,
    };
    const collectorOptions = {
      batch: 1000,
      requests: 100_000,
      seconds: flags.collectorSeconds,
      workers: flags.collectorWorkers,
      concurrency: 16,
      series: flags.series,
      cpuProfile: (flags.cpuProf ?? false) && flags.collectorOnly,
    };
    try {
      if (flags.collectorOnly) {
        const collector = await collectorRuns(ctx, collectorOptions);
        for (const run of collector) {
          console.log(formatCollector(run));
          if (!run.profile) continue;
          const { byArea, self, total } = run.profile;
          console.log(
            JSON.stringify({ byArea, self: self.slice(0, 15), total: total.slice(0, 15) }, null, 1),
          );
        }
        if (flags.json)
          console.log(JSON.stringify({ ...collectorFigures(collector), machine: machine(loadAtStart) }));
        return;
      }
      const workload = { series: flags.series, samples: flags.samples, seed: flags.seed };
      if (flags.kstreams) {
        const comparison = await kstreamsComparison(ctx, workload, flags.kstreamsRounds);
        console.log(formatKstreams(comparison));
        if (flags.json) console.log(JSON.stringify({ kstreams: comparison, machine: machine(loadAtStart) }));
        return;
      }
      const batched = await throughputRun(ctx, workload, 'batched', 100, flags.cpuProf ?? false);
      const unbatched = await throughputRun(ctx, workload, 'unbatched', 1, false);
      const floor = flags.floor
        ? await floorRun(ctx, {
            batchedTopic: batched.topics.input,
            unbatchedTopic: unbatched.topics.input,
            tierTopics: batched.topics.tiers,
            changelogPrefix: batched.topics.changelogPrefix,
            cpus: os.cpus().length,
            dir: join(BENCH_DIR, benchId, 'floor'),
          })
        : null;
      const rate =
        flags.latencyRate ??
        Math.min(
          LATENCY_RATE_CAP,
          Math.round((batched.samplesPerSec ?? batched.samplesPerSecInclStartup) / 2),
        );
      const latency = await latencyRun(ctx, {
        rate,
        seconds: flags.latencySeconds,
        series: flags.series,
        seed: flags.seed,
      });
      const collector = await collectorRuns(ctx, collectorOptions);
      const query = flags.query ? await queryPart(config, benchId, flags, queryChildren) : undefined;
      const report: BenchReport = {
        samplesPerSec: batched.samplesPerSec,
        samplesPerSecUnbatched: unbatched.samplesPerSec,
        samplesPerSecInclStartup: batched.samplesPerSecInclStartup,
        samplesPerSecUnbatchedInclStartup: unbatched.samplesPerSecInclStartup,
        samplesPerSecMeaning:
          'samples / (topology process exit − its "partitions assigned" log line), the topic pre-loaded; ' +
          'the exit comes after every row is durable and the offsets are committed (and up to 0.5 s of idle check).',
        p50LatencyMs: latency.p50Ms,
        p99LatencyMs: latency.p99Ms,
        latencyMeaning:
          'per row: first count() poll (every 250 ms, through the admin server) that saw it stored, answer time, ' +
          'minus the time its record was handed to producer.send; rows matched in order (k-th sent = k-th stored). ' +
          'Upper bound; the lower bound uses the previous poll instead. Includes the sink buffer (sink.maxMs).',
        peakRssMB: batched.peakRssMB,
        peakRssMBUnbatched: unbatched.peakRssMB,
        peakRssMBLatency: latency.peakRssMB,
        bytesPerSample: round(batched.storage.afterMerge.bytesPerSample),
        bytesPerSampleBeforeMerge: round(batched.storage.beforeMerge.bytesPerSample),
        stateBytesPerSeries: batched.stateBytesPerSeries,
        workload: {
          ...workload,
          partitions: config.topics.partitions,
          intervalMs: THROUGHPUT_INTERVAL_MS,
          batches: [batched.batch, unbatched.batch],
        },
        latency,
        runs: [batched, unbatched],
        floor,
        machine: machine(loadAtStart),
        targets: TARGETS,
        benchSeconds: Math.round((Date.now() - began) / 100) / 10,
        ...collectorFigures(collector),
        ...(query ? { query } : {}),
      };
      console.log(formatReport(report));
      for (const run of collector) console.log(formatCollector(run));
      if (flags.json) console.log(JSON.stringify(report));
    } finally {
      if (!flags.keep) await removeRunData(ctx, services !== undefined);
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    if (services) say('stopping the services it started');
    await services?.stop();
  }
}

/** The query part, its table printed as soon as it is done. */
async function queryPart(
  config: Config,
  benchId: string,
  flags: BenchFlags,
  children: Set<{ stop(): Promise<void> }>,
): Promise<QueryBenchResult> {
  const result = await queryBench(
    config,
    benchId,
    {
      series: flags.querySeries,
      reps: flags.queryReps,
      cpuProf: flags.cpuProf ?? false,
      keep: flags.keep ?? false,
      reuse: flags.queryData,
      filter: flags.queryFilter,
    },
    say,
    children,
  );
  console.log(formatQueryBench(result));
  return result;
}

/** The collector runs: the SDK's JSON batches, then Prometheus remote_write. */
async function collectorRuns(
  ctx: BenchContext,
  options: Omit<CollectorBenchOptions, 'format'>,
): Promise<CollectorBenchResult[]> {
  return [
    await collectorRun(ctx, { ...options, format: 'json' }),
    await collectorRun(ctx, { ...options, format: 'remote_write' }),
  ];
}

/** The JSON line's collector fields: `collectorSamplesPerSec` is the better format's, each also on its own. */
function collectorFigures(runs: CollectorBenchResult[]) {
  const [json, rw] = runs as [CollectorBenchResult, CollectorBenchResult];
  const best = rw.samplesPerSec >= json.samplesPerSec ? rw : json;
  return {
    collectorSamplesPerSec: best.samplesPerSec,
    collectorRequestsPerSec: best.requestsPerSec,
    collectorFormat: best.format,
    collectorWorkers: best.workers,
    collectorSamplesPerSecJson: json.samplesPerSec,
    collectorSamplesPerSecRemoteWrite: rw.samplesPerSec,
    collector: runs,
  };
}

/** ClickHouse data of the runs, and their topics on a Kafka we did not start (ours is removed with its folder). */
async function removeRunData(ctx: BenchContext, ownKafka: boolean): Promise<void> {
  try {
    if (!ownKafka) {
      const admin = ctx.kafka.admin();
      await admin.connect();
      try {
        // Every topic of this bench is named `bench-<benchId>-…`: the runs' inputs, tier, late and
        // dead-letter topics, their changelogs (named by the run's appId), the floor's copies and
        // the Kafka Streams job's internal topics.
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(`bench-${ctx.benchId}-`));
        if (topics.length > 0) await admin.deleteTopics({ topics });
      } finally {
        await admin.disconnect();
      }
    }
    if (ctx.base.clickhouse.url) {
      const ch = await openClickHouse(ctx.base.clickhouse);
      try {
        for (const run of RUNS)
          await ch.client.command({ query: `DROP DATABASE IF EXISTS \`bench_${ctx.benchId}_${run}\`` });
      } finally {
        await ch.close();
      }
    }
  } catch (error) {
    say(`could not remove the runs' topics or databases: ${messageOf(error)}`);
  }
  for (const run of RUNS)
    rmSync(join(BENCH_DIR, ctx.benchId, run, 'clickhouse'), { recursive: true, force: true });
  const runDirs = existsSync(join(BENCH_DIR, ctx.benchId)) ? readdirSync(join(BENCH_DIR, ctx.benchId)) : [];
  for (const run of runDirs.filter((dir) => dir.startsWith(KSTREAMS_RUNS))) {
    rmSync(join(BENCH_DIR, ctx.benchId, run, 'clickhouse'), { recursive: true, force: true });
    rmSync(join(BENCH_DIR, ctx.benchId, run, 'state'), { recursive: true, force: true });
  }
}

function machine(loadAtStart: number): Machine {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemoryMB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
  };
}

const round = (v: number) => Math.round(v * 100) / 100;
