import type { Logger } from '../core/log.js';

/** How often the watch looks at the clock. */
const TICK_MS = 250;

/**
 * Warns when the event loop was blocked for `thresholdMs` or more: while it is, kafkajs sends no
 * heartbeats, and a block past the session timeout makes the group rebalance. Returns a stop
 * function. The timer does not keep the process alive.
 */
export function watchEventLoop(log: Logger, thresholdMs: number): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const blockedMs = Math.round(now - last - TICK_MS);
    last = now;
    if (blockedMs >= thresholdMs)
      log.warn({ blockedMs, thresholdMs }, 'event loop blocked: no heartbeats were sent meanwhile');
  }, TICK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
