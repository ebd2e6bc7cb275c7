/**
 * `bench --kstreams`: our topology (`run --sink topics`) against the same job written as a Kafka
 * Streams application (bench/kstreams/), on one input produced once, alternating the two sides.
 * The method is in bench/README.md, "Against Kafka Streams".
 */
import { join } from 'node:path';
import os from 'node:os';
import { PipelineError } from '../core/errors.js';
import { produceSynthetic } from '../producer/produce.js';
import { ensureKstreamsJar, runKstreamsJob } from './kstreamsJob.js';
import { mb, type BenchContext, type Workload } from './throughput.js';
import { startTopologyProcess } from './topologyProcess.js';
import { runWorkspace } from './workspace.js';
import { namedTier, namedTierTopic } from '../core/tiers.js';

/** Samples per record of the input: the batched throughput run's. */
const BATCH = 100;
/** produceSynthetic's default: event time between two samples of a series. */
const INTERVAL_MS = 10_000;
/** The Java job's heap limit: the topology's RSS target (issue 12: ≤ 1 GB). */
const HEAP_MB = 1024;

export type Side = 'ours' | 'kstreams';

export interface SideRun {
  side: Side;
  round: number;
  /** Start (ours: `partitions assigned`; Kafka Streams: its first record) → last result committed. */
  seconds: number;
  samplesPerSec: number;
  /** Process start → exit. */
  wallSeconds: number;
  peakRssMB: number | null;
  cpuSeconds: number | null;
  /** CPU time of the process (all threads, startup included) per sample: what the other sessions' load disturbs least. */
  cpuMicrosPerSample: number | null;
  /** Window results written to the tier topics. */
  results: { '1m': number; '1h': number };
  /** One-minute load average at the start and end of the run, and its mean (read every second). */
  loadAverage: { start: number; end: number; mean: number };
  logFile: string;
}

export interface KstreamsComparison {
  workload: Workload & { batch: number; intervalMs: number; partitions: number };
  input: string;
  runs: SideRun[];
  ours: SideSummary;
  kstreams: SideSummary;
  /** ours / Kafka Streams, best run of each; and of the mean samples/s. */
  ratio: number;
  ratioOfMeans: number;
  faster: Side;
  /** Both sides wrote as many 1m and 1h results in every run. */
  countsMatch: boolean;
  method: string;
}

export interface SideSummary {
  bestSamplesPerSec: number;
  meanSamplesPerSec: number;
  peakRssMB: number | null;
}

