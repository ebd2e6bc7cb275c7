import type { TestProject } from 'vitest/node';
import { startServices } from '../../services/index.js';

/**
 * Vitest global setup: one real Kafka broker and one Apicurio Registry for the whole run
 * (or the ones KAFKA_BROKERS / SCHEMA_REGISTRY_URL point at), on free loopback ports.
 * Test files get them through `endpoints()` and, for code that reads its configuration from
 * the environment, through KAFKA_BROKERS / SCHEMA_REGISTRY_URL: the forked test workers are
 * spawned after this runs and inherit process.env.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await startServices({ onProgress: (line) => process.stderr.write(`[services] ${line}\n`) });
  process.env.KAFKA_BROKERS = services.brokers.join(',');
  process.env.SCHEMA_REGISTRY_URL = services.registryUrl;
  project.provide('serviceEndpoints', { brokers: services.brokers, registryUrl: services.registryUrl });
  return () => services.stop();
}
