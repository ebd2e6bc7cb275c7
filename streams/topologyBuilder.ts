/** A stage of the graph: where records come from (source), what transforms them (processor), where they go (sink). */
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
  /** Names of the nodes that this one forwards to, in the order they were connected. */
  next: string[];
  detail?: string;
}

/** A named state store and the compacted topic its changes go to. */
export interface StoreSpec {
  name: string;
  changelog: string;
}

/** A Kafka topic the topology reads or writes, with what it carries. */
export interface TopicSpec {
  name: string;
  role: string;
}

/** The topology as Kafka Streams' `Topology#describe()` shows it: sub-topologies of named nodes. */
export interface TopologyDescription {
  subtopologies: Array<{ id: number; nodes: TopologyNode[] }>;
  stores: StoreSpec[];
  topics: TopicSpec[];
}

export interface NodeOptions {
  detail?: string;
}

/**
 * Builds the graph as data, as Kafka Streams' `Topology#addSource/addProcessor/addSink`: each
 * node names its parents, so edges come from one place; stores are named and their changelog
 * topics derived from the names (`<appId>-<store>-changelog`). `build` checks that every name
 * a node refers to exists.
 *
 * ```ts
 * const b = new TopologyBuilder('app');
 * b.addTopic('in', 'input');
 * b.addSource('source', ['in']);
 * b.addProcessor('window', ['source'], { stores: [b.addStateStore('window').name] });
 * ```
 */
export class TopologyBuilder {
  private readonly nodes = new Map<string, TopologyNode>();
  private readonly stores = new Map<string, StoreSpec>();
  private readonly topics = new Map<string, TopicSpec>();

  constructor(private readonly appId: string) {}

  /** Declares a topic with its role; sources and sinks may only name declared topics. */
  addTopic(name: string, role: string): this {
    if (!this.topics.has(name)) this.topics.set(name, { name, role });
    return this;
  }

  /** Declares a store; its changelog topic, compacted, is declared with it. */
  addStateStore(name: string): StoreSpec {
    const existing = this.stores.get(name);
    if (existing) return existing;
    const store = { name, changelog: `${this.appId}-${name}-changelog` };
    this.stores.set(name, store);
    this.addTopic(store.changelog, `changelog of store ${name}, compacted`);
    return store;
  }

  addSource(name: string, topics: string[], options: NodeOptions = {}): this {
    return this.add({ name, kind: 'source', topics, next: [], ...detail(options) }, []);
  }

  addProcessor(name: string, parents: string[], options: NodeOptions & { stores?: string[] } = {}): this {
    const node: TopologyNode = { name, kind: 'processor', stores: options.stores ?? [], next: [] };
    return this.add({ ...node, ...detail(options) }, parents);
  }

  addSink(
    name: string,
    parents: string[],
    options: NodeOptions & { topics?: string[]; tables?: string[] },
  ): this {
    const node: TopologyNode = { name, kind: 'sink', next: [] };
    if (options.topics) node.topics = options.topics;
    if (options.tables) node.tables = options.tables;
    return this.add({ ...node, ...detail(options) }, parents);
  }

  build(): Topology {
    for (const node of this.nodes.values()) {
      for (const topic of node.topics ?? [])
        if (!this.topics.has(topic)) throw new Error(`node ${node.name} names undeclared topic ${topic}`);
      for (const store of node.stores ?? [])
        if (!this.stores.has(store)) throw new Error(`node ${node.name} names undeclared store ${store}`);
    }
    const used = new Set([...this.nodes.values()].flatMap((n) => n.stores ?? []));
    for (const store of this.stores.keys())
      if (!used.has(store)) throw new Error(`store ${store} belongs to no processor`);
    return new Topology([...this.nodes.values()], [...this.stores.values()], [...this.topics.values()]);
  }

  private add(node: TopologyNode, parents: string[]): this {
    if (this.nodes.has(node.name)) throw new Error(`node ${node.name} is defined twice`);
    for (const name of parents) {
      const parent = this.nodes.get(name);
      if (!parent) throw new Error(`node ${node.name} names unknown parent ${name}`);
      if (parent.kind === 'sink') throw new Error(`node ${node.name} cannot follow sink ${name}`);
      parent.next.push(node.name);
    }
    this.nodes.set(node.name, node);
    return this;
  }
}

function detail(options: NodeOptions): { detail?: string } {
  return options.detail === undefined ? {} : { detail: options.detail };
}

/**
 * The built graph. `describe` groups the nodes into sub-topologies (the parts connected by
 * edges; a topic between a sink and a source separates them, as a repartition topic does);
 * `wiring` records what a runtime actually instantiates and connects, so that a test can hold
 * the two against each other.
 */
export class Topology {
  private readonly byName: ReadonlyMap<string, TopologyNode>;

  constructor(
    readonly nodes: ReadonlyArray<TopologyNode>,
    readonly stores: ReadonlyArray<StoreSpec>,
    readonly topics: ReadonlyArray<TopicSpec>,
  ) {
    this.byName = new Map(nodes.map((n) => [n.name, n]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  node(name: string): TopologyNode {
    const node = this.byName.get(name);
    if (!node) throw new Error(`the topology has no node ${name}`);
    return node;
  }

  /** Every edge, as `from->to`. */
  edges(): string[] {
    return this.nodes.flatMap((n) => n.next.map((to) => `${n.name}->${to}`));
  }

  describe(): TopologyDescription {
    const root = new Map<string, string>(this.nodes.map((n) => [n.name, n.name]));
    const find = (name: string): string => {
      let r = name;
      while (root.get(r) !== r) r = root.get(r) as string;
      root.set(name, r);
      return r;
    };
    for (const n of this.nodes) for (const next of n.next) root.set(find(next), find(n.name));
    const groups = new Map<string, TopologyNode[]>();
    for (const n of this.nodes) {
      const r = find(n.name);
      const group = groups.get(r) ?? [];
      group.push(structuredClone(n));
      groups.set(r, group);
    }
    return {
      subtopologies: [...groups.values()].map((nodes, id) => ({ id, nodes })),
      stores: this.stores.map((s) => ({ ...s })),
      topics: this.topics.map((t) => ({ ...t })),
    };
  }

  /** A recorder of what a runtime builds from this graph. */
  wiring(): Wiring {
    return new Wiring(this);
  }
}

/**
 * What a runtime instantiated and connected: `node` and `connect` refuse names and edges the
 * graph does not have, and `nodes`/`edges` show what was built, to compare with `describe`.
 */
export class Wiring {
  private readonly instantiated = new Set<string>();
  private readonly connected = new Set<string>();

  constructor(readonly topology: Topology) {}

  /** The node `name`, marked as instantiated. */
  node(name: string): TopologyNode {
    const node = this.topology.node(name);
    this.instantiated.add(name);
    return node;
  }

  /** Marks the edge `from → to` as connected (and both ends as instantiated). */
  connect(from: string, to: string): void {
    if (!this.topology.node(from).next.includes(to))
      throw new Error(`the topology has no edge ${from} -> ${to}`);
    this.node(from);
    this.node(to);
    this.connected.add(`${from}->${to}`);
  }

  nodes(): string[] {
    return this.topology.nodes.map((n) => n.name).filter((n) => this.instantiated.has(n));
  }

  edges(): string[] {
    return this.topology.edges().filter((e) => this.connected.has(e));
  }
}
