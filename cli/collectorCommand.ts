import { isCollectorWorker, runCollectorWorker, startCollectorCluster } from '../collector/cluster.js';
import { startCollector } from '../collector/index.js';
import { leftoverLogs } from '../collector/leftovers.js';
import type { Config } from '../core/config.js';
import { createLogger } from '../core/log.js';

/**
 * Runs the collector until SIGINT/SIGTERM: one process, or `collector.workers` processes
 * (collector/cluster.ts). The write-ahead log keeps what Kafka has not taken yet.
 */
export async function collectorCommand(config: Config): Promise<void> {
  const log = createLogger('collector');
  if (isCollectorWorker()) return runCollectorWorker(config, log);
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  if (config.collector.workers > 1) {
    const collectors = await startCollectorCluster(config, log);
    console.log(`collector listening on ${collectors.url} (${config.collector.workers} workers)`);
    await stopped;
    await collectors.close();
    return;
  }
  const collector = await startCollector({
    config,
    log,
    leftovers: leftoverLogs(config.collector.wal.dir, 1),
  });
  console.log(`collector listening on ${collector.url}`);
  await stopped;
  await collector.close();
  const left = collector.forwarder.walBytes;
  if (left > 0)
    log.warn({ walBytes: left }, 'stopped with samples in the write-ahead log; the next start drains them');
}
