import { isRetriable, messageOf } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Decides whether an error is worth another attempt; defaults to `isRetriable`. */
  retryIf?: (error: unknown) => boolean;
  /** Called before each new attempt, e.g. to log it. */
  onRetry?: (info: { attempt: number; delayMs: number; error: string }) => void;
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
      if (attempt >= attempts || !retryIf(error) || options.signal?.aborted) throw error;
      const delayMs = Math.round(Math.random() * Math.min(max, initial * 2 ** (attempt - 1)));
      options.onRetry?.({ attempt, delayMs, error: messageOf(error) });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
