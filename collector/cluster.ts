import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from '../core/config.js';
import { messageOf, PipelineError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { HttpError } from './errors.js';
import { startCollector } from './index.js';
import { leftoverLogs, workerLogDir } from './leftovers.js';
import { localTenant, type SeriesKey, type TenantConfig, type TenantLimits } from './tenants.js';

/**
 * The collector as several processes (`collector.workers`, node:cluster): the workers share
 * the port (the primary hands out connections in turn), each with its own Kafka producer and
 * write-ahead log (`<wal.dir>/worker-<i>`), so that one collector uses several cores. The
 * primary serves no request: it starts the workers, starts a dead one again (on the same log,
 * which it drains first: whatever a worker acknowledged is in Kafka or in its log), keeps the
 * tenants' limits for all of them (a rate and a series limit are the tenant's, not a
 * worker's), adds up their metrics for `/metrics`, and stops them on SIGTERM / SIGINT.
 *
 * Workers ask the primary over the cluster's IPC channel: once per request for a tenant's
 * rate, and for its series limit only when a request brings series the worker has not seen
 * admitted yet. The open collector (no tenants) has no limits and asks nothing.
 */

/** A worker's metrics, as prom-client hands them over for adding up. */
type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** A question of a worker to the primary. */
type Ask =
  | { op: 'take'; tenant: string; samples: number }
  | { op: 'admit'; tenant: string; series: Array<[name: string, id: string]> }
  | { op: 'metrics' };

interface Answer {
  error?: { status: number; message: string; retryAfterSeconds?: number };
  reasons?: Array<string | null>;
  text?: string;
}

/** Messages from a worker to the primary. */
type FromWorker =
  | { collector: 'listening'; url: string }
  | { collector: 'ask'; id: number; ask: Ask }
  | { collector: 'metrics'; id: number; metrics: WorkerMetrics };

/** Messages from the primary to a worker. */
type FromPrimary =
  | { collector: 'answer'; id: number; answer: Answer }
  | { collector: 'collect'; id: number }
  | { collector: 'stop' };

/** Environment of a worker: its index, and the leftover logs it drains (JSON). */
const WORKER_ENV = 'METRICS_PIPELINE_COLLECTOR_WORKER';
const LEFTOVERS_ENV = 'METRICS_PIPELINE_COLLECTOR_LEFTOVERS';
/** A worker that dies sooner after its start is started again after a growing pause. */
const STABLE_MS = 10_000;
const MAX_RESTART_DELAY_MS = 5_000;
/** How long the primary waits for a worker's metrics. */
const METRICS_TIMEOUT_MS = 5_000;

export interface CollectorCluster {
  url: string;
  /** Stops every worker (each finishes its requests and closes its log) and resolves once all exited. */
  close(): Promise<void>;
}

/** Starts `collector.workers` worker processes and resolves once all of them listen. */
export async function startCollectorCluster(config: Config, log: Logger): Promise<CollectorCluster> {
  const count = config.collector.workers;
  const leftovers = leftoverLogs(config.collector.wal.dir, count);
  const now = Date.now();
  const tenants = new Map(config.collector.tenants.map((c) => [c.name, localTenant(c, now)]));
  const workers = new Map<number, { worker: Worker; startedAt: number }>();
  const restartDelay = new Map<number, number>();
  const collecting = new Map<number, { lists: WorkerMetrics[]; waiting: Set<Worker>; done: () => void }>();
  let collects = 0;
  let stopping = false;

  let started: (url: string) => void = () => {};
  let failed: (error: Error) => void = () => {};
  const listening = new Promise<string>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  const ready = new Set<number>();

  const send = (worker: Worker, message: FromPrimary) => {
    if (worker.isConnected()) worker.send(message);
  };

  const answer = async (ask: Ask): Promise<Answer> => {
    if (ask.op === 'metrics') return { text: await clusterMetrics() };
    const tenant = tenants.get(ask.tenant);
    if (!tenant) return { error: { status: 500, message: `no tenant ${ask.tenant}` } };
    if (ask.op === 'admit') {
      const reasons = tenant.admit(ask.series.map(([name, id]) => ({ name, id: BigInt(id) })));
      return { reasons: reasons.map((r) => r ?? null) };
    }
    try {
      tenant.take(ask.samples, Date.now());
      return {};
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      const { status, message, retryAfterSeconds } = error;
      return {
        error: { status, message, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) },
      };
    }
  };

  /** Every worker's metrics, added up (counters and histograms summed; see collectorMetrics for gauges). */
  const clusterMetrics = () =>
    new Promise<string>((resolve) => {
      const id = collects++;
      const live = [...workers.values()].map((w) => w.worker).filter((w) => w.isConnected());
      const entry = { lists: [] as WorkerMetrics[], waiting: new Set(live), done: () => {} };
      const timer = setTimeout(() => entry.done(), METRICS_TIMEOUT_MS);
      entry.done = () => {
        clearTimeout(timer);
        collecting.delete(id);
        resolve(AggregatorRegistry.aggregate(entry.lists).metrics());
      };
      collecting.set(id, entry);
      for (const w of live) send(w, { collector: 'collect', id });
      if (live.length === 0) entry.done();
    });

  const onMessage = (index: number, worker: Worker, message: FromWorker) => {
    if (message.collector === 'listening') {
      ready.add(index);
      restartDelay.delete(index);
      if (ready.size === count) started(message.url);
    } else if (message.collector === 'ask') {
      answer(message.ask).then(
        (a) => send(worker, { collector: 'answer', id: message.id, answer: a }),
        (error: unknown) =>
          send(worker, {
            collector: 'answer',
            id: message.id,
            answer: { error: { status: 500, message: messageOf(error) } },
          }),
      );
    } else if (message.collector === 'metrics') {
      const entry = collecting.get(message.id);
      if (!entry) return;
      entry.lists.push(message.metrics);
      entry.waiting.delete(worker);
      if (entry.waiting.size === 0) entry.done();
    }
  };

  const fork = (index: number) => {
    const worker = cluster.fork({
      [WORKER_ENV]: String(index),
      [LEFTOVERS_ENV]: JSON.stringify(leftovers.filter((_, k) => k % count === index)),
    });
    workers.set(index, { worker, startedAt: Date.now() });
    worker.on('message', (message: FromWorker) => onMessage(index, worker, message));
    worker.on('online', () =>
      log.info({ worker: index, workerPid: worker.process.pid }, 'collector worker started'),
    );
  };

  const exited = new Map<Worker, () => void>();
  cluster.on('exit', (worker, code, signal) => {
    exited.get(worker)?.();
    const index = [...workers].find(([, w]) => w.worker === worker)?.[0];
    if (index === undefined || stopping) return;
    const { startedAt } = workers.get(index) as { startedAt: number };
    for (const [, entry] of collecting) {
      entry.waiting.delete(worker);
      if (entry.waiting.size === 0) entry.done();
    }
    if (ready.size < count) {
      failed(
        new PipelineError(
          `collector worker ${index} exited (${code ?? signal}) before listening; see its log above`,
        ),
      );
      return;
    }
    // A worker that keeps dying right after its start is started again ever more slowly.
    const delay =
      Date.now() - startedAt < STABLE_MS
        ? Math.min(MAX_RESTART_DELAY_MS, (restartDelay.get(index) ?? 100) * 2)
        : 0;
    restartDelay.set(index, delay);
    log.error(
      { worker: index, workerPid: worker.process.pid, code, signal, restartInMs: delay },
      'collector worker died: starting it again on its write-ahead log',
    );
    setTimeout(() => {
      if (!stopping) fork(index);
    }, delay).unref();
  });

  const close = async () => {
    stopping = true;
    const live = [...workers.values()].map((w) => w.worker).filter((w) => !w.isDead());
    await Promise.all(
      live.map(
        (worker) =>
          new Promise<void>((resolve) => {
            exited.set(worker, resolve);
            if (worker.isDead()) return resolve();
            send(worker, { collector: 'stop' });
            // One that does not finish its requests in time is killed.
            setTimeout(
              () => worker.process.kill('SIGKILL'),
              config.collector.requestTimeoutMs + 10_000,
            ).unref();
          }),
      ),
    );
  };

  if (leftovers.length > 0)
    log.warn({ leftovers }, 'write-ahead logs of a run with another worker count: the workers drain them');
  for (let i = 0; i < count; i++) fork(i);
  try {
    return { url: await listening, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** True in a worker process of a collector cluster. */
export function isCollectorWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] !== undefined;
}

/**
 * Runs a worker: the collector on its own write-ahead log, with the primary's tenant limits
 * and metrics, until the primary says stop (or the process gets SIGTERM / SIGINT, or loses its
 * primary).
 */
export async function runCollectorWorker(config: Config, log: Logger): Promise<void> {
  const index = Number(process.env[WORKER_ENV]);
  const workerLog = log.child({ worker: index });
  const pending = new Map<number, (answer: Answer) => void>();
  let asks = 0;
  const ask = (question: Ask) =>
    new Promise<Answer>((resolve) => {
      if (!process.connected) return resolve(PRIMARY_GONE);
      const id = asks++;
      pending.set(id, resolve);
      process.send?.({ collector: 'ask', id, ask: question } satisfies FromWorker);
    });

  const collector = await startCollector({
    config: {
      ...config,
      collector: {
        ...config.collector,
        wal: { ...config.collector.wal, dir: workerLogDir(config.collector.wal.dir, index) },
      },
    },
    log: workerLog,
    tenantLimits: (tenant) => new PrimaryTenant(tenant, ask),
    metricsText: async () => (await ask({ op: 'metrics' })).text ?? '',
    leftovers: JSON.parse(process.env[LEFTOVERS_ENV] ?? '[]') as string[],
  });

  await new Promise<void>((resolve) => {
    process.on('message', (message: FromPrimary) => {
      if (message.collector === 'answer') {
        pending.get(message.id)?.(message.answer);
        pending.delete(message.id);
      } else if (message.collector === 'collect') {
        void collector.metrics.registry
          .getMetricsAsJSON()
          .then((metrics) =>
            process.send?.({ collector: 'metrics', id: message.id, metrics } satisfies FromWorker),
          );
      } else if (message.collector === 'stop') resolve();
    });
    process.send?.({ collector: 'listening', url: collector.url } satisfies FromWorker);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.once('disconnect', resolve);
  });
  // Questions still open get no answer from a primary that is gone.
  if (!process.connected) for (const resolve of pending.values()) resolve(PRIMARY_GONE);
  await collector.close();
  if (collector.forwarder.walBytes > 0)
    workerLog.warn(
      { walBytes: collector.forwarder.walBytes },
      'stopped with samples in the write-ahead log; the next start drains them',
    );
}

const PRIMARY_GONE: Answer = {
  error: { status: 503, message: 'the collector is stopping', retryAfterSeconds: 1 },
};

/** A tenant whose limits the primary keeps. */
class PrimaryTenant implements TenantLimits {
  readonly name: string;

  constructor(
    tenant: TenantConfig,
    private readonly ask: (question: Ask) => Promise<Answer>,
  ) {
    this.name = tenant.name;
  }

  async take(samples: number): Promise<void> {
    const { error } = await this.ask({ op: 'take', tenant: this.name, samples });
    if (error) throw new HttpError(error.status, error.message, error.retryAfterSeconds);
  }

  async admit(series: ReadonlyArray<SeriesKey>): Promise<Array<string | undefined>> {
    const answer = await this.ask({
      op: 'admit',
      tenant: this.name,
      series: series.map((s) => [s.name, s.id.toString()]),
    });
    if (answer.error) throw new HttpError(answer.error.status, answer.error.message);
    return (answer.reasons ?? []).map((r) => r ?? undefined);
  }
}
