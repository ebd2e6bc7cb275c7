import { DEFAULT_TIERS, type Config } from '../core/config.js';
import { tierStore, tierTable, tierTopic, type TierConfig } from '../core/tiers.js';

export interface TopologyNode {
  /** Unique in the whole topology. */
  name: string;
  kind: 'source' | 'processor' | 'sink';
  /** Kafka topics that a source reads or a sink writes. */
  topics?: string[];
  /** ClickHouse tables that a sink writes. */
  tables?: string[];
  /** State stores that a processor owns. */
  stores?: string[];
  /** Names of the nodes that this one forwards to. */
  next: string[];
  detail?: string;
}

/** The topology as Kafka Streams' `Topology#describe()` shows it: sub-topologies of named nodes. */
export interface TopologyDescription {
  subtopologies: Array<{ id: number; nodes: TopologyNode[] }>;
  stores: Array<{ name: string; changelog: string }>;
  topics: Array<{ name: string; role: string }>;
}

/** The settings that shape the graph; the optional ones have the defaults that `describeTopology` applies. */
interface ShapingConfig {
  appId: string;
  topics: {
    metrics: string;
    dlq: string;
    late?: string;
    alerts?: string;
  };
  /** The window tiers, finest first (default: 1m from raw, 1h from 1m). */
  tiers?: ReadonlyArray<TierConfig>;
  /** Alert rule files: with any, the alert stage is a sub-topology of its own. */
  alerts?: { rules?: string[] };
  /** Whether the input is keyed by series already; if not, the topology repartitions it. */
  input?: { coPartitioned?: boolean };
  windows?: {
    outOfOrdernessMs?: number;
    idleTimeoutMs?: number;
  };
}

/**
 * The topology that `run` builds for `config`: decode and validate, the raw sink, the window
 * tiers (`tiers`: 1m and 1h by default) with their stores, and the dead-letter and late side outputs. A source keyed by
 * something other than the series (`input.coPartitioned: false`) adds a repartition topic,
 * which splits the graph into two sub-topologies as in Kafka Streams: the raw path before it,
 * the windows after it.
 */
