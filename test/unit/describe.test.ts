import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeCommand } from '../../cli/describeCommand.js';
import { loadConfig, type Config } from '../../core/config.js';
import { describeTopology } from '../../topology/graph.js';
import { renderMermaid, renderText } from '../../streams/describe.js';
import type { TopologyDescription } from '../../streams/topologyBuilder.js';

const defaults = loadConfig(undefined, {});
/** Input keyed by something other than the series (e.g. by agent): the topology repartitions it. */
const notCoPartitioned: Config = Object.assign({}, defaults, { input: { coPartitioned: false } });

const DEFAULT_TEXT = `Sub-topology: 0
    Source: source (topics: [metrics])
      --> decode
    Processor: decode (stores: []) — Confluent Avro, writer schema from the schema registry
      --> validate, sink-dlq
      <-- source
    Processor: validate (stores: []) — normalize names and labels, series id
      --> sink-samples, watermark, sink-dlq
      <-- decode
    Sink: sink-samples (table: samples, series) — ClickHouse, idempotent
      <-- validate
    Processor: watermark (stores: []) — event time, bounded out-of-orderness 5s, idle partitions skipped after 10s
      --> window-1m
      <-- validate
    Processor: window-1m (stores: [window-1m, series]) — TimeWindows 1m, grace 10s, suppress untilWindowCloses, allowed lateness 1m
      --> sink-topic-1m, sink-samples-1m, window-1h, sink-late
      <-- watermark
    Sink: sink-topic-1m (topic: metrics-1m)
      <-- window-1m
    Sink: sink-samples-1m (table: samples_1m) — ClickHouse, idempotent
      <-- window-1m
    Processor: window-1h (stores: [window-1h, series]) — TimeWindows 1h, grace 1m, suppress untilWindowCloses, allowed lateness 10m, over 1m results
      --> sink-topic-1h, sink-samples-1h
      <-- window-1m
    Sink: sink-topic-1h (topic: metrics-1h)
      <-- window-1h
    Sink: sink-samples-1h (table: samples_1h) — ClickHouse, idempotent
      <-- window-1h
    Sink: sink-late (topic: metrics-late) — side output: after grace and allowed lateness
      <-- window-1m
    Sink: sink-dlq (topic: metrics-dlq) — side output: rejects with original bytes and reason
      <-- decode, validate

Stores:
    series (changelog: metrics-pipeline-series-changelog)
    window-1m (changelog: metrics-pipeline-window-1m-changelog)
    window-1h (changelog: metrics-pipeline-window-1h-changelog)

Topics:
    metrics (input: sample batches)
    metrics-pipeline-series-changelog (changelog of store series, compacted)
    metrics-pipeline-window-1m-changelog (changelog of store window-1m, compacted)
    metrics-pipeline-window-1h-changelog (changelog of store window-1h, compacted)
    metrics-1m (output: 1m rollups)
    metrics-1h (output: 1h rollups)
    metrics-dlq (side output: dead letters)
    metrics-late (side output: late samples)
`;

/** Every edge leads to a node of the same sub-topology, and names are unique, as in Kafka Streams. */
function expectWellFormed(d: TopologyDescription): void {
  const all = d.subtopologies.flatMap((s) => s.nodes.map((n) => n.name));
  expect(new Set(all).size).toBe(all.length);
  for (const sub of d.subtopologies) {
    const names = new Set(sub.nodes.map((n) => n.name));
    for (const node of sub.nodes) for (const next of node.next) expect(names).toContain(next);
  }
}

