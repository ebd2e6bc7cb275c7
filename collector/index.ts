import type { Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import { Registry } from '../schemas/registry.js';
import { Forwarder } from './forwarder.js';
import { collectorMetrics } from './metrics.js';
import { startCollectorServer } from './server.js';

export interface Collector {
  url: string;
  forwarder: Forwarder;
  close(): Promise<void>;
}

/**
 * Starts the collector: HTTP in, Avro batches to the metrics topic out, with the write-ahead
 * log in between when Kafka cannot be reached. It starts (and accepts samples) even while
 * Kafka or the registry are down.
 */
export async function startCollector(options: { config: Config; log: Logger }): Promise<Collector> {
  const { config, log } = options;
  if (!config.schemaRegistry.url) {
    throw new ConfigError('no schema registry configured', {
      hint: 'set SCHEMA_REGISTRY_URL, or start local services with `metrics-pipeline services up`',
    });
  }
  // Few retries: while Kafka is unreachable, requests go to the write-ahead log instead of waiting.
  const kafka = createKafka(config.kafka.brokers, `${config.kafka.clientId}-collector`, log, 2);
  const forwarder = new Forwarder({
    kafka,
    registry: new Registry(config.schemaRegistry.url),
    topic: config.topics.metrics,
    partitions: config.topics.partitions,
    wal: config.collector.wal,
    log,
  });
  const metrics = collectorMetrics(() => forwarder);
  try {
    // Listening first: a port in use fails at once, before any Kafka round trip. Requests that
    // arrive before Kafka is reached go to the write-ahead log.
    const server = await startCollectorServer({ config, forwarder, metrics, log });
    await forwarder.start();
    log.info({ url: server.url, walBytes: forwarder.walBytes }, 'collector listening');
    return {
      url: server.url,
      forwarder,
      close: async () => {
        await server.close();
        await forwarder.close();
      },
    };
  } catch (error) {
    await forwarder.close();
    throw error;
  }
}
