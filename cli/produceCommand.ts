import type { Config } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { createKafka } from '../core/kafka.js';
import { createLogger } from '../core/log.js';
import { produceSynthetic } from '../producer/produce.js';
import { Registry } from '../schemas/registry.js';

export interface ProduceFlags {
  series: number;
  samples: number;
  rate: number;
  batch: number;
  seed: number;
  interval: number;
  start?: number;
  topic?: string;
  keys: 'series' | 'round-robin';
}

export async function produceCommand(config: Config, flags: ProduceFlags): Promise<void> {
  const log = createLogger('produce');
  if (!config.schemaRegistry.url) {
    throw new ConfigError('no schema registry configured', {
      hint: 'set SCHEMA_REGISTRY_URL or run `metrics-pipeline services up`',
    });
  }
  const topic = flags.topic ?? config.topics.metrics;
  const result = await produceSynthetic({
    kafka: createKafka(config.kafka.brokers, config.kafka.clientId, log),
    registry: new Registry(config.schemaRegistry.url),
    topic,
    partitions: config.topics.partitions,
    series: flags.series,
    samples: flags.samples,
    rate: flags.rate,
    batch: flags.batch,
    seed: flags.seed,
    intervalMs: flags.interval,
    start: flags.start,
    keys: flags.keys,
    onProgress: (sent) =>
      process.stderr.write(`produced ${sent.samples}/${flags.samples} samples in ${sent.records} records\n`),
  });
  console.log(
    `produced ${result.samples} samples in ${result.records} records to ${topic} (schema id ${result.schemaId})`,
  );
}