export async function kstreamsComparison(
  ctx: BenchContext,
  workload: Workload,
  rounds: number,
): Promise<KstreamsComparison> {
  await ensureKstreamsJar(ctx.say);
  const input = runWorkspace(ctx.base, ctx.benchId, 'kstreams', BATCH * INTERVAL_MS);
  const topic = input.config.topics.metrics;
  ctx.say(
    `kstreams: producing ${workload.samples} samples of ${workload.series} series, ${BATCH} per record, to ${topic}`,
  );
  const produced = await produceSynthetic({
    kafka: ctx.kafka,
    registry: ctx.registry,
    topic,
    partitions: input.config.topics.partitions,
    series: workload.series,
    samples: workload.samples,
    seed: workload.seed,
    batch: BATCH,
    onProgress: (sent) => ctx.say(`kstreams: produced ${sent.samples}/${workload.samples} samples`),
  });
  if (produced.samples !== workload.samples) {
    throw new PipelineError(`kstreams: produced ${produced.samples} samples instead of ${workload.samples}`);
  }
  const runs: SideRun[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternate which side goes first, so that neither always meets the same part of the other sessions' load.
    const order: Side[] = round % 2 === 1 ? ['ours', 'kstreams'] : ['kstreams', 'ours'];
    for (const side of order) {
      const run =
        side === 'ours'
          ? await oursRun(ctx, topic, round, workload.samples)
          : await kstreamsRun(ctx, topic, round, workload.samples);
      ctx.say(
        `kstreams: ${side} round ${round}: ${run.samplesPerSec} samples/s, peak RSS ${run.peakRssMB} MB, load ${run.loadAverage.mean.toFixed(1)}, results 1m ${run.results['1m']} 1h ${run.results['1h']}`,
      );
      runs.push(run);
    }
  }
  const ours = summarize(runs.filter((r) => r.side === 'ours'));
  const kstreams = summarize(runs.filter((r) => r.side === 'kstreams'));
  const first = runs[0] as SideRun;
  const ratio = round2(ours.bestSamplesPerSec / kstreams.bestSamplesPerSec);
  return {
    workload: {
      ...workload,
      batch: BATCH,
      intervalMs: INTERVAL_MS,
      partitions: input.config.topics.partitions,
    },
    input: topic,
    runs,
    ours,
    kstreams,
    ratio,
    ratioOfMeans: round2(ours.meanSamplesPerSec / kstreams.meanSamplesPerSec),
    faster: ratio >= 1 ? 'ours' : 'kstreams',
    countsMatch: runs.every(
      (r) => r.results['1m'] === first.results['1m'] && r.results['1h'] === first.results['1h'],
    ),
    method:
      'samples / (start → last result committed), the input pre-loaded once: ours from its "partitions assigned" log line ' +
      'to its "topology stopped" line (after the last commit); Kafka Streams from its first record processed to the ' +
      "moment its group's committed offsets reached the input's end offsets. Rounds alternate which side goes first.",
  };
}

/** `metrics-pipeline run --sink topics --exit-when-idle` over the shared input. */
async function oursRun(ctx: BenchContext, input: string, round: number, samples: number): Promise<SideRun> {
  const run = runWorkspace(ctx.base, ctx.benchId, `kstreams-ours-${round}`, BATCH * INTERVAL_MS, input);
  const load = loadWatch();
  const child = startTopologyProcess(run, ['--sink', 'topics', '--exit-when-idle']);
  ctx.children.add(child);
  const exit = await child.exited.finally(() => ctx.children.delete(child));
  const loadAverage = load.stop();
  const stopped = child.stoppedLine;
  if (exit.code !== 0 || child.assignedAt === undefined || typeof stopped?.time !== 'number') {
    throw new PipelineError(
      `kstreams: our topology exited with ${exit.signal ?? `code ${exit.code}`} (log: ${run.logFile}):\n${child.tail()}`,
    );
  }
  const rollups = (stopped.rollups ?? {}) as Record<string, unknown>;
  const seconds = (stopped.time - child.assignedAt) / 1000;
  return {
    side: 'ours',
    round,
    seconds,
    samplesPerSec: Math.round(samples / seconds),
    wallSeconds: (exit.at - child.spawnedAt) / 1000,
    peakRssMB: child.peakRssBytes === undefined ? null : mb(child.peakRssBytes),
    cpuSeconds: child.cpuSeconds ?? null,
    cpuMicrosPerSample: perSample(child.cpuSeconds ?? null, samples),
    results: { '1m': Number(rollups['1m'] ?? 0), '1h': Number(rollups['1h'] ?? 0) },
    loadAverage,
    logFile: run.logFile,
  };
}

