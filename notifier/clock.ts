/** A scheduled callback, to cancel. */
export interface Timer {
  cancel(): void;
}

/**
 * Processing time as the notifier sees it: group_wait, group_interval, repeat_interval and
 * silences are all measured on it, so tests can run them on a FakeClock, instantly.
 */
export interface Clock {
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  schedule(ms: number, fn: () => void): Timer;
}

/** The wall clock and Node's timers (unref'd: a pending flush does not keep the process alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * A clock that moves only when told: `advance(ms)` runs the timers due in that span in time
 * order, letting promises settle after each, so that async work started by a timer (a delivery)
 * finishes before the next one fires.
 *
 * ```ts
 * const clock = new FakeClock(0);
 * clock.schedule(100, () => fired.push(clock.now()));
 * await clock.advance(150); // fired = [100]
 * ```
 */
export class FakeClock implements Clock {
  private timers: Array<{ at: number; seq: number; fn: () => void }> = [];
  private seq = 0;

  constructor(private time = 0) {}

  now(): number {
    return this.time;
  }

  schedule(ms: number, fn: () => void): Timer {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((t) => t !== timer)) };
  }

  /** Moves time forward by `ms`, firing due timers (including ones they schedule) in order. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    await settle();
    for (;;) {
      const next = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = next.at;
      next.fn();
      await settle();
    }
    this.time = until;
  }
}

/** Lets every promise chain that can progress without real time do so. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
