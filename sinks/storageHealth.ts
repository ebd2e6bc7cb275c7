import type { StorageCondition } from '../core/errors.js';
import { untilStored, type StoreRetryOptions } from '../core/retry.js';

/** What the writes to ClickHouse meet: a pause on a condition that passes, and the resume. */
export type StorageEvent =
  | {
      kind: 'paused';
      /** What was being written, e.g. `insert into samples`. */
      write: string;
      condition: StorageCondition;
      attempt: number;
      delayMs: number;
      error: string;
    }
  | { kind: 'resumed'; write: string; attempts: number; pausedMs: number };

/** A write that waits for a storage condition to pass. */
interface Waiting {
  write: string;
  condition: StorageCondition;
  error: string;
  since: number;
}

/**
 * Whether ClickHouse takes writes now, as the writes themselves find it. Every write goes
 * through `run`, which waits out storage conditions that pass (`untilStored`): while one does,
 * the writer, and the consumption behind it, is paused; `/readyz` and `/metrics` read the
 * pause here, and listeners (logs, metrics) hear of each pause and resume.
 */
export class StorageHealth {
  private readonly waiting = new Map<symbol, Waiting>();
  private readonly listeners = new Set<(event: StorageEvent) => void>();
  /** Aborted by `abandon`: writes no longer wait. */
  private readonly stopping = new AbortController();

  constructor(private readonly now: () => number = Date.now) {}

  /** True unless a write is waiting for a storage condition to pass. */
  get available(): boolean {
    return this.waiting.size === 0;
  }

  /** The conditions that writes wait for now. */
  conditions(): Set<StorageCondition> {
    return new Set([...this.waiting.values()].map((w) => w.condition));
  }

  /** Why writes are paused, in one line for `/readyz`; undefined while they are not. */
  problem(): string | undefined {
    let oldest: Waiting | undefined;
    for (const w of this.waiting.values()) if (oldest === undefined || w.since < oldest.since) oldest = w;
    if (oldest === undefined) return undefined;
    const seconds = Math.round((this.now() - oldest.since) / 1000);
    return `ClickHouse writes paused for ${seconds} s (${oldest.condition}: ${oldest.write}: ${oldest.error})`;
  }

  /**
   * Stops waiting (the process is asked to stop): a write waiting for storage fails now with
   * the error it met, and later ones are tried once. Their records are not committed, so the
   * next start reads them again.
   */
  abandon(): void {
    this.stopping.abort();
  }

  /** Calls `listener` on every pause and resume; returns what stops it. */
  listen(listener: (event: StorageEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs `task`, a write described by `write`, waiting out storage conditions (see `untilStored`). */
  async run<T>(
    write: string,
    task: (attempt: number) => Promise<T>,
    options: Pick<StoreRetryOptions, 'attempts' | 'retryIf' | 'initialDelayMs' | 'maxDelayMs'> = {},
  ): Promise<T> {
    const id = Symbol(write);
    try {
      return await untilStored(task, {
        ...options,
        signal: this.stopping.signal,
        onPause: (info) => {
          const since = this.waiting.get(id)?.since ?? this.now();
          this.waiting.set(id, { write, condition: info.condition, error: info.error, since });
          this.emit({ kind: 'paused', write, ...info });
        },
        onResume: (info) => {
          this.waiting.delete(id);
          this.emit({ kind: 'resumed', write, ...info });
        },
      });
    } finally {
      this.waiting.delete(id);
    }
  }

  private emit(event: StorageEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
