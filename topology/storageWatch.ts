import { STORAGE_CONDITIONS } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { StorageHealth } from '../sinks/storageHealth.js';
import type { TopologyMetrics } from './metrics.js';

/**
 * Logs every pause and resume of the writes to ClickHouse and keeps `storage_paused` and
 * `storage_retries_total` up to date. While a write waits, so does the flush that made it, and
 * the fetch loop stops taking records once those in flight reach their limit (heartbeating
 * meanwhile): consumption is paused, and resumes by itself when the write goes through.
 * Returns what stops watching.
 */
export function watchStorage(health: StorageHealth, metrics: TopologyMetrics, log: Logger): () => void {
  return health.listen((event) => {
    if (event.kind === 'paused') {
      metrics.storageRetries.inc({ condition: event.condition });
      log.warn(
        {
          write: event.write,
          condition: event.condition,
          attempt: event.attempt,
          retryInMs: event.delayMs,
          error: event.error,
        },
        'ClickHouse cannot take writes now: consumption paused until it can',
      );
    } else {
      log.info(
        { write: event.write, attempts: event.attempts, pausedMs: event.pausedMs },
        'ClickHouse takes writes again: consumption resumed',
      );
    }
    const waiting = health.conditions();
    for (const condition of STORAGE_CONDITIONS)
      metrics.storagePaused.set({ condition }, waiting.has(condition) ? 1 : 0);
  });
}
