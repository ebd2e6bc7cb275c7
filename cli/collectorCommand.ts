import { startCollector } from '../collector/index.js';
import type { Config } from '../core/config.js';
import { createLogger } from '../core/log.js';

/** Runs the collector until SIGINT/SIGTERM; the write-ahead log keeps what Kafka has not taken yet. */
export async function collectorCommand(config: Config): Promise<void> {
  const log = createLogger('collector');
  const collector = await startCollector({ config, log });
  console.log(`collector listening on ${collector.url}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await collector.close();
  const left = collector.forwarder.walBytes;
  if (left > 0)
    log.warn({ walBytes: left }, 'stopped with samples in the write-ahead log; the next start drains them');
}
