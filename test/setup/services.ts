import type { TestProject } from 'vitest/node';
import { startServices, type RunningServices } from '../../services/index.js';

/**
 * Vitest global setup: one real Kafka broker and one Apicurio Registry for the whole run
 * (or the ones KAFKA_BROKERS / SCHEMA_REGISTRY_URL point at), on free loopback ports;
 * TEST_SERVICES=docker runs them as containers instead. Test files get them through
 * `endpoints()` and, for code that reads its configuration from the environment, through
 * KAFKA_BROKERS / SCHEMA_REGISTRY_URL: the forked test workers are spawned after this runs
 * and inherit process.env.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const useContainers =
    process.env.TEST_SERVICES === 'docker' && !(process.env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL);
  const services: RunningServices = useContainers
    ? // Loaded only when asked for: testcontainers is heavy and needs a Docker engine.
      await (await import('./containers.js')).startContainers()
    : await startServices({ onProgress: (line) => process.stderr.write(`[services] ${line}\n`) });
  process.env.KAFKA_BROKERS = services.brokers.join(',');
  process.env.SCHEMA_REGISTRY_URL = services.registryUrl;
  project.provide('serviceEndpoints', { brokers: services.brokers, registryUrl: services.registryUrl });
  return () => services.stop();
}
