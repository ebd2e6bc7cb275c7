import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Forwarder } from './forwarder.js';
import { logExists, removeLog } from './wal.js';

const WORKER_DIR = /^worker-\d+$/;

/** The write-ahead log directory of worker `index` when the collector runs several. */
export function workerLogDir(dir: string, index: number): string {
  return join(dir, `worker-${index}`);
}

/**
 * Write-ahead logs under `dir` that a collector of `workers` workers does not write to: left
 * by a run with another worker count (`dir` itself is the log of a single process,
 * `dir/worker-<i>` those of workers). What they hold was acknowledged to clients, so it is
 * drained all the same (`drainLeftovers`).
 */
export function leftoverLogs(dir: string, workers: number): string[] {
  const own = new Set(
    workers === 1 ? [dir] : Array.from({ length: workers }, (_, i) => workerLogDir(dir, i)),
  );
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const candidates = [dir, ...names.filter((n) => WORKER_DIR.test(n)).map((n) => join(dir, n))];
  return candidates.filter((d) => !own.has(d) && logExists(d));
}

/**
 * Drains leftover logs into Kafka in the background, one forwarder each (made by `forwarder`,
 * retrying while Kafka is unreachable), and removes each once it is empty. `stop` ends the
 * draining; what is left stays for the next start.
 */
export function drainLeftovers(
  dirs: string[],
  forwarder: (dir: string) => Forwarder,
  log: Logger,
): { stop(): Promise<void> } {
  let stopping = false;
  let stopped = () => {};
  const whenStopped = new Promise<void>((resolve) => (stopped = resolve));
  const running = dirs.map((dir) => {
    const f = forwarder(dir);
    log.info(
      { dir, walBytes: f.walBytes },
      'draining the write-ahead log of a run with another worker count',
    );
    const done = (async () => {
      await f.start();
      await Promise.race([f.whenDrained(), whenStopped]);
      if (stopping) return;
      await f.close();
      removeLog(dir);
      log.info({ dir }, 'leftover write-ahead log drained and removed');
    })().catch((error: unknown) =>
      log.error({ dir, error: messageOf(error) }, 'cannot drain a leftover write-ahead log'),
    );
    return { f, done };
  });
  return {
    stop: async () => {
      stopping = true;
      stopped();
      await Promise.all(running.map(({ done }) => done));
      await Promise.all(running.map(({ f }) => f.close()));
    },
  };
}
