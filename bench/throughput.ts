import { streamThreadCount } from '../topology/streamThreads.js';
import { join } from 'node:path';
import type { Config } from '../core/config.js';
import { PipelineError } from '../core/errors.js';
import type { Kafka } from 'kafkajs';
import { produceSynthetic } from '../producer/produce.js';
import type { Registry } from '../schemas/registry.js';
import { machineBusySeconds } from './procCpu.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import { inspectStorage, type StorageReport } from './storage.js';
import { startTopologyProcess, type TopologyProcess } from './topologyProcess.js';
import { runWorkspace } from './workspace.js';
import { tierTopic } from '../core/tiers.js';

/** A run fails when the topology stores nothing new for this long. */
const STALL_MS = 300_000;

/** The seeded workload every throughput run replays. */
export interface Workload {
  series: number;
  samples: number;
  seed: number;
}

export interface BenchContext {
  base: Config;
  benchId: string;
  kafka: Kafka;
  registry: Registry;
  say: (line: string) => void;
  /** Topology children still running, so that an interrupt can stop them. */
  children: Set<TopologyProcess>;
}

export interface ThroughputResult {
  name: string;
  /**
   * The run's input topic, its tier topics (1m first) and its state's changelog topics: what
   * it read and everything it wrote to Kafka.
   */
  topics: { input: string; tiers: string[]; changelogPrefix: string };
  /** Samples per Kafka record. */
  batch: number;
  samples: number;
  records: number;
  /** The pre-load, before the topology starts. */
  produceSeconds: number;
  /** Process start → first `partitions assigned` log line. */
  startupSeconds: number | null;
  /** Process start → exit 0 (every row durable, offsets committed). */
  wallSeconds: number;
  /**
   * Where the time after `partitions assigned` went: until the progress line that first showed
   * every sample stored (the child prints one about once a second), then until the `topology
   * stopped` log line (idle check, consumer stop, last commit), then until the process exited.
   */
  phases: { toLastRowSeconds: number | null; stopSeconds: number | null; exitSeconds: number | null };
  /** samples / (exit − partitions assigned): consumption only. */
  samplesPerSec: number | null;
  /** samples / (exit − process start): with the process's startup. */
  samplesPerSecInclStartup: number;
  peakRssMB: number | null;
  /** CPU seconds (user + system, all threads) the topology process used. */
  cpuSeconds: number | null;
  /**
   * CPU seconds the whole machine was busy from the topology's partition assignment to its exit
   * (the span of `samplesPerSec`; the broker, the registry and everything else included), and
   * that as cores busy on average: how much of the machine the run left unused.
   */
  machineCpuSeconds: number | null;
  machineCoresBusy: number | null;
  /** Stream threads the topology ran with (`streams.threads` of the bench's config, `auto` resolved). */
  streamThreads: number;
  storage: StorageReport;
  stateBytes: number | null;
  stateBytesPerSeries: number | null;
  /** The counts of the topology's `topology stopped` log line (records, stored, late, rollups, …). */
  topologyStats: Record<string, unknown>;
  profile: ProfileSummary | null;
  logFile: string;
}

/** produceSynthetic's default: samples of a series 10 s apart. */
const INTERVAL_MS = 10_000;

/** Event time the workload spans, as produceSynthetic lays it out (whole records of `batch` ticks per series). */
function workloadSpanMs(workload: Workload, batch: number): number {
  return Math.ceil(workload.samples / Math.max(1, workload.series) / batch) * batch * INTERVAL_MS;
}

/**
 * Where a workload of `spanMs` starts: ending now, or at the last UTC midnight if it would cross
 * one. The samples table is partitioned by day, and a run across midnight stores its rows in two
 * partitions, whose parts compress apart: the same workload measured 1.81 bytes per sample at
 * 00:12 UTC against 1.75 at other hours. (A span of more than a day crosses a midnight anyway.)
 */
export function startWithinDay(now: number, spanMs: number): number {
  const DAY = 86_400_000;
  const end = Math.floor(now / INTERVAL_MS) * INTERVAL_MS;
  const midnight = Math.floor(now / DAY) * DAY;
  return end - spanMs < midnight ? midnight - spanMs : end - spanMs;
}

/**
 * One throughput run: pre-load a fresh topic with the whole workload, then time
 * `metrics-pipeline run --exit-when-idle` in its own process until it exits, watching its
 * memory; then check in ClickHouse that every sample is there and measure its size.
 */