/** The Kafka Streams job over the shared input, with the topology's windows (grace = grace + out-of-orderness). */
async function kstreamsRun(
  ctx: BenchContext,
  input: string,
  round: number,
  samples: number,
): Promise<SideRun> {
  const run = runWorkspace(ctx.base, ctx.benchId, `kstreams-java-${round}`, BATCH * INTERVAL_MS, input);
  const { windows } = run.config;
  const load = loadWatch();
  const job = await runKstreamsJob({
    brokers: (run.config.kafka.brokers ?? []).join(','),
    registryUrl: run.config.schemaRegistry.url as string,
    input,
    appId: run.config.appId,
    out1m: namedTierTopic(run.config, '1m'),
    out1h: namedTierTopic(run.config, '1h'),
    stateDir: join(run.dir, 'state'),
    grace1mMs: namedTier(run.config, '1m').graceMs + windows.outOfOrdernessMs,
    grace1hMs: namedTier(run.config, '1h').graceMs + windows.outOfOrdernessMs,
    heapMB: HEAP_MB,
    logFile: run.logFile,
  });
  const loadAverage = load.stop();
  if (job.samples !== samples || job.miskeyed !== 0) {
    throw new PipelineError(
      `kstreams: the Kafka Streams job read ${job.samples} samples (${job.miskeyed} not keyed by their series) of ${samples} (log: ${run.logFile})`,
    );
  }
  const seconds = (job.committedAt - job.firstRecordAt) / 1000;
  return {
    side: 'kstreams',
    round,
    seconds,
    samplesPerSec: Math.round(job.samples / seconds),
    wallSeconds: (job.exitedAt - job.spawnedAt) / 1000,
    peakRssMB: job.peakRssBytes === null ? null : mb(job.peakRssBytes),
    cpuSeconds: job.cpuSeconds,
    cpuMicrosPerSample: perSample(job.cpuSeconds, samples),
    results: { '1m': job.results1m, '1h': job.results1h },
    loadAverage,
    logFile: run.logFile,
  };
}

/** The one-minute load average now, then every second until stopped. */
function loadWatch(): { stop(): SideRun['loadAverage'] } {
  const read = () => os.loadavg()[0] ?? 0;
  const seen = [read()];
  const timer = setInterval(() => seen.push(read()), 1000);
  return {
    stop() {
      clearInterval(timer);
      const end = read();
      seen.push(end);
      const mean = seen.reduce((a, b) => a + b, 0) / seen.length;
      return { start: round2(seen[0] as number), end: round2(end), mean: round2(mean) };
    },
  };
}

function summarize(runs: SideRun[]): SideSummary {
  const rates = runs.map((r) => r.samplesPerSec);
  const rss = runs.map((r) => r.peakRssMB).filter((v): v is number => v !== null);
  return {
    bestSamplesPerSec: Math.max(...rates),
    meanSamplesPerSec: Math.round(rates.reduce((a, b) => a + b, 0) / rates.length),
    peakRssMB: rss.length > 0 ? Math.max(...rss) : null,
  };
}

const round2 = (v: number) => Math.round(v * 100) / 100;
const perSample = (cpuSeconds: number | null, samples: number) =>
  cpuSeconds === null ? null : round2((cpuSeconds * 1e6) / samples);

/** The comparison as a table for the terminal. */
export function formatKstreams(c: KstreamsComparison): string {
  const lines = [
    `Against Kafka Streams: ${c.workload.samples} samples, ${c.workload.series} series, ${c.workload.batch} per record, topic ${c.input}`,
    'side      round  samples/s  seconds  peak RSS MB  CPU s   CPU µs/sample  load start→end (mean)  results 1m / 1h',
    ...c.runs.map(
      (r) =>
        `${r.side.padEnd(9)} ${String(r.round).padStart(5)}  ${String(r.samplesPerSec).padStart(9)}  ${r.seconds.toFixed(1).padStart(7)}  ${String(r.peakRssMB).padStart(11)}  ${String(r.cpuSeconds).padStart(6)}  ${String(r.cpuMicrosPerSample).padStart(13)}  ${`${r.loadAverage.start}→${r.loadAverage.end} (${r.loadAverage.mean})`.padStart(21)}  ${r.results['1m']} / ${r.results['1h']}`,
    ),
    `best: ours ${c.ours.bestSamplesPerSec} samples/s, Kafka Streams ${c.kstreams.bestSamplesPerSec} samples/s: ratio ${c.ratio} (of the means ${c.ratioOfMeans}); faster: ${c.faster === 'ours' ? 'our topology' : 'Kafka Streams'}; result counts ${c.countsMatch ? 'equal' : 'DIFFER'}`,
  ];
  return lines.join('\n');
}
