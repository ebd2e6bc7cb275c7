import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DEFAULT_TIERS } from '../core/config.js';
import type { ProcessedBatch } from '../core/records.js';
import { tierTable } from '../core/tiers.js';
import { STORAGE_CONDITIONS, type StorageCondition } from '../core/errors.js';
import type { WindowResults } from '../sinks/rollupSink.js';

/** The stages that count records in and out, as `stage` label values. */
export const STAGES = [
  'source',
  'decode',
  'validate',
  'repartition',
  'sink_samples',
  'dlq',
  'late',
  'alerts',
] as const;
/** A stage: one of STAGES, or a tier's window (`window_1m`) or sink (`sink_1m`). */
export type Stage = (typeof STAGES)[number] | `window_${string}` | `sink_${string}`;

/** A tier's name (`tiers[].name`), as `tier` label values. */
export type Tier = string;

/** The default tiers' names, for metrics made without a configuration. */
const DEFAULT_TIER_NAMES: readonly string[] = DEFAULT_TIERS.map((t) => t.name);

/** The stages whose rejects go to the dead-letter topic, as `reason_kind` label values. */
export const REJECT_KINDS = ['decode', 'validate'] as const;
export type RejectKind = (typeof REJECT_KINDS)[number];

/** The ClickHouse tables the sinks write, as `table` label values. */
export type Table = 'samples' | 'series' | `samples_${string}`;

/** A counter whose label values are checked at compile time. */
export interface CounterOf<L extends object> {
  inc(labels: L, value?: number): void;
  /** The child for these labels, to skip the label lookup on a hot path. */
  labels(labels: L): { inc(value?: number): void };
}

/**
 * The consumer-lag series of the partitions this process reads: set as lag is measured, and
 * dropped for the partitions an assignment no longer holds, so that a partition that moved to
 * another instance is not reported with its last lag here as well.
 */
export class PartitionLag {
  private readonly shown = new Map<string, { topic: string; partition: number }>();

  constructor(private readonly gauge: GaugeOf<{ topic: string; partition: number }>) {}

  set(topic: string, partition: number, lag: number): void {
    const labels = { topic, partition };
    this.shown.set(`${topic}\u0000${partition}`, labels);
    this.gauge.set(labels, lag);
  }

  /** Drops the series of every partition not in `assignment` (topic → partitions). */
  assigned(assignment: Readonly<Record<string, readonly number[]>>): void {
    for (const [key, labels] of this.shown) {
      if (assignment[labels.topic]?.includes(labels.partition)) continue;
      this.gauge.remove(labels);
      this.shown.delete(key);
    }
  }
}

/** A gauge whose label values are checked at compile time. */
export interface GaugeOf<L extends object> {
  set(labels: L, value: number): void;
  inc(labels: L, value?: number): void;
  dec(labels: L, value?: number): void;
  /** Drops the series, e.g. the lag of a partition that this process no longer owns. */
  remove(labels: L): void;
}

/** A histogram whose label values are checked at compile time. */
export interface HistogramOf<L extends object> {
  observe(labels: L, value: number): void;
  /** Starts a clock; calling the result observes the seconds elapsed and returns them. */
  startTimer(labels: L): () => number;
  /** The child for these labels, to skip the label lookup on a hot path. */
  labels(labels: L): { observe(value: number): void };
}

export interface TopologyMetrics {
  /** Where every metric below is registered, with the process metrics (RSS, CPU, GC, event loop). */
  registry: Registry;
  recordsIn: CounterOf<{ stage: Stage }>;
  recordsOut: CounterOf<{ stage: Stage }>;
  deadLettered: CounterOf<{ reason_kind: RejectKind }>;
  late: CounterOf<{ tier: Tier }>;
  consumerLag: GaugeOf<{ topic: string; partition: number }>;
  watermarkSeconds: GaugeOf<{ tier: Tier }>;
  windowOpen: GaugeOf<{ tier: Tier }>;
  stateBytes: GaugeOf<{ store: string }>;
  stateEntries: GaugeOf<{ store: string }>;
  sinkBatchRows: HistogramOf<{ table: Table }>;
  sinkLatencySeconds: HistogramOf<{ table: Table }>;
  eventToStoreSeconds: HistogramOf<{ table: Table }>;
  /** Which rows of each table `eventToStoreSeconds` observes (one in `EVENT_TO_STORE_EVERY`). */
  eventToStoreRows: Map<Table, RowSampler>;
  /** Alert state changes written to the alerts topic, by new state. */
  alertEvents: CounterOf<{ state: 'pending' | 'firing' | 'resolved' }>;
  /** Alerts pending or firing in the alert stage of this instance. */
  alertsActive: GaugeOf<{ state: 'pending' | 'firing' }>;
  /** 1 while writes to ClickHouse wait for a storage condition to pass (consumption paused), by condition. */
  storagePaused: GaugeOf<{ condition: StorageCondition }>;
  /** Writes to ClickHouse repeated because of a storage condition. */
  storageRetries: CounterOf<{ condition: StorageCondition }>;
  /** Every offset commit, failed or not, so that failures / commits is the failure ratio. */
  commits: { inc(value?: number): void };
  commitFailures: { inc(value?: number): void };
}