export async function throughputRun(
  ctx: BenchContext,
  workload: Workload,
  name: string,
  batch: number,
  cpuProfile: boolean,
): Promise<ThroughputResult> {
  const run = runWorkspace(ctx.base, ctx.benchId, name, batch * INTERVAL_MS);
  const topic = run.config.topics.metrics;
  ctx.say(
    `${name}: producing ${workload.samples} samples of ${workload.series} series, ${batch} per record, to ${topic}`,
  );
  const produceStart = Date.now();
  const produced = await produceSynthetic({
    kafka: ctx.kafka,
    registry: ctx.registry,
    topic,
    partitions: run.config.topics.partitions,
    series: workload.series,
    samples: workload.samples,
    seed: workload.seed,
    batch,
    start: startWithinDay(produceStart, workloadSpanMs(workload, batch)),
    onProgress: (sent) => ctx.say(`${name}: produced ${sent.samples}/${workload.samples} samples`),
  });
  const produceSeconds = (Date.now() - produceStart) / 1000;
  if (produced.samples !== workload.samples) {
    throw new PipelineError(`${name}: produced ${produced.samples} samples instead of ${workload.samples}`);
  }
  ctx.say(`${name}: topic loaded in ${produceSeconds.toFixed(1)} s; starting the topology`);

  const profileDir = join(run.dir, 'prof');
  // Read when the assignment shows in the log (within 100 ms of it).
  let machineBefore: number | undefined;
  let machineBeforeAt: number | undefined;
  const child = startTopologyProcess(
    run,
    ['--exit-when-idle'],
    cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  );
  ctx.children.add(child);
  const assignment = setInterval(() => {
    if (child.assignedAt === undefined || machineBefore !== undefined) return;
    machineBefore = machineBusySeconds();
    machineBeforeAt = Date.now();
    clearInterval(assignment);
  }, 100);
  let stalled = false;
  const progress = setInterval(() => {
    const seconds = Math.round((Date.now() - child.spawnedAt) / 1000);
    const rss = child.peakRssBytes === undefined ? '' : ` · peak RSS ${mb(child.peakRssBytes)} MB`;
    ctx.say(`${name}: ${seconds}s · stored ${child.stored}/${workload.samples}${rss}`);
    if (Date.now() - (child.storedAt ?? child.spawnedAt) > STALL_MS && !stalled) {
      stalled = true;
      ctx.say(`${name}: nothing stored for ${STALL_MS / 1000} s; stopping the topology`);
      void child.stop();
    }
  }, 5000);
  const exit = await child.exited.finally(() => {
    clearInterval(progress);
    clearInterval(assignment);
    ctx.children.delete(child);
  });
  if (exit.code !== 0 || stalled) {
    throw new PipelineError(
      `${name}: ${stalled ? `nothing stored for ${STALL_MS / 1000} s; ` : ''}the topology exited with ${exit.signal ?? `code ${exit.code}`} (log: ${run.logFile}):\n${child.tail()}`,
    );
  }
  const wallSeconds = (exit.at - child.spawnedAt) / 1000;
  const machineAfter = machineBusySeconds();
  const machineCpuSeconds =
    machineBefore === undefined || machineAfter === undefined ? null : round2(machineAfter - machineBefore);
  ctx.say(`${name}: topology exited after ${wallSeconds.toFixed(1)} s; inspecting ClickHouse`);

  const storage = await inspectStorage(run.config.clickhouse);
  if (storage.stored !== workload.samples) {
    throw new PipelineError(
      `${name}: ClickHouse holds ${storage.stored} samples, but ${workload.samples} were produced (log: ${run.logFile})`,
    );
  }
  const consumeSeconds = child.assignedAt === undefined ? undefined : (exit.at - child.assignedAt) / 1000;
  const state = stateSize(child.stateLine, workload.series);
  const stoppedAt = child.stoppedLine?.time;
  // The log line minus pino's own fields.
  const topologyStats = Object.fromEntries(
    Object.entries(child.stoppedLine ?? {}).filter(
      ([key]) => !['level', 'time', 'pid', 'name', 'msg'].includes(key),
    ),
  );
  const between = (from: number | undefined, to: number | undefined) =>
    from === undefined || to === undefined ? null : (to - from) / 1000;
  return {
    name,
    topics: {
      input: topic,
      tiers: run.config.tiers.map((tier) => tierTopic(run.config, tier)),
      changelogPrefix: `${run.config.appId}-`,
    },
    batch,
    samples: produced.samples,
    records: produced.records,
    produceSeconds,
    startupSeconds: child.assignedAt === undefined ? null : (child.assignedAt - child.spawnedAt) / 1000,
    wallSeconds,
    phases: {
      toLastRowSeconds: between(child.assignedAt, child.storedAt),
      stopSeconds: between(child.storedAt, typeof stoppedAt === 'number' ? stoppedAt : undefined),
      exitSeconds: between(typeof stoppedAt === 'number' ? stoppedAt : undefined, exit.at),
    },
    samplesPerSec: consumeSeconds === undefined ? null : Math.round(workload.samples / consumeSeconds),
    samplesPerSecInclStartup: Math.round(workload.samples / wallSeconds),
    peakRssMB: child.peakRssBytes === undefined ? null : mb(child.peakRssBytes),
    cpuSeconds: child.cpuSeconds ?? null,
    machineCpuSeconds,
    machineCoresBusy:
      machineCpuSeconds === null || machineBeforeAt === undefined
        ? null
        : round2(machineCpuSeconds / ((exit.at - machineBeforeAt) / 1000)),
    streamThreads: streamThreadCount(run.config),
    storage,
    ...state,
    topologyStats,
    profile: cpuProfile ? (summarizeProfile(profileDir, child.pid) ?? null) : null,
    logFile: run.logFile,
  };
}

export const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

/**
 * The topology's own account of its state size, if it logs one: `stateBytesPerSeries`, or
 * `stateBytes` divided by the active series it names (`activeSeries`/`series`), else by the
 * workload's series.
 */
export function stateSize(
  line: Record<string, unknown> | undefined,
  series: number,
): { stateBytes: number | null; stateBytesPerSeries: number | null } {
  const bytes = line?.stateBytes;
  if (typeof bytes !== 'number') return { stateBytes: null, stateBytesPerSeries: null };
  const perSeries = line?.stateBytesPerSeries;
  const active = line?.activeSeries ?? line?.series;
  const count = typeof active === 'number' && active > 0 ? active : series;
  return {
    stateBytes: bytes,
    stateBytesPerSeries: typeof perSeries === 'number' ? perSeries : Math.round(bytes / count),
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
