import type { Config } from '../core/config.js';
import type { Tier } from '../sinks/rollupSink.js';
import { TopologyBuilder, type Topology, type TopologyDescription } from '../streams/topologyBuilder.js';
import { tierStore, tierTable, tierTopic } from '../core/tiers.js';

/** A window tier as the graph runs it: its window, the tier it folds, its store, topic and table. */
export interface TierStage {
  name: Tier;
  /** What the tier's windows fold: the raw samples, or the results of the tier below. */
  from: 'raw' | Tier;
  sizeMs: number;
  graceMs: number;
  allowedLatenessMs: number;
  /** The window store (and with it the changelog topic) of the tier. */
  store: string;
  topic: string;
  table: string;
}

/** The tiers in folding order (`tiers`): each one's input is the raw samples or a tier before it. */
export function tiersOf(config: Config): TierStage[] {
  return config.tiers.map((t) => ({
    name: t.name,
    from: t.from,
    sizeMs: t.sizeMs,
    graceMs: t.graceMs,
    allowedLatenessMs: t.allowedLatenessMs,
    store: tierStore(t.name),
    topic: tierTopic(config, t),
    table: tierTable(t.name),
  }));
}

/** What the graph holds besides the raw path: the loader (`windows: false`) runs only that. */
export interface GraphOptions {
  /** Window tiers and their stores (default true). */
  windows?: boolean;
  /** The alert stage (default: when `alerts.rules` names rule files). */
  alerting?: boolean;
}

/** The names of the graph's nodes that the runtime builds, in one place. */
export const NODE = {
  source: 'source',
  decode: 'decode',
  validate: 'validate',
  sinkSamples: 'sink-samples',
  repartitionSink: 'repartition-sink',
  repartitionSource: 'repartition-source',
  repartitionDlq: 'repartition-dlq',
  watermark: 'watermark',
  alertInputSink: 'alert-input-sink',
  alertInputSource: 'alert-input-source',
  alertRules: 'alert-rules',
  sinkAlerts: 'sink-alerts',
  sinkLate: 'sink-late',
  sinkDlq: 'sink-dlq',
  window: (tier: string) => `window-${tier}`,
  tierTopic: (tier: string) => `sink-topic-${tier}`,
  tierTable: (tier: string) => `sink-samples-${tier}`,
} as const;

/** The store of series metadata (name, labels, kind) that window results are labelled from. */
export const SERIES_STORE = 'series';

/**
 * The topology that `run` builds for `config`: decode and validate, the raw sink, the window
 * tiers (one stage per tier, each folding the one before) with their stores, and the dead-letter
 * and late side outputs. A source keyed by something other than the series
 * (`input.coPartitioned: false`) adds a repartition topic, which splits the graph into two
 * sub-topologies as in Kafka Streams: the raw path before it, the windows after it. With alert
 * rules, the alert stage is a sub-topology of its own behind its input topic.
 */