const PREFIX = 'metrics_pipeline_';

/** Rows per insert: 1, 3, 10, 30, … 1e6. */
const ROW_BUCKETS = Array.from({ length: 13 }, (_, i) => (i % 2 === 0 ? 1 : 3) * 10 ** Math.floor(i / 2));
/** Insert durations: 1 ms … 1 min. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Event time to stored: 10 ms … 1 h. */
const FRESHNESS_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600,
];

/**
 * The topology's self-metrics, named `metrics_pipeline_*`, in a registry of their own (not
 * prom-client's global one) so that several topologies in one process, and tests, stay apart.
 * The admin server exposes `registry` at `GET /metrics`.
 *
 * ```ts
 * const metrics = createTopologyMetrics();
 * metrics.recordsIn.inc({ stage: 'decode' }, batch.length);
 * const done = metrics.sinkLatencySeconds.startTimer({ table: 'samples' });
 * await insert(rows);
 * done();
 * ```
 */
export function createTopologyMetrics(
  registry: Registry = new Registry(),
  /** The configured tiers' names (`tiers[].name`), finest first. */
  tiers: readonly string[] = DEFAULT_TIER_NAMES,
): TopologyMetrics {
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const recordsIn = new Counter({
    name: `${PREFIX}records_in_total`,
    help: 'Records that entered a stage',
    labelNames: ['stage'] as const,
    registers,
  });
  const recordsOut = new Counter({
    name: `${PREFIX}records_out_total`,
    help: 'Records that a stage passed on',
    labelNames: ['stage'] as const,
    registers,
  });
  const deadLettered = new Counter({
    name: `${PREFIX}dead_lettered_total`,
    help: 'Records sent to the dead-letter topic, by the stage that rejected them',
    labelNames: ['reason_kind'] as const,
    registers,
  });
  const late = new Counter({
    name: `${PREFIX}late_total`,
    help: 'Records that arrived after their window closed (past grace and allowed lateness), sent to the late topic',
    labelNames: ['tier'] as const,
    registers,
  });
  // Known label values start at 0, so that rate() and absent-series alerts work from the first scrape.
  for (const stage of [...STAGES, ...tiers.flatMap((t) => [`window_${t}`, `sink_${t}`] as const)]) {
    recordsIn.inc({ stage }, 0);
    recordsOut.inc({ stage }, 0);
  }
  for (const reason_kind of REJECT_KINDS) deadLettered.inc({ reason_kind }, 0);
  for (const tier of tiers) late.inc({ tier }, 0);
  const alertEvents = new Counter({
    name: `${PREFIX}alert_events_total`,
    help: 'Alert state changes written to the alerts topic, by new state',
    labelNames: ['state'] as const,
    registers,
  });
  for (const state of ['pending', 'firing', 'resolved'] as const) alertEvents.inc({ state }, 0);
  const storagePaused = new Gauge({
    name: `${PREFIX}storage_paused`,
    help: 'Writes to ClickHouse wait for this condition to pass (a full disk, too many parts, a server down): 1, with consumption paused',
    labelNames: ['condition'] as const,
    registers,
  });
  const storageRetries = new Counter({
    name: `${PREFIX}storage_retries_total`,
    help: 'Writes to ClickHouse repeated because storage was unavailable, by condition',
    labelNames: ['condition'] as const,
    registers,
  });
  for (const condition of STORAGE_CONDITIONS) {
    storagePaused.set({ condition }, 0);
    storageRetries.inc({ condition }, 0);
  }

  return {
    registry,
    recordsIn,
    recordsOut,
    deadLettered,
    late,
    consumerLag: new Gauge({
      name: `${PREFIX}consumer_lag`,
      help: 'Records between the committed offset and the end of a partition',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    watermarkSeconds: new Gauge({
      name: `${PREFIX}watermark_seconds`,
      help: 'Event-time watermark of a tier, as epoch seconds',
      labelNames: ['tier'] as const,
      registers,
      // Stream threads each have their own (docs/streams.md#threads): the process's is the lowest.
      aggregator: 'min',
    }),
    windowOpen: new Gauge({
      name: `${PREFIX}window_open`,
      help: 'Windows of a tier started and not yet closed by the watermark',
      labelNames: ['tier'] as const,
      registers,
    }),
    stateBytes: new Gauge({
      name: `${PREFIX}state_bytes`,
      help: 'Approximate bytes held by a state store',
      labelNames: ['store'] as const,
      registers,
    }),
    stateEntries: new Gauge({
      name: `${PREFIX}state_entries`,
      help: 'Entries held by a state store',
      labelNames: ['store'] as const,
      registers,
    }),
    sinkBatchRows: new Histogram({
      name: `${PREFIX}sink_batch_rows`,
      help: 'Rows per ClickHouse insert',
      labelNames: ['table'] as const,
      buckets: ROW_BUCKETS,
      registers,
    }),
    sinkLatencySeconds: new Histogram({
      name: `${PREFIX}sink_latency_seconds`,
      help: 'Duration of a ClickHouse insert',
      labelNames: ['table'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    eventToStoreRows: new Map(),
    eventToStoreSeconds: new Histogram({
      name: `${PREFIX}event_to_store_seconds`,
      help: `Seconds from the event time of a stored row (a rollup: its window end) to its insert, for one row in ${EVENT_TO_STORE_EVERY} of each table`,
      labelNames: ['table'] as const,
      buckets: FRESHNESS_BUCKETS,
      registers,
    }),
    alertEvents,
    storagePaused,
    storageRetries,
    alertsActive: new Gauge({
      name: `${PREFIX}alerts_active`,
      help: 'Alerts pending or firing in the alert stage of this instance',
      labelNames: ['state'] as const,
      registers,
    }),
    commits: new Counter({
      name: `${PREFIX}commit_total`,
      help: 'Offset commits attempted',
      registers,
    }),
    commitFailures: new Counter({
      name: `${PREFIX}commit_failures_total`,
      help: 'Offset commits that failed (the records are replayed after a rebalance)',
      registers,
    }),
  };
}

/** A raw sink write: rows per insert, its duration, and event time to stored (for one row in `EVENT_TO_STORE_EVERY`). */
export function observeSamplesSink(
  metrics: TopologyMetrics,
  batches: ReadonlyArray<ProcessedBatch>,
  started: number,
): void {
  const rows = batches.reduce((n, b) => n + b.samples.length, 0);
  if (rows === 0) return;
  metrics.sinkBatchRows.observe({ table: 'samples' }, rows);
  metrics.sinkLatencySeconds.observe({ table: 'samples' }, (performance.now() - started) / 1000);
  const now = Date.now();
  const latency = metrics.eventToStoreSeconds.labels({ table: 'samples' });
  const sampler = rowSampler(metrics, 'samples');
  for (const b of batches) sampler.observe(latency, now, b.samples.ts, b.samples.length);
}

/** `eventToStoreSeconds` observes one row in this many of each table. */
export const EVENT_TO_STORE_EVERY = 64;

/**
 * Picks one row in `every` of a table's rows, across its writes, and observes the seconds from
 * its event time to now: every row weighs the same whatever the size of its write, and observing
 * every row cost as much as a tenth of the window stage.
 */
export class RowSampler {
  /** Rows to pass over before the next observed one. */
  private skip = 0;

  constructor(private readonly every = EVENT_TO_STORE_EVERY) {}

  observe(
    latency: { observe(value: number): void },
    now: number,
    times: ArrayLike<number>,
    length: number,
  ): void {
    let i = this.skip;
    for (; i < length; i += this.every) latency.observe((now - (times[i] as number)) / 1000);
    this.skip = i - length;
  }
}

function rowSampler(metrics: TopologyMetrics, table: Table): RowSampler {
  let sampler = metrics.eventToStoreRows.get(table);
  if (sampler === undefined) metrics.eventToStoreRows.set(table, (sampler = new RowSampler()));
  return sampler;
}

/** Window results written: results out per tier, rows per write, its duration, window end to stored (for one result in `EVENT_TO_STORE_EVERY`). */
export function observeWindowResults(
  metrics: TopologyMetrics,
  results: WindowResults,
  started: number,
): void {
  const now = Date.now();
  const tiers = results.tiers();
  for (const tier of tiers) {
    const columns = results.columns(tier);
    if (columns === undefined) continue;
    const table = tierTable(tier);
    rowSampler(metrics, table).observe(
      metrics.eventToStoreSeconds.labels({ table }),
      now,
      columns.windowEnd,
      columns.length,
    );
    metrics.recordsOut.inc({ stage: `window_${tier}` }, columns.length);
    metrics.sinkBatchRows.observe({ table }, columns.length);
  }
  // The write of every tier's results, labelled with the first tier's table as before tiers were configurable.
  const first = tiers[0];
  if (first !== undefined)
    metrics.sinkLatencySeconds.observe({ table: tierTable(first) }, (performance.now() - started) / 1000);
}
