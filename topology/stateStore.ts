import type { WindowState, WindowStore } from '../operators/tumblingWindow.js';

/** How a store's values travel through its changelog topic. */
export interface StoreCodec<V> {
  encode(value: V): Buffer;
  decode(bytes: Buffer): V;
}

/** One changelog record: key, and value or null for a tombstone. */
export interface ChangelogEntry {
  key: string;
  value: Buffer | null;
}

/**
 * A key-value state store of one partition, kept in memory and backed by a compacted changelog
 * topic (Kafka Streams' logged store): every put or delete marks its key dirty, `changes()`
 * hands the dirty keys to the topology, which writes them to the changelog before it commits
 * the offsets of the records that caused them. `restore()` rebuilds the store from the topic.
 */
export class ChangelogStore<V> {
  protected readonly map = new Map<string, V>();
  /** Keys changed since the last `changes()`; a key no longer in `map` becomes a tombstone. */
  private readonly dirty = new Set<string>();
  /** Encoded size of each key's last written value, for the state-size metric. */
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  constructor(
    readonly name: string,
    private readonly codec: StoreCodec<V>,
  ) {}

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  put(key: string, value: V): void {
    this.map.set(key, value);
    this.dirty.add(key);
  }

  delete(key: string): void {
    this.map.delete(key);
    this.dirty.add(key);
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  get size(): number {
    return this.map.size;
  }

  /** Approximate bytes of the store as last written to its changelog. */
  get approximateBytes(): number {
    return this.bytes;
  }

  /** The changes since the last call, encoded, dirty marks cleared. */
  changes(): ChangelogEntry[] {
    const out: ChangelogEntry[] = [];
    for (const key of this.dirty) {
      const value = this.map.get(key);
      const encoded = value === undefined ? null : this.codec.encode(value);
      this.bytes += (encoded?.length ?? 0) + (encoded ? key.length : 0) - (this.sizes.get(key) ?? 0);
      if (encoded) this.sizes.set(key, encoded.length + key.length);
      else this.sizes.delete(key);
      out.push({ key, value: encoded });
    }
    this.dirty.clear();
    return out;
  }

  /** Applies changelog records read from the topic, oldest first. */
  restore(entries: Iterable<ChangelogEntry>): void {
    for (const { key, value } of entries) {
      if (value === null) {
        this.map.delete(key);
        this.bytes -= this.sizes.get(key) ?? 0;
        this.sizes.delete(key);
      } else {
        this.map.set(key, this.codec.decode(value));
        this.bytes += value.length + key.length - (this.sizes.get(key) ?? 0);
        this.sizes.set(key, value.length + key.length);
      }
    }
  }
}

/** A changelog-backed store of window states, as the window operator wants it. */
export class WindowChangelogStore<A> extends ChangelogStore<WindowState<A>> implements WindowStore<A> {}
