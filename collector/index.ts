import type { Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import type { Logger } from '../core/log.js';
import { Registry } from '../schemas/registry.js';
import { Forwarder } from './forwarder.js';
import { drainLeftovers } from './leftovers.js';
import { collectorMetrics, type CollectorMetrics } from './metrics.js';
import { startCollectorServer } from './server.js';
import type { TenantConfig, TenantLimits } from './tenants.js';
import type { WalOptions } from './wal.js';

export interface Collector {
  url: string;
  forwarder: Forwarder;
  metrics: CollectorMetrics;
  close(): Promise<void>;
}

export interface CollectorOptions {
  config: Config;
  log: Logger;
  /** The limits of each configured tenant (default: kept in this process). */
  tenantLimits?: (tenant: TenantConfig) => TenantLimits;
  /** What `/metrics` serves (default: this process's metrics). */
  metricsText?: () => Promise<string>;
  /** Write-ahead logs of runs with another worker count, to drain besides this one's (see leftovers.ts). */
  leftovers?: string[];
}

/**
 * Starts the collector: HTTP in, Avro batches to the metrics topic out, with the write-ahead
 * log in between when Kafka cannot be reached. It starts (and accepts samples) even while
 * Kafka or the registry are down. One process of it; cluster.ts runs several.
 */
export async function startCollector(options: CollectorOptions): Promise<Collector> {
  const { config, log } = options;
  if (!config.schemaRegistry.url) {
    throw new ConfigError('no schema registry configured', {
      hint: 'set SCHEMA_REGISTRY_URL, or start local services with `metrics-pipeline services up`',
    });
  }
  // Few retries: while Kafka is unreachable, requests go to the write-ahead log instead of waiting.
  const kafka = createKafka(config.kafka.brokers, `${config.kafka.clientId}-collector`, log, 2);
  const registry = new Registry(config.schemaRegistry.url);
  const forwarderOf = (wal: WalOptions) =>
    new Forwarder({
      kafka,
      registry,
      topic: config.topics.metrics,
      partitions: config.topics.partitions,
      wal,
      log,
    });
  const forwarder = forwarderOf(config.collector.wal);
  const metrics = collectorMetrics(() => forwarder);
  try {
    // Listening first: a port in use fails at once, before any Kafka round trip. Requests that
    // arrive before Kafka is reached go to the write-ahead log.
    const server = await startCollectorServer({
      config,
      forwarder,
      metrics,
      log,
      tenantLimits: options.tenantLimits,
      metricsText: options.metricsText,
    });
    await forwarder.start();
    const leftovers = drainLeftovers(
      options.leftovers ?? [],
      (dir) => forwarderOf({ ...config.collector.wal, dir }),
      log,
    );
    log.info({ url: server.url, walBytes: forwarder.walBytes }, 'collector listening');
    return {
      url: server.url,
      forwarder,
      metrics,
      close: async () => {
        await server.close();
        await leftovers.stop();
        await forwarder.close();
      },
    };
  } catch (error) {
    await forwarder.close();
    throw error;
  }
}
