import { loadConfig, type Config, type ConfigInput } from '../core/config.js';
import { createLogger, type Logger } from '../core/log.js';
import { recordedEndpoints } from '../services/index.js';

export interface GlobalOptions {
  config?: string;
}

/**
 * The configuration of a command: file + environment + overrides, then, for Kafka and the
 * registry still missing, the local services started by `metrics-pipeline services up`.
 */
export async function commandConfig(global: GlobalOptions, overrides: ConfigInput = {}): Promise<Config> {
  const config = loadConfig(global.config ?? process.env.METRICS_PIPELINE_CONFIG, process.env, overrides);
  if (!config.kafka.brokers || !config.schemaRegistry.url) {
    const local = await recordedEndpoints();
    if (local) {
      config.kafka.brokers ??= local.brokers;
      config.schemaRegistry.url ??= local.registryUrl;
    }
  }
  return config;
}

export function commandLogger(name: string): Logger {
  return createLogger(name);
}

/** Parses a CLI number option with a precise error (commander passes strings). */
export function intOption(name: string, min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
}