export function describeTopology(config: Config): TopologyDescription {
  const c: ShapingConfig = config;
  const topic = {
    metrics: c.topics.metrics,
    dlq: c.topics.dlq,
    late: c.topics.late ?? 'metrics-late',
    repartition: `${c.appId}-repartition`,
    alerts: c.topics.alerts ?? 'alerts',
    alertInput: `${c.appId}-alert-input`,
  };
  const alerting = (c.alerts?.rules?.length ?? 0) > 0;
  const coPartitioned = c.input?.coPartitioned ?? true;
  const store = (name: string) => ({ name, changelog: `${c.appId}-${name}-changelog` });
  const tiers = c.tiers ?? DEFAULT_TIERS;
  const stores = tiers.map((t) => store(tierStore(t.name)));
  const windowDetail = (w: TierConfig) =>
    `TimeWindows ${duration(w.sizeMs)}, grace ${duration(w.graceMs)}, suppress untilWindowCloses, ` +
    `allowed lateness ${duration(w.allowedLatenessMs)}`;

  const ingest: TopologyNode[] = [
    { name: 'source', kind: 'source', topics: [topic.metrics], next: ['decode'] },
    {
      name: 'decode',
      kind: 'processor',
      stores: [],
      next: ['validate', 'sink-dlq'],
      detail: 'Confluent Avro, writer schema from the schema registry',
    },
    {
      name: 'validate',
      kind: 'processor',
      stores: [],
      next: [
        'sink-samples',
        coPartitioned ? 'watermark' : 'repartition-sink',
        ...(alerting ? ['alert-input-sink'] : []),
        'sink-dlq',
      ],
      detail: 'normalize names and labels, series id',
    },
    {
      name: 'sink-samples',
      kind: 'sink',
      tables: ['samples', 'series'],
      next: [],
      detail: 'ClickHouse, idempotent',
    },
  ];
  const rollup: TopologyNode[] = [
    {
      name: 'watermark',
      kind: 'processor',
      stores: [],
      next: [tierStore((tiers[0] as TierConfig).name)],
      detail:
        `event time${coPartitioned ? '' : ' per partition and input partition'}, ` +
        `bounded out-of-orderness ${duration(c.windows?.outOfOrdernessMs ?? 5_000)}, ` +
        `idle partitions skipped after ${duration(c.windows?.idleTimeoutMs ?? 10_000)}`,
    },
    ...tiers.flatMap((tier): TopologyNode[] => [
      {
        name: tierStore(tier.name),
        kind: 'processor',
        stores: [tierStore(tier.name)],
        next: [
          `sink-topic-${tier.name}`,
          `sink-samples-${tier.name}`,
          ...tiers.filter((t) => t.from === tier.name).map((t) => tierStore(t.name)),
          'sink-late',
        ],
        detail: windowDetail(tier),
      },
      { name: `sink-topic-${tier.name}`, kind: 'sink', topics: [tierTopic(c, tier)], next: [] },
      {
        name: `sink-samples-${tier.name}`,
        kind: 'sink',
        tables: [tierTable(tier.name)],
        next: [],
        detail: 'ClickHouse, idempotent',
      },
    ]),
    {
      name: 'sink-late',
      kind: 'sink',
      topics: [topic.late],
      next: [],
      detail: 'side output: after grace and allowed lateness',
    },
  ];
  const deadLetter: TopologyNode = {
    name: 'sink-dlq',
    kind: 'sink',
    topics: [topic.dlq],
    next: [],
    detail: 'side output: rejects with original bytes and reason',
  };

  const alertInputSink: TopologyNode = {
    name: 'alert-input-sink',
    kind: 'sink',
    topics: [topic.alertInput],
    next: [],
    detail: 'the samples the rules select, one partition, with their input partition and offsets',
  };
  if (alerting) ingest.push(alertInputSink);
  const subtopologies: TopologyDescription['subtopologies'] = coPartitioned
    ? [{ id: 0, nodes: [...ingest, ...rollup, deadLetter] }]
    : [
        {
          id: 0,
          nodes: [
            ...ingest,
            {
              name: 'repartition-sink',
              kind: 'sink' as const,
              topics: [topic.repartition],
              next: [],
              detail:
                'Avro batches to the partition of their series id, with their input partition and offsets',
            },
            deadLetter,
          ],
        },
        {
          id: 1,
          nodes: [
            {
              name: 'repartition-source',
              kind: 'source' as const,
              topics: [topic.repartition],
              next: ['watermark', 'repartition-dlq'],
              detail: 'samples repeated by a replay of sub-topology 0 are skipped',
            },
            ...rollup,
            {
              name: 'repartition-dlq',
              kind: 'sink' as const,
              topics: [topic.dlq],
              next: [],
              detail: 'side output: unreadable repartition records',
            },
          ],
        },
      ];

  if (alerting) {
    stores.push(store('alerts'));
    subtopologies.push({
      id: subtopologies.length,
      nodes: [
        {
          name: 'alert-input-source',
          kind: 'source',
          topics: [topic.alertInput],
          next: ['alert-rules'],
          detail: `consumer group ${c.appId}-alerts: one owner`,
        },
        {
          name: 'alert-rules',
          kind: 'processor',
          stores: ['alerts'],
          next: ['sink-alerts'],
          detail:
            `${c.alerts?.rules?.length} rule file(s) on event time: watermark per input partition, ` +
            'the wall clock when nothing arrives; events, state and offset in one transaction',
        },
        {
          name: 'sink-alerts',
          kind: 'sink',
          topics: [topic.alerts],
          next: [],
          detail: 'Avro AlertEvent keyed by fingerprint; loaded into the alerts table',
        },
      ],
    });
  }
  return {
    subtopologies,
    stores,
    topics: [
      { name: topic.metrics, role: 'input: sample batches' },
      ...(coPartitioned
        ? []
        : [{ name: topic.repartition, role: 'internal: samples partitioned by series id' }]),
      ...stores.map((s) => ({ name: s.changelog, role: `changelog of store ${s.name}, compacted` })),
      ...tiers.map((t) => ({ name: tierTopic(c, t), role: `output: ${t.name} rollups` })),
      { name: topic.dlq, role: 'side output: dead letters' },
      { name: topic.late, role: 'side output: late samples' },
      ...(alerting
        ? [
            { name: topic.alertInput, role: 'internal: samples the alert rules select, one partition' },
            { name: topic.alerts, role: 'output: alert state changes' },
          ]
        : []),
    ],
  };
}

/**
 * The description in Kafka Streams' `Topology#describe()` layout (nodes with `-->` successors
 * and `<--` predecessors), then the stores with their changelogs and the topics with their roles.
 */
export function renderText(d: TopologyDescription): string {
  const previous = predecessors(d);
  const lines: string[] = [];
  for (const sub of d.subtopologies) {
    if (lines.length > 0) lines.push('');
    lines.push(`Sub-topology: ${sub.id}`);
    for (const node of sub.nodes) {
      const detail = node.detail ? ` — ${node.detail}` : '';
      lines.push(`    ${KIND_LABEL[node.kind]}: ${node.name} (${nodeAttributes(node)})${detail}`);
      if (node.kind !== 'sink') lines.push(`      --> ${node.next.join(', ') || 'none'}`);
      if (node.kind !== 'source') lines.push(`      <-- ${previous.get(node.name)?.join(', ') || 'none'}`);
    }
  }
  lines.push('', 'Stores:');
  for (const s of d.stores) lines.push(`    ${s.name} (changelog: ${s.changelog})`);
  lines.push('', 'Topics:');
  for (const t of d.topics) lines.push(`    ${t.name} (${t.role})`);
  return `${lines.join('\n')}\n`;
}