export function buildTopology(config: Config, options: GraphOptions = {}): Topology {
  const windows = options.windows ?? true;
  const alerting = windows && (options.alerting ?? config.alerts.rules.length > 0);
  const repartitioned = windows && !config.input.coPartitioned;
  const { topics, appId } = config;
  const repartitionTopic = `${appId}-repartition`;
  const alertInputTopic = `${appId}-alert-input`;
  const tiers = windows ? tiersOf(config) : [];
  const b = new TopologyBuilder(appId);

  b.addTopic(topics.metrics, 'input: sample batches');
  if (repartitioned) b.addTopic(repartitionTopic, 'internal: samples partitioned by series id');
  const series = windows ? b.addStateStore(SERIES_STORE) : undefined;
  const stores = tiers.map((t) => b.addStateStore(t.store));
  for (const t of tiers) b.addTopic(t.topic, `output: ${t.name} rollups`);
  b.addTopic(topics.dlq, 'side output: dead letters');
  if (windows) b.addTopic(topics.late, 'side output: late samples');
  if (alerting) {
    b.addTopic(alertInputTopic, 'internal: samples the alert rules select, one partition');
    b.addTopic(topics.alerts, 'output: alert state changes');
  }

  b.addSource(NODE.source, [topics.metrics]);
  b.addProcessor(NODE.decode, [NODE.source], {
    detail: 'Confluent Avro, writer schema from the schema registry',
  });
  b.addProcessor(NODE.validate, [NODE.decode], { detail: 'normalize names and labels, series id' });
  b.addSink(NODE.sinkSamples, [NODE.validate], {
    tables: ['samples', 'series'],
    detail: 'ClickHouse, idempotent',
  });
  let watermarkParent: string = NODE.validate;
  if (repartitioned) {
    b.addSink(NODE.repartitionSink, [NODE.validate], {
      topics: [repartitionTopic],
      detail: 'Avro batches to the partition of their series id, with their input partition and offsets',
    });
  }
  if (alerting) {
    b.addSink(NODE.alertInputSink, [NODE.validate], {
      topics: [alertInputTopic],
      detail: 'the samples the rules select, one partition, with their input partition and offsets',
    });
  }
  if (repartitioned) {
    b.addSource(NODE.repartitionSource, [repartitionTopic], {
      detail: 'samples repeated by a replay of sub-topology 0 are skipped',
    });
    watermarkParent = NODE.repartitionSource;
  }
  if (windows) {
    const { outOfOrdernessMs, idleTimeoutMs } = config.windows;
    b.addProcessor(NODE.watermark, [watermarkParent], {
      detail:
        `event time${repartitioned ? ' per partition and input partition' : ''}, ` +
        `bounded out-of-orderness ${duration(outOfOrdernessMs)}, ` +
        `idle partitions skipped after ${duration(idleTimeoutMs)}`,
    });
  }
  tiers.forEach((t, i) => {
    const from = t.from === 'raw' ? NODE.watermark : NODE.window(t.from);
    b.addProcessor(NODE.window(t.name), [from], {
      // Every tier labels its results from the series store that the raw samples fill.
      stores: [stores[i]?.name ?? t.store, ...(series ? [series.name] : [])],
      detail:
        `TimeWindows ${duration(t.sizeMs)}, grace ${duration(t.graceMs)}, suppress untilWindowCloses, ` +
        `allowed lateness ${duration(t.allowedLatenessMs)}` +
        (t.from === 'raw' ? '' : `, over ${t.from} results`),
    });
    b.addSink(NODE.tierTopic(t.name), [NODE.window(t.name)], { topics: [t.topic] });
    b.addSink(NODE.tierTable(t.name), [NODE.window(t.name)], {
      tables: [t.table],
      detail: 'ClickHouse, idempotent',
    });
  });
  if (windows) {
    // Only samples are late: a lower tier's result comes no later than the tier above still takes it.
    const raw = tiers.filter((t) => t.from === 'raw').map((t) => NODE.window(t.name));
    b.addSink(NODE.sinkLate, raw, {
      topics: [topics.late],
      detail: 'side output: after grace and allowed lateness',
    });
  }
  b.addSink(NODE.sinkDlq, [NODE.decode, NODE.validate], {
    topics: [topics.dlq],
    detail: 'side output: rejects with original bytes and reason',
  });
  if (repartitioned) {
    b.addSink(NODE.repartitionDlq, [NODE.repartitionSource], {
      topics: [topics.dlq],
      detail: 'side output: unreadable repartition records',
    });
  }
  if (alerting) {
    const store = b.addStateStore('alerts');
    b.addSource(NODE.alertInputSource, [alertInputTopic], {
      detail: `consumer group ${appId}-alerts: one owner`,
    });
    b.addProcessor(NODE.alertRules, [NODE.alertInputSource], {
      stores: [store.name],
      detail:
        `${config.alerts.rules.length} rule file(s) on event time: watermark per input partition, ` +
        'the wall clock when nothing arrives; events, state and offset in one transaction',
    });
    b.addSink(NODE.sinkAlerts, [NODE.alertRules], {
      topics: [topics.alerts],
      detail: 'Avro AlertEvent keyed by fingerprint; loaded into the alerts table',
    });
  }
  return b.build();
}

/** The description of the graph `run` builds for `config` (`metrics-pipeline describe`). */
export function describeTopology(config: Config, options: GraphOptions = {}): TopologyDescription {
  return buildTopology(config, options).describe();
}

/** 90000 → "90s", 3600000 → "1h": the largest unit that divides the duration. */
function duration(ms: number): string {
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
