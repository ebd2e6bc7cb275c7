import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AggregatorRegistry, Registry } from 'prom-client';

/** A registry's metrics as `getMetricsAsJSON` gives them (they cross threads as such). */
type MetricsJSON = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;
import type { Config } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ClickHouse } from '../sinks/clickhouse.js';
import { clickhouseHandlers } from '../sinks/clickhouseThread.js';
import { ThreadPort } from '../streams/threadPort.js';
import { buildTopology } from './graph.js';
import { createTopologyMetrics } from './metrics.js';
import type { StreamWorkerData, StreamWorkerStatus } from './streamWorker.js';
import { emptyStats, type RunningTopology, type TopologyStats } from './topology.js';
import { Signal } from '../core/signal.js';

/**
 * The stream threads `streams.threads` asks for. `auto`: one per core but one, at least one: the
 * process's other threads (the embedded engine, V8's garbage collector, the I/O) and, on small
 * machines, the broker need a core. On the bench's 2 cores with the broker on them, 2 threads
 * took 25-65 % longer than 1 for the same input (bench/README.md, "Stream threads"). At most
 * `topics.partitions`: a thread without a partition would only hold a consumer and memory.
 */
export function streamThreadCount(config: Config, cores = availableParallelism()): number {
  const { threads } = config.streams;
  return threads === 'auto' ? Math.max(1, Math.min(cores - 1, config.topics.partitions)) : threads;
}

export interface StreamThreadsOptions {
  config: Config;
  log: Logger;
  /** The embedded engine or server of this process; undefined with `run --sink topics`. */
  clickhouse: ClickHouse | undefined;
  threads: number;
  /** Whether alert rules are configured (each thread sends their samples to the alert stage). */
  alerting: boolean;
}

interface StreamWorker {
  index: number;
  worker: Worker;
  port: ThreadPort;
  status: StreamWorkerStatus | undefined;
  /** Resolves when the thread has flushed and committed at its stop, or has stopped anyway. */
  flushed: Promise<void>;
}

/**
 * The topology on several threads of one process, as Kafka Streams' `num.stream.threads`: each
 * worker thread (topology/streamWorker.ts) runs a whole instance with its own consumer in the
 * group, so the group spreads the partitions, and with them the tasks, over the threads. What
 * holds for instances holds for threads: each commits what it processed, the watermark is
 * combined over a thread's own partitions, and a rebalance moves tasks between threads as
 * between processes. The embedded ClickHouse stays on this thread (`clickhouseHandlers`); the
 * threads' counts, state size and metrics are summed here. At a stop every thread flushes and
 * commits first, and only then do they all leave the group, so that no thread's commit meets a
 * rebalance caused by another one leaving.
 */
export async function startStreamThreads(options: StreamThreadsOptions): Promise<RunningTopology> {
  const { config, log, clickhouse, threads } = options;
  const threadConfig: Config = {
    ...config,
    sink: {
      ...config.sink,
      maxInFlightBytes: Math.max(1, Math.floor(config.sink.maxInFlightBytes / threads)),
      // The rows one flush holds, too: the process holds what one thread would.
      maxRows: Math.max(1, Math.floor(config.sink.maxRows / threads)),
    },
  };
  const workers: StreamWorker[] = [];
  /** Called whenever a thread has written every record it fetched (`RunningTopology.onSettled`). */
  const settled = new Signal();
  const stats = emptyStats();
  const sum = () => {
    const all = workers
      .map((w) => w.status?.stats)
      .filter((s): s is TopologyStats => s?.records !== undefined);
    Object.assign(stats, sumStats(all));
  };
  const handlers = clickhouse ? clickhouseHandlers(clickhouse) : {};
  // Threads process records once all have their partitions (or a session timeout after the
  // start, if one never gets any): the first to join would otherwise take every partition and
  // process for the others until the group rebalances, work done again by their new owners.
  let unassigned = threads;
  const startProcessing = () => {
    clearTimeout(processAnyway);
    for (const w of workers) w.port.note('process', null);
  };
  for (let index = 0; index < threads; index++) {
    const data: StreamWorkerData = {
      config: threadConfig,
      index,
      level: log.level,
      clickhouse: !clickhouse ? 'none' : clickhouse.embeddedPath ? 'embedded' : 'server',
      embeddedPath: clickhouse?.embeddedPath,
      windows: true,
    };
    const worker = new Worker(new URL('./streamWorker.js', import.meta.url), {
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb() },
    });
    let flushed!: () => void;
    const entry: StreamWorker = {
      index,
      worker,
      status: undefined,
      flushed: new Promise<void>((resolve) => (flushed = resolve)),
      port: new ThreadPort(worker, handlers, (name, value) => {
        if (name === 'log') return relayLog(log, value as string);
        if (name === 'status' || name === 'flushed') {
          entry.status = value as StreamWorkerStatus;
          sum();
        }
        if (name === 'flushed') flushed();
        if (name === 'settled') settled.emit();
        if (name === 'assigned' && --unassigned === 0) startProcessing();
      }),
    };
    worker.once('exit', (code) => {
      entry.port.close(new Error(`stream thread ${index} exited with code ${code}`));
      flushed();
    });
    worker.once('error', (error) => {
      log.error({ thread: index, error: error.message }, 'stream thread failed');
      entry.port.close(error);
      flushed();
    });
    workers.push(entry);
  }
  const terminate = () => Promise.all(workers.map((w) => w.worker.terminate()));
  try {
    await Promise.all(workers.map((w) => w.port.call('start')));
  } catch (error) {
    await terminate();
    throw error;
  }
  // Every thread is ready to consume: they join the group together.
  for (const w of workers) w.port.note('join', null);
  // (No thread can say it was assigned before this: they join only now.)
  const processAnyway = setTimeout(startProcessing, config.kafka.sessionTimeoutMs);
  processAnyway.unref();
  log.info({ threads }, 'stream threads started');

  let stopping: Promise<void> | undefined;
  const stop = (closeWindows: boolean, abandon: boolean) => {
    stopping ??= (async () => {
      clearTimeout(processAnyway);
      const stopped = workers.map((w) =>
        w.port.call<StreamWorkerStatus>('stop', [{ closeWindows, abandon }]).then((status) => {
          w.status = status;
          sum();
        }),
      );
      // Every thread flushed and committed, or failed, or is gone: now they all leave the group.
      await Promise.all(workers.map((w, i) => Promise.race([w.flushed, stopped[i]?.catch(() => undefined)])));
      for (const w of workers) w.port.note('leave', null);
      try {
        const results = await Promise.allSettled(stopped);
        const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [[i, r.reason] as const] : []));
        for (const [thread, error] of failures.slice(1))
          log.error({ thread, error: messageOf(error) }, 'stream thread failed to stop');
        if (failures[0]) throw failures[0][1];
      } finally {
        await terminate();
      }
    })();
    return stopping;
  };
  // The first thread to fail stops the others and fails the run with its error.
  const done = Promise.all(workers.map((w) => w.port.call('done'))).then(
    () => undefined,
    async (error: unknown) => {
      await stop(false, true).catch((other: unknown) => {
        if (other !== error)
          log.error({ error: messageOf(other) }, 'stopping the other stream threads failed');
      });
      throw error;
    },
  );

  const metrics = createTopologyMetrics(
    new ThreadsRegistry(async () =>
      // A thread busy beyond a scrape's patience is left out of that scrape.
      Promise.all(
        workers.map((w) =>
          Promise.race([
            w.port.call<MetricsJSON>('metrics').catch(() => []),
            new Promise<MetricsJSON>((resolve) => setTimeout(() => resolve([]), METRICS_TIMEOUT_MS).unref()),
          ]),
        ),
      ),
    ),
    config.tiers.map((t) => t.name),
  );
  return {
    stats,
    metrics,
    wiring: buildTopology(config, { windows: true, alerting: options.alerting }).wiring(),
    stateBytes: () => workers.reduce((bytes, w) => bytes + (w.status?.stateBytes ?? 0), 0),
    done,
    ready: () => workers.every((w) => w.status?.ready),
    problem: () =>
      workers.map((w) => w.status?.problem).find((p) => p !== undefined) ??
      (workers.some((w) => !w.status) ? 'stream threads starting' : undefined),
    stop: ({ closeWindows = false, abandon = false } = {}) => stop(closeWindows, abandon),
    async isIdle() {
      const idle = await Promise.all(workers.map((w) => w.port.call<boolean>('isIdle')));
      return idle.every(Boolean);
    },
    onSettled: (listener) => settled.on(listener),
  };
}

