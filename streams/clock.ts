import { asyncScheduler, Subscription, type SchedulerAction, type SchedulerLike } from 'rxjs';

/** A scheduled callback, to cancel. */
export interface Timer {
  cancel(): void;
}

/**
 * Processing (wall-clock) time, injected into everything that measures it: the topology's
 * commit interval and idle ticks, the watermark's idleness, the alert stage's evaluation when
 * nothing arrives, the notifier's group_wait, group_interval, repeat_interval and silences. Tests
 * run them on a FakeClock, instantly.
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

  constructor(
    private time = 0,
    /** Waits for the work a timer started (by default: promise chains that need no real time). */
    private readonly settle: () => Promise<void> = settlePromises,
  ) {}

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
    await this.settle();
    for (;;) {
      const next = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = next.at;
      next.fn();
      await this.settle();
    }
    this.time = until;
  }
}

/** Lets every promise chain that can progress without real time do so. */
export async function settlePromises(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The clock as an RxJS scheduler, for the operators that take one (`bufferRows`, the watermark's
 * idleness): the wall clock is RxJS' own `asyncScheduler`, so production timing is unchanged.
 */
export function clockScheduler(clock: Clock): SchedulerLike {
  if (clock === systemClock) return asyncScheduler;
  return {
    now: () => clock.now(),
    schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
      let timer: Timer | undefined;
      const action = new Subscription(() => timer?.cancel()) as Subscription & SchedulerAction<T>;
      action.schedule = (next?: T, again = 0) => {
        timer?.cancel();
        timer = clock.schedule(again, () => {
          timer = undefined;
          if (!action.closed) work.call(action, next);
        });
        return action;
      };
      return action.schedule(state, delay);
    },
  };
}

/** A tick every `ms` on `clock`, until the subscription ends (rxjs' `interval`, on an injected clock). */
export function every(clock: Clock, ms: number, fn: () => void): Timer {
  let timer: Timer | undefined;
  let cancelled = false;
  const arm = () => {
    timer = clock.schedule(ms, () => {
      if (cancelled) return;
      arm();
      fn();
    });
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      timer?.cancel();
    },
  };
}
