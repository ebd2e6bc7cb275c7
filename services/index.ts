/**
 * The local service runner: a real Kafka broker (KRaft, single node) and a real Apicurio
 * Registry started as plain Java processes on loopback, for `metrics-pipeline services …`,
 * the demo and the integration tests. KAFKA_BROKERS / SCHEMA_REGISTRY_URL override either.
 */
export { fetchServiceJars, serviceJarsPresent, type FetchOptions } from './fetch.js';
export { serviceVersions } from './paths.js';
export { startServices } from './start.js';
export { recordedEndpoints, servicesDown, servicesStatus, servicesUp } from './up.js';
export type {
  RunningServices,
  ServiceEndpoints,
  ServiceStatus,
  StartOptions,
  StatusOptions,
  StopOptions,
} from './types.js';