/**
 * The description as a Mermaid flowchart: one subgraph per sub-topology with its stages as
 * boxes, Kafka topics as stadiums, state stores and ClickHouse tables as cylinders.
 */
export function renderMermaid(d: TopologyDescription): string {
  const lines = ['flowchart TD'];
  const { topicId, storeId, tableId, stageId } = mermaidIds();
  const declared = new Set<string>();
  /** Declares a topic, store or table once, at top level, so that subgraphs can share it. */
  const declareOnce = (id: string, shape: string) => {
    if (!declared.has(id)) lines.push(`  ${id}${shape}`);
    declared.add(id);
  };
  for (const t of d.topics) declareOnce(topicId(t.name), `(["${escape(t.name)}"]):::topic`);
  for (const s of d.stores) declareOnce(storeId(s.name), `[("${escape(s.name)}")]:::store`);
  for (const node of d.subtopologies.flatMap((s) => s.nodes))
    for (const table of node.tables ?? [])
      declareOnce(tableId(table), `[("ClickHouse ${escape(table)}")]:::table`);

  const edges: string[] = [];
  for (const sub of d.subtopologies) {
    lines.push(`  subgraph sub${sub.id}["Sub-topology ${sub.id}"]`);
    for (const node of sub.nodes) {
      const label = node.detail ? `${node.name}<br/><small>${node.detail}</small>` : node.name;
      lines.push(`    ${stageId(node.name)}["${escape(label)}"]:::stage`);
      for (const t of node.topics ?? [])
        edges.push(
          node.kind === 'source'
            ? `${topicId(t)} --> ${stageId(node.name)}`
            : `${stageId(node.name)} --> ${topicId(t)}`,
        );
      for (const table of node.tables ?? []) edges.push(`${stageId(node.name)} --> ${tableId(table)}`);
      for (const s of node.stores ?? []) edges.push(`${stageId(node.name)} <--> ${storeId(s)}`);
      for (const next of node.next) edges.push(`${stageId(node.name)} --> ${stageId(next)}`);
    }
    lines.push('  end');
  }
  for (const s of d.stores) edges.push(`${storeId(s.name)} -. changelog .-> ${topicId(s.changelog)}`);
  lines.push(...edges.map((e) => `  ${e}`));
  lines.push(
    '  classDef topic fill:#fff4dd,stroke:#c88a00',
    '  classDef store fill:#e8f0ff,stroke:#3b6fd4',
    '  classDef table fill:#e9f7ef,stroke:#2e8b57',
    '  classDef stage fill:#ffffff,stroke:#555555',
  );
  return `${lines.join('\n')}\n`;
}

const KIND_LABEL = { source: 'Source', processor: 'Processor', sink: 'Sink' } as const;

/** What Kafka Streams shows in parentheses: a source's topics, a processor's stores, a sink's topic. */
function nodeAttributes(node: TopologyNode): string {
  if (node.kind === 'source') return `topics: [${(node.topics ?? []).join(', ')}]`;
  if (node.kind === 'processor') return `stores: [${(node.stores ?? []).join(', ')}]`;
  if (node.tables?.length) return `table: ${node.tables.join(', ')}`;
  return `topic: ${(node.topics ?? []).join(', ')}`;
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

function predecessors(d: TopologyDescription): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const node of d.subtopologies.flatMap((s) => s.nodes))
    for (const next of node.next) out.set(next, [...(out.get(next) ?? []), node.name]);
  return out;
}

/**
 * Mermaid ids admit letters, digits and "_" only. A prefix per kind keeps a topic, a store and a
 * stage of the same name apart and keeps ids clear of keywords such as `end`; a suffix keeps
 * names apart that differ only in other characters (`a-b`, `a.b`).
 */
function mermaidIds() {
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  const id = (prefix: string) => (name: string) => {
    const key = `${prefix}:${name}`;
    let value = ids.get(key);
    if (value === undefined) {
      const base = `${prefix}_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
      value = base;
      for (let n = 2; taken.has(value); n++) value = `${base}_${n}`;
      taken.add(value);
      ids.set(key, value);
    }
    return value;
  };
  return { topicId: id('topic'), storeId: id('store'), tableId: id('table'), stageId: id('stage') };
}

/** Mermaid labels are quoted; a quote inside becomes its entity. */
function escape(label: string): string {
  return label.replace(/"/g, '#quot;');
}