describe('describeTopology', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('renders the default topology as Kafka Streams describes one', () => {
    const d = describeTopology(defaults);
    expectWellFormed(d);
    expect(renderText(d)).toBe(DEFAULT_TEXT);
  });

  it('draws each configured tier: a 5m tier is a window, store, table and topic named after it', () => {
    const [minute, hour] = defaults.tiers as [Config['tiers'][number], Config['tiers'][number]];
    const fiveMinutes = { ...minute, name: '5m', sizeMs: 300_000, allowedLatenessMs: 70_000, from: '1m' };
    const d = describeTopology(
      loadConfig(undefined, {}, { tiers: [minute, fiveMinutes, { ...hour, from: '5m' }] }),
    );
    expectWellFormed(d);
    const nodes = d.subtopologies.flatMap((s) => s.nodes);
    const node = (name: string) => nodes.find((n) => n.name === name);
    expect(node('window-1m')?.next).toEqual(['sink-topic-1m', 'sink-samples-1m', 'window-5m', 'sink-late']);
    // Only the tier over the samples has late records: the others take every result of the tier below.
    expect(node('window-5m')?.next).toEqual(['sink-topic-5m', 'sink-samples-5m', 'window-1h']);
    expect(node('window-5m')?.detail).toContain('TimeWindows 5m');
    expect(node('sink-topic-5m')?.topics).toEqual(['metrics-5m']);
    expect(node('sink-samples-5m')?.tables).toEqual(['samples_5m']);
    expect(d.stores.map((s) => s.changelog)).toContain('metrics-pipeline-window-5m-changelog');
  });

  it('adds the alert stage as a sub-topology of its own when rules are configured', () => {
    const d = describeTopology({ ...defaults, alerts: { rules: ['rules.yaml'], tickMs: 1000 } });
    expectWellFormed(d);
    expect(d.subtopologies.map((s) => s.nodes.map((n) => n.name))).toEqual([
      expect.arrayContaining(['validate', 'alert-input-sink']),
      ['alert-input-source', 'alert-rules', 'sink-alerts'],
    ]);
    expect(d.subtopologies[0]?.nodes.find((n) => n.name === 'validate')?.next).toContain('alert-input-sink');
    expect(d.stores).toContainEqual({ name: 'alerts', changelog: 'metrics-pipeline-alerts-changelog' });
    expect(d.topics).toContainEqual({ name: 'alerts', role: 'output: alert state changes' });
    expect(renderText(d)).toContain(
      '    Source: alert-input-source (topics: [metrics-pipeline-alert-input])',
    );
    // Without rules nothing of it shows.
    expect(JSON.stringify(describeTopology(defaults))).not.toContain('alert');
  });

  it('repartitions by series into a second sub-topology when the input is not co-partitioned', () => {
    const d = describeTopology(notCoPartitioned);
    expectWellFormed(d);
    expect(d.subtopologies.map((s) => s.id)).toEqual([0, 1]);
    expect(d.topics).toContainEqual({
      name: 'metrics-pipeline-repartition',
      role: 'internal: samples partitioned by series id',
    });
    // The raw path stays before the repartition topic; the windows come after it.
    const [before, after] = d.subtopologies.map((s) => s.nodes.map((n) => n.name));
    expect(before).toEqual(['source', 'decode', 'validate', 'sink-samples', 'repartition-sink', 'sink-dlq']);
    expect(after?.slice(0, 3)).toEqual(['repartition-source', 'watermark', 'window-1m']);
    const text = renderText(d);
    expect(text).toContain(
      [
        '      --> sink-samples, repartition-sink, sink-dlq',
        '      <-- decode',
        '    Sink: sink-samples (table: samples, series) — ClickHouse, idempotent',
        '      <-- validate',
        '    Sink: repartition-sink (topic: metrics-pipeline-repartition) — Avro batches to the partition of their series id, with their input partition and offsets',
        '      <-- validate',
      ].join('\n'),
    );
    expect(text).toContain(
      [
        '',
        'Sub-topology: 1',
        '    Source: repartition-source (topics: [metrics-pipeline-repartition]) — samples repeated by a replay of sub-topology 0 are skipped',
        '      --> watermark, repartition-dlq',
        '    Processor: watermark (stores: []) — event time per partition and input partition, bounded out-of-orderness 5s, idle partitions skipped after 10s',
        '      --> window-1m',
        '      <-- repartition-source',
      ].join('\n'),
    );
  });

  it('names internal topics after the application id and follows renamed topics', () => {
    const config = loadConfig(undefined, {}, { appId: 'shop', topics: { metrics: 'in', dlq: 'dead' } });
    const d = describeTopology(config);
    expect(d.stores).toEqual([
      { name: 'series', changelog: 'shop-series-changelog' },
      { name: 'window-1m', changelog: 'shop-window-1m-changelog' },
      { name: 'window-1h', changelog: 'shop-window-1h-changelog' },
    ]);
    expect(renderText(d)).toContain('    Source: source (topics: [in])\n');
    expect(renderText(d)).toContain('    Sink: sink-dlq (topic: dead)');
  });

  it.each([
    ['co-partitioned', defaults],
    ['not co-partitioned', notCoPartitioned],
  ])('draws a Mermaid flowchart with every topic and store (%s)', (_, config) => {
    const d = describeTopology(config);
    const mermaid = renderMermaid(d);
    expect(mermaid.startsWith('flowchart TD\n')).toBe(true);
    for (const t of d.topics) expect(mermaid).toContain(`(["${t.name}"])`);
    for (const s of d.stores) expect(mermaid).toContain(`[("${s.name}")]`);
    for (const sub of d.subtopologies)
      expect(mermaid).toContain(`subgraph sub${sub.id}["Sub-topology ${sub.id}"]`);
    expect(mermaid).toContain('  topic_metrics --> stage_source\n');
    expect(mermaid).toContain('  stage_window_1m <--> store_window_1m\n');
    expect(mermaid).toContain(
      '  store_window_1m -. changelog .-> topic_metrics_pipeline_window_1m_changelog\n',
    );
  });

  it('draws the repartition topic between the two sub-topologies', () => {
    const mermaid = renderMermaid(describeTopology(notCoPartitioned));
    expect(mermaid).toContain('  stage_repartition_sink --> topic_metrics_pipeline_repartition\n');
    expect(mermaid).toContain('  topic_metrics_pipeline_repartition --> stage_repartition_source\n');
  });

  it('prints text, then the fenced diagram, for --format both', () => {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    describeCommand(defaults, { format: 'both' });
    const mermaid = renderMermaid(describeTopology(defaults));
    expect(written.join('')).toBe(`${DEFAULT_TEXT}\n\`\`\`mermaid\n${mermaid}\`\`\`\n`);
  });
});
