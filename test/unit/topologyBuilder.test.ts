import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { TopologyBuilder } from '../../streams/topologyBuilder.js';
import { buildTopology, tiersOf } from '../../topology/graph.js';

function small(): TopologyBuilder {
  const b = new TopologyBuilder('app');
  b.addTopic('in', 'input').addTopic('mid', 'internal').addTopic('out', 'output');
  const store = b.addStateStore('counts');
  b.addSource('read', ['in']);
  b.addProcessor('count', ['read'], { stores: [store.name] });
  b.addSink('write-mid', ['count'], { topics: ['mid'] });
  b.addSource('read-mid', ['mid']);
  b.addSink('write', ['read-mid'], { topics: ['out'] });
  return b;
}

describe('TopologyBuilder', () => {
  it('derives changelog topics from store names and splits sub-topologies at topics', () => {
    const d = small().build().describe();
    expect(d.stores).toEqual([{ name: 'counts', changelog: 'app-counts-changelog' }]);
    expect(d.topics.map((t) => t.name)).toEqual(['in', 'mid', 'out', 'app-counts-changelog']);
    expect(d.subtopologies.map((s) => s.nodes.map((n) => n.name))).toEqual([
      ['read', 'count', 'write-mid'],
      ['read-mid', 'write'],
    ]);
    expect(d.subtopologies[0]?.nodes[1]?.next).toEqual(['write-mid']);
  });

  it('refuses unknown parents, sinks as parents, duplicate names, undeclared topics and stores', () => {
    const b = new TopologyBuilder('app').addTopic('in', 'input');
    b.addSource('read', ['in']);
    expect(() => b.addProcessor('p', ['nope'])).toThrow('unknown parent nope');
    expect(() => b.addSource('read', ['in'])).toThrow('defined twice');
    b.addSink('s', ['read'], { topics: ['in'] });
    expect(() => b.addProcessor('after', ['s'])).toThrow('cannot follow sink s');
    const undeclaredTopic = new TopologyBuilder('app');
    undeclaredTopic.addSource('read', ['missing']);
    expect(() => undeclaredTopic.build()).toThrow('undeclared topic missing');
    const undeclaredStore = new TopologyBuilder('app').addTopic('in', 'input');
    undeclaredStore.addSource('read', ['in']);
    undeclaredStore.addProcessor('p', ['read'], { stores: ['ghost'] });
    expect(() => undeclaredStore.build()).toThrow('undeclared store ghost');
    const unused = new TopologyBuilder('app');
    unused.addStateStore('orphan');
    expect(() => unused.build()).toThrow('store orphan belongs to no processor');
  });

  it('records what a runtime wires and refuses edges the graph does not have', () => {
    const topology = small().build();
    const wiring = topology.wiring();
    wiring.connect('read', 'count');
    expect(() => wiring.connect('read', 'write')).toThrow('no edge read -> write');
    expect(() => wiring.node('ghost')).toThrow('no node ghost');
    expect(wiring.nodes()).toEqual(['read', 'count']);
    expect(wiring.edges()).toEqual(['read->count']);
  });
});

describe('the graph of the default configuration', () => {
  const config = loadConfig(undefined, {});

  it('has one window stage per tier, each folding the tier it names', () => {
    const topology = buildTopology(config);
    for (const tier of tiersOf(config)) {
      const from = tier.from === 'raw' ? 'watermark' : `window-${tier.from}`;
      expect(topology.node(from).next).toContain(`window-${tier.name}`);
      expect(topology.node(`window-${tier.name}`).stores).toEqual([tier.store, 'series']);
      expect(topology.node(`window-${tier.name}`).next).toEqual(
        expect.arrayContaining([`sink-topic-${tier.name}`, `sink-samples-${tier.name}`]),
      );
    }
    // Late samples come from the tier over raw samples only; the 1h tier drops nothing it can take.
    expect(topology.node('window-1h').next).not.toContain('sink-late');
  });

  it('without windows (the loader) holds the raw path only', () => {
    const d = buildTopology(config, { windows: false }).describe();
    expect(d.subtopologies.flatMap((s) => s.nodes.map((n) => n.name))).toEqual([
      'source',
      'decode',
      'validate',
      'sink-samples',
      'sink-dlq',
    ]);
    expect(d.stores).toEqual([]);
  });
});
