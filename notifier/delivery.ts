import { parseDuration } from '../alerts/duration.js';
import type { Logger } from '../core/log.js';
import { withRetry } from '../core/retry.js';
import type { NotifierConfig } from './config.js';
import type { Deliver } from './dispatcher.js';
import { DeliveryError } from './integrations/http.js';
import type { Integration } from './integrations/index.js';
import type { NotifierMetrics } from './metrics.js';

/**
 * Delivery through an integration: up to `delivery.attempts` attempts with exponential backoff and
 * full jitter (core/retry.ts), each bounded by `delivery.timeout`. When the notifier stops
 * (`signal` aborted), an attempt in progress is left to finish (cutting it off could make the
 * receiver get it twice), but no further attempt starts.
 */
export function deliverWithRetries(
  settings: NotifierConfig,
  integrations: readonly Integration[],
  metrics: () => NotifierMetrics,
  log: Logger,
): Deliver {
  const byId = new Map(integrations.map((i) => [i.id, i]));
  const timeoutMs = parseDuration(settings.delivery.timeout);
  const initialDelayMs = parseDuration(settings.delivery.initial_backoff);
  const maxDelayMs = parseDuration(settings.delivery.max_backoff);
  return (target, notification, signal) =>
    new Promise<void>((resolve, reject) => {
      const integration = byId.get(target.id) as Integration;
      const labels = { receiver: target.receiver, integration: target.integration };
      const timer = metrics().latency.startTimer(labels);
      let attempt: Promise<void> | undefined;
      // Stopped while waiting between attempts: give up now rather than after the backoff.
      const onAbort = () => {
        if (!attempt) reject(new DeliveryError(`${target.id}: stopped before the next attempt`));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      withRetry(
        async () => {
          signal.throwIfAborted();
          attempt = integration.send(notification, AbortSignal.timeout(timeoutMs));
          try {
            await attempt;
          } finally {
            attempt = undefined;
          }
        },
        {
          attempts: settings.delivery.attempts,
          initialDelayMs,
          maxDelayMs,
          signal,
          onRetry: (info) => {
            metrics().retries.inc(labels);
            log.warn({ integration: target.id, ...info }, 'notification attempt failed, retrying');
          },
        },
      )
        .then(() => {
          timer();
          resolve();
        }, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
}
