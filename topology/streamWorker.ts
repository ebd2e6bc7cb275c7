/**
 * One stream thread of `run` (topology/streamThreads.ts starts it as a worker thread): a whole
 * topology instance with its own consumer in the group, its own producer and its share of the
 * partitions' tasks. The embedded ClickHouse stays with the main thread (one session per
 * process) and is reached through the port; a ClickHouse server is reached directly.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { loadRuleFiles } from '../alerts/rules.js';
import type { Config } from '../core/config.js';
import { createKafka } from '../core/kafka.js';
import { Registry } from '../schemas/registry.js';
import { openClickHouse, type ClickHouse } from '../sinks/clickhouse.js';
import { clickhouseOverPort } from '../sinks/clickhouseThread.js';
import { ThreadPort } from '../streams/threadPort.js';
import { startTopology, type RunningTopology } from './topology.js';

/** What the main thread gives a stream thread to start with. */
export interface StreamWorkerData {
  config: Config;
  /** This thread's number, from 0: in its log lines as `thread`. */
  index: number;
  /** The main thread's log level. */
  level: string;
  /** `embedded`: through the main thread; `server`: its own client; `none`: `run --sink topics`. */
  clickhouse: 'embedded' | 'server' | 'none';
  embeddedPath: string | undefined;
  windows: boolean;
}

/** A stream thread's counts, as it reports them every second and when it stops. */
export interface StreamWorkerStatus {
  stats: RunningTopology['stats'];
  stateBytes: number;
  ready: boolean;
  problem: string | undefined;
}

const data = workerData as StreamWorkerData;
if (!parentPort) throw new Error('topology/streamWorker.ts runs as a worker thread only');
const parent = parentPort;

// Every line goes to the main thread's logger, whatever it writes to.
const log = pino(
  { name: 'topology', level: data.level, base: { pid: process.pid, thread: data.index } },
  { write: (line: string) => port.note('log', line) },
);
let topology: RunningTopology | undefined;
let clickhouse: ClickHouse | undefined;
let reporting: NodeJS.Timeout | undefined;
let leave!: () => void;
const mayLeave = new Promise<void>((resolve) => (leave = resolve));
let join!: () => void;
const mayJoin = new Promise<void>((resolve) => (join = resolve));
let process_!: () => void;
const mayProcess = new Promise<void>((resolve) => (process_ = resolve));
let assigned = false;

const status = (): StreamWorkerStatus => ({
  stats: topology?.stats ?? ({} as RunningTopology['stats']),
  stateBytes: topology?.stateBytes() ?? 0,
  ready: topology?.ready() ?? false,
  // Writes waiting for storage wait in this thread's own health: `/readyz` hears of them here.
  problem: topology?.problem() ?? clickhouse?.health.problem(),
});

const port: ThreadPort = new ThreadPort(
  parent,
  {
    async start() {
      const { config } = data;
      clickhouse =
        data.clickhouse === 'embedded'
          ? clickhouseOverPort(port, config.clickhouse, data.embeddedPath)
          : data.clickhouse === 'server'
            ? await openClickHouse(config.clickhouse)
            : undefined;
      topology = await startTopology({
        config,
        kafka: createKafka(config.kafka.brokers, config.kafka.clientId, log),
        registry: new Registry(config.schemaRegistry.url as string),
        clickhouse,
        log,
        windows: data.windows,
        // The main thread loaded them already: every file loads, or nothing starts.
        rules: config.alerts.rules.length > 0 ? loadRuleFiles(config.alerts.rules) : undefined,
        // The main thread created them before starting the threads.
        tablesReady: true,
        joinAfter: mayJoin,
        processAfter: mayProcess,
        onAssign: () => {
          if (!assigned) port.note('assigned', null);
          assigned = true;
        },
        beforeLeave: async () => {
          port.note('flushed', status());
          await mayLeave;
        },
      });
      reporting = setInterval(() => port.note('status', status()), 1000);
      // Every record this thread fetched is written: the main thread may look for the end of the input.
      topology.onSettled?.(() => port.note('settled', null));
    },
    /** Settles when the topology has stopped: the main thread's one wait for a failure. */
    async done() {
      await topology?.done;
    },
    isIdle: () => topology?.isIdle() ?? true,
    async stop(options: { closeWindows: boolean; abandon: boolean }) {
      try {
        await topology?.stop(options);
      } finally {
        clearInterval(reporting);
        if (data.clickhouse === 'server') await clickhouse?.close();
      }
      return status();
    },
    metrics: () => topology?.metrics.registry.getMetricsAsJSON() ?? [],
  },
  (name) => {
    if (name === 'join') join();
    if (name === 'process') process_();
    if (name === 'leave') leave();
  },
);
