import type { MetricsClient } from './client.js';

export interface ExitSignalOptions {
  /** Bound of the final flush (default 5000). */
  timeoutMs?: number;
  /** Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
}

/**
 * Shuts `client` down when the process is asked to stop (SIGTERM, SIGINT) or runs out of work
 * (`beforeExit`). After a signal, the signal is raised again once our handler is gone, so
 * that the process ends as it would have without us — unless the application listens to the
 * signal too, in which case ending the process is its call. Returns a function that removes
 * the handlers.
 */
export function handleExitSignals(client: MetricsClient, options: ExitSignalOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const shutdown = { timeoutMs: options.timeoutMs ?? 5000 };
  const onSignal = (signal: NodeJS.Signals): void => {
    remove();
    void client.shutdown(shutdown).then(() => {
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  // Shutdown keeps the loop busy; once it is done, beforeExit comes again and finds no handler.
  const onBeforeExit = (): void => {
    remove();
    void client.shutdown(shutdown);
  };
  const remove = (): void => {
    for (const signal of signals) process.off(signal, onSignal);
    process.off('beforeExit', onBeforeExit);
  };
  for (const signal of signals) process.on(signal, onSignal);
  process.on('beforeExit', onBeforeExit);
  return remove;
}
