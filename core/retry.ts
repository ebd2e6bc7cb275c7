import { isRetriable, messageOf, storageCondition, type StorageCondition } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Decides whether an error is worth another attempt (`attempt`: the one that failed); defaults to `isRetriable`. */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** Called before each new attempt, e.g. to log it. */
  onRetry?: (info: { attempt: number; delayMs: number; error: string }) => void;
  /** Once aborted, no further attempt: the last failure is thrown (also in the middle of a pause). */
  signal?: AbortSignal;
}

/**
 * Runs `task` until it succeeds, retrying retriable failures with exponential backoff and
 * full jitter. The one retry helper of the project: sinks, producers and services use it.
 */
export async function withRetry<T>(
  task: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 8;
  const initial = options.initialDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const retryIf = options.retryIf ?? isRetriable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      if (attempt >= attempts || !retryIf(error, attempt) || options.signal?.aborted) throw error;
      const delayMs = Math.round(Math.random() * Math.min(max, initial * 2 ** (attempt - 1)));
      options.onRetry?.({ attempt, delayMs, error: messageOf(error) });
      await pause(delayMs, options.signal);
      if (options.signal?.aborted) throw error;
    }
  }
}

/** Waits `ms`, or less if `signal` aborts meanwhile. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface StoreRetryOptions {
  /** Attempts in all for errors other than storage conditions (default 8). */
  attempts?: number;
  /** Which other errors are worth those attempts; defaults to `isRetriable`. */
  retryIf?: (error: unknown) => boolean;
  initialDelayMs?: number;
  /** Longest pause between two attempts while a storage condition lasts (default 30 s). */
  maxDelayMs?: number;
  /** Called before each new attempt while a storage condition lasts: writes are paused. */
  onPause?: (info: { condition: StorageCondition; attempt: number; delayMs: number; error: string }) => void;
  /** Called once the write succeeds after a pause. */
  onResume?: (info: { attempts: number; pausedMs: number }) => void;
  signal?: AbortSignal;
}

/**
 * Runs a write to storage (or a read the writes need). While it fails on a storage condition
 * that passes (`storageCondition`: a full disk, too many parts, a server down), it waits and
 * tries again with backoff, however long the condition lasts: the caller, and the consumption
 * behind it, is paused meanwhile and resumes by itself. Other errors get `attempts` as
 * `withRetry` gives them.
 */
export async function untilStored<T>(
  task: (attempt: number) => Promise<T>,
  options: StoreRetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 8;
  const retryOthers = options.retryIf ?? isRetriable;
  // The condition of the last failure, if it was one; failures of other kinds so far.
  let condition: StorageCondition | undefined;
  let others = 0;
  let pausedAt: number | undefined;
  let pauses = 0;
  const result = await withRetry(
    async (attempt) => {
      try {
        return await task(attempt);
      } catch (error) {
        condition = storageCondition(error);
        if (condition === undefined) others += 1;
        throw error;
      }
    },
    {
      attempts: Number.POSITIVE_INFINITY,
      initialDelayMs: options.initialDelayMs ?? 100,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      retryIf: (error) => condition !== undefined || (others < attempts && retryOthers(error)),
      onRetry: ({ attempt, delayMs, error }) => {
        if (condition === undefined) return;
        pausedAt ??= performance.now();
        pauses += 1;
        options.onPause?.({ condition, attempt, delayMs, error });
      },
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  if (pausedAt !== undefined)
    options.onResume?.({ attempts: pauses + 1, pausedMs: Math.round(performance.now() - pausedAt) });
  return result;
}
