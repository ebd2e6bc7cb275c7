import type { TopologyDescription, TopologyNode } from './topologyBuilder.js';

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
