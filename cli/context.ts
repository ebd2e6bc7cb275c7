import { loadConfig, type Config, type ConfigInput } from '../core/config.js';
import { notifierConfig } from '../notifier/config.js';
import { recordedEndpoints, startServices, type RunningServices } from '../services/index.js';

export interface GlobalOptions {
  config?: string;
}

/**
 * The configuration of a command: file + environment + overrides, then, for Kafka and the
 * registry still missing, the local services started by `metrics-pipeline services up`.
 */
export async function commandConfig(global: GlobalOptions, overrides: ConfigInput = {}): Promise<Config> {
  const config = loadConfig(global.config ?? process.env.METRICS_PIPELINE_CONFIG, process.env, overrides);
  // A bad notifier section fails every command at start, as the rest of the file does.
  notifierConfig(config);
  if (!config.kafka.brokers || !config.schemaRegistry.url) {
    const local = await recordedEndpoints();
    if (local) {
      config.kafka.brokers ??= local.brokers;
      config.schemaRegistry.url ??= local.registryUrl;
    }
  }
  return config;
}

/**
 * The command's configuration, with Kafka and the registry started here (and stopped by the
 * caller through `services.stop()`) when nothing configures them.
 */
export async function configWithServices(
  global: GlobalOptions,
  say: (line: string) => void,
): Promise<{ config: Config; services: RunningServices | undefined }> {
  const config = await commandConfig(global);
  if (config.kafka.brokers && config.schemaRegistry.url) return { config, services: undefined };
  say('starting local Kafka and schema registry (first run fetches their jars with Maven)…');
  const services = await startServices({ onProgress: say });
  return {
    config: await commandConfig(global, {
      kafka: { brokers: services.brokers },
      schemaRegistry: { url: services.registryUrl },
    }),
    services,
  };
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
