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
  /**
   * Marks a window the store holds (the object `get` returned) as changed in place: what `put`
   * of that same object does, without looking it up again. Optional: `put` does it otherwise.
   */
  changed?(state: WindowState<A>): void;
  delete(id: string): void;
  entries(): Iterable<[string, WindowState<A>]>;
  /**
   * The event time up to which windows are purged: every window whose end plus grace plus
   * allowed lateness is at or before it is gone, and a record for one is late. It travels with
   * the windows (restored with them), so that a restart never opens a purged window again.
   */
  purgedThrough(): number;
  setPurgedThrough(time: number): void;
}
