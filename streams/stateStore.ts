import type { WindowState, WindowStore } from './windowStore.js';

/** How a store's values travel through its changelog topic. */
export interface StoreCodec<V> {
  encode(value: V): Buffer;
  decode(bytes: Buffer): V;
}

/** The encoded size of each key's last changelog record (key and value), and their sum: the state-size metric. */
export class RecordSizes {
  private readonly sizes = new Map<string, number>();
  bytes = 0;

  /** Notes the record of `key` written or read: `value`, or null for a tombstone. */
  set(key: string, value: Buffer | null): void {
    const size = value === null ? 0 : value.length + key.length;
    this.bytes += size - (this.sizes.get(key) ?? 0);
    if (value === null) this.sizes.delete(key);
    else this.sizes.set(key, size);
  }
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
  private readonly sizes = new RecordSizes();

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
    return this.sizes.bytes;
  }

  /** The changes since the last call, encoded, dirty marks cleared. */
  changes(): ChangelogEntry[] {
    const out: ChangelogEntry[] = [];
    for (const key of this.dirty) {
      const value = this.map.get(key);
      const encoded = value === undefined ? null : this.codec.encode(value);
      this.sizes.set(key, encoded);
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
        this.sizes.set(key, null);
      } else {
        this.map.set(key, this.codec.decode(value));
        this.sizes.set(key, value);
      }
    }
  }
}

/** The changelog record of a window store's `purgedThrough`: an f64, little-endian. */
export const PURGED_KEY = '__purged-through';

/** How the windows of one key travel through a window store's changelog, as one record. */
export interface WindowsCodec<A> {
  encode(states: ReadonlyArray<WindowState<A>>): Buffer;
  /** The windows of the record of `key`; records of the former layout (one window each) decode too. */
  decode(key: string, bytes: Buffer): Array<WindowState<A>>;
}

/**
 * A changelog-backed store of window states, as the window operator wants it (windows by
 * `${key}@${start}`), whose changelog holds one record per key (series) with all its windows.
 * A flush that touches a series' open windows, closes one and purges an older one writes one
 * record, not three: the changelog takes a few records per series and flush instead of a few
 * per window, and producing records was the largest cost of the window tiers.
 *
 * Records keyed by window id (the former layout) are read on restore and replaced: their
 * windows are written again under their key, and a tombstone removes each old record.
 */
export class WindowChangelogStore<A> implements WindowStore<A> {
  private readonly windows = new Map<string, WindowState<A>>();
  /** The window ids of each key. */
  private readonly byKey = new Map<string, string[]>();
  /** Keys changed since the last `changes()`. */
  private readonly dirty = new Set<string>();
  /** Records of the former layout to delete with the next `changes()`. */
  private formerKeys: string[] = [];
  private purged = Number.NEGATIVE_INFINITY;
  /** True when `purged` changed since the last `changes()`. */
  private purgedDirty = false;
  private readonly sizes = new RecordSizes();

  constructor(
    readonly name: string,
    private readonly codec: WindowsCodec<A>,
  ) {}

  get(id: string): WindowState<A> | undefined {
    return this.windows.get(id);
  }

  put(id: string, state: WindowState<A>): void {
    const held = this.windows.get(id);
    if (held === undefined) {
      const ids = this.byKey.get(state.key);
      if (ids) ids.push(id);
      else this.byKey.set(state.key, [id]);
    }
    // A window's state is mostly changed in place and put again: only its key is marked then.
    if (held !== state) this.windows.set(id, state);
    this.dirty.add(state.key);
  }

  changed(state: WindowState<A>): void {
    this.dirty.add(state.key);
  }

  delete(id: string): void {
    const state = this.windows.get(id);
    if (state === undefined) return;
    this.windows.delete(id);
    const ids = this.byKey.get(state.key) as string[];
    ids.splice(ids.indexOf(id), 1);
    this.dirty.add(state.key);
  }

  entries(): IterableIterator<[string, WindowState<A>]> {
    return this.windows.entries();
  }

  /** Windows held. */
  get size(): number {
    return this.windows.size;
  }

  purgedThrough(): number {
    return this.purged;
  }

  setPurgedThrough(time: number): void {
    this.purged = time;
    this.purgedDirty = true;
  }

  /** Approximate bytes of the store as last written to its changelog. */
  get approximateBytes(): number {
    return this.sizes.bytes;
  }

  /** The changes since the last call, one record (or tombstone) per key changed, dirty marks cleared. */
  changes(): ChangelogEntry[] {
    const out: ChangelogEntry[] = this.formerKeys.map((key) => ({ key, value: null }));
    this.formerKeys = [];
    if (this.purgedDirty) {
      const value = Buffer.allocUnsafe(8);
      value.writeDoubleLE(this.purged);
      out.push({ key: PURGED_KEY, value });
      this.purgedDirty = false;
    }
    for (const key of this.dirty) {
      const ids = this.byKey.get(key);
      let value: Buffer | null = null;
      if (ids === undefined || ids.length === 0) this.byKey.delete(key);
      else value = this.codec.encode(ids.map((id) => this.windows.get(id) as WindowState<A>));
      this.sizes.set(key, value);
      out.push({ key, value });
    }
    this.dirty.clear();
    return out;
  }

  /** Applies changelog records read from the topic, oldest first. */
  restore(entries: Iterable<ChangelogEntry>): void {
    for (const { key, value } of entries) {
      if (key === PURGED_KEY) {
        if (value !== null) this.purged = value.readDoubleLE(0);
        continue;
      }
      const states = value === null ? [] : this.codec.decode(key, value);
      if (key.includes('@')) {
        // A window of the former layout: kept under its key from now on, its old record deleted.
        for (const state of states) this.put(key, state);
        if (states.length === 0) this.remove(key);
        this.formerKeys.push(key);
        continue;
      }
      for (const id of this.byKey.get(key) ?? []) this.windows.delete(id);
      this.byKey.delete(key);
      for (const state of states) this.put(`${state.key}@${state.start}`, state);
      this.dirty.delete(key);
      this.sizes.set(key, value);
    }
  }

  /** Drops a window without marking anything dirty (a tombstone of the former layout). */
  private remove(id: string): void {
    const state = this.windows.get(id);
    if (state === undefined) return;
    this.windows.delete(id);
    const ids = this.byKey.get(state.key) as string[];
    ids.splice(ids.indexOf(id), 1);
  }
}
