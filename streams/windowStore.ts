/** The state of one window of one key. */
export interface WindowState<A> {
  key: string;
  start: number;
  acc: A;
  /** 0 until the first result is emitted */
  revision: number;
}

/** The window states of one input partition, by `${key}@${start}`. */
export interface WindowStore<A> {
  get(id: string): WindowState<A> | undefined;
  put(id: string, state: WindowState<A>): void;
  delete(id: string): void;
  entries(): Iterable<[string, WindowState<A>]>;
  /** The windows starting at or before `start`, by start; among one start's, in the order they were first put. */
  startingBy(start: number): Iterable<[string, WindowState<A>]>;
  /**
   * The event time up to which windows are purged: every window whose end plus grace plus
   * allowed lateness is at or before it is gone, and a record for one is late. It travels with
   * the windows (restored with them), so that a restart never opens a purged window again.
   */
  purgedThrough(): number;
  setPurgedThrough(time: number): void;
}

/**
 * Window states by id, also grouped by window start, so that closing and purging visit only the
 * windows old enough for it rather than every open window of every series. Each start's windows
 * keep the order in which their ids were first set, as a Map's entries do.
 */
export class WindowMap<A> {
  private readonly byId = new Map<string, WindowState<A>>();
  private readonly byStart = new Map<number, Map<string, WindowState<A>>>();
  /** The keys of `byStart`, ascending. */
  private readonly starts: number[] = [];

  get size(): number {
    return this.byId.size;
  }

  get(id: string): WindowState<A> | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  set(id: string, state: WindowState<A>): void {
    const before = this.byId.get(id);
    if (before !== undefined && before.start !== state.start) this.delete(id);
    this.byId.set(id, state);
    let bucket = this.byStart.get(state.start);
    if (bucket === undefined) {
      bucket = new Map();
      this.byStart.set(state.start, bucket);
      const starts = this.starts;
      let at = starts.length;
      while (at > 0 && (starts[at - 1] as number) > state.start) at--;
      starts.splice(at, 0, state.start);
    }
    bucket.set(id, state);
  }

  delete(id: string): void {
    const state = this.byId.get(id);
    if (state === undefined) return;
    this.byId.delete(id);
    const bucket = this.byStart.get(state.start) as Map<string, WindowState<A>>;
    bucket.delete(id);
    if (bucket.size === 0) {
      this.byStart.delete(state.start);
      this.starts.splice(this.starts.indexOf(state.start), 1);
    }
  }

  entries(): IterableIterator<[string, WindowState<A>]> {
    return this.byId.entries();
  }

  /** The windows starting at or before `start`, by start (a snapshot: the caller may change the map meanwhile). */
  startingBy(start: number): Array<[string, WindowState<A>]> {
    const out: Array<[string, WindowState<A>]> = [];
    for (const s of this.starts) {
      if (s > start) break;
      for (const entry of this.byStart.get(s) as Map<string, WindowState<A>>) out.push(entry);
    }
    return out;
  }
}