/** How long a `/metrics` scrape waits for each thread's metrics. */
const METRICS_TIMEOUT_MS = 2000;

/** The counts of several threads as one. */
export function sumStats(all: readonly TopologyStats[]): TopologyStats {
  const total = emptyStats();
  for (const s of all) {
    for (const key of [
      'records',
      'stored',
      'deadLettered',
      'late',
      'repartitioned',
      'toAlerts',
      'flushes',
    ] as const)
      total[key] += s[key];
    for (const [tier, n] of Object.entries(s.rollups)) total.rollups[tier] = (total.rollups[tier] ?? 0) + n;
  }
  return total;
}

/** A log line of a stream thread (pino's JSON), written again by this thread's logger. */
function relayLog(log: Logger, line: string): void {
  try {
    const fields = JSON.parse(line) as Record<string, unknown>;
    const { level, msg } = fields;
    // This logger adds its own time, pid and name.
    for (const key of ['level', 'msg', 'time', 'pid', 'name', 'hostname']) delete fields[key];
    const label = log.levels.labels[level as number] as 'info' | undefined;
    if (label && typeof log[label] === 'function') log[label](fields, msg as string | undefined);
  } catch {
    log.info({ line }, 'stream thread wrote a line that is not JSON');
  }
}

/**
 * This thread's metrics (the alert stage's, the process's) and the stream threads' in one
 * `/metrics`: counters and histograms summed over the threads. Each thread's process-wide
 * metrics (`process_*`: CPU, memory of the whole process) are left out, being this thread's too.
 */
class ThreadsRegistry extends Registry {
  constructor(private readonly threads: () => Promise<MetricsJSON[]>) {
    super();
  }

  override async metrics(): Promise<string> {
    const own = await this.getMetricsAsJSON();
    const theirs = (await this.threads()).map((metrics) =>
      metrics.filter((m) => !m.name.startsWith('process_')),
    );
    return AggregatorRegistry.aggregate([own, ...theirs] as never).metrics();
  }
}

/**
 * A worker's young generation as large as this thread's: V8 takes `--max-semi-space-size` (the
 * pipeline runs with 32 MB, core/runtime.ts) for the main isolate only, and a worker's default
 * (16 MB semi-spaces) collected so often that the kernel's zeroing of fresh pages for it was a
 * tenth of the run. The young generation is three semi-spaces.
 */
function youngGenerationMb(): number {
  const flag = [...process.execArgv, ...(process.env.NODE_OPTIONS?.split(/\s+/) ?? [])]
    .map((arg) => /^--max-semi-space-size=(\d+)$/.exec(arg)?.[1])
    .find((mb) => mb !== undefined);
  return 3 * Number(flag ?? 32);
}
