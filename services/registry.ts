import { join } from 'node:path';
import { spawnJava, waitForReady, type SpawnedService } from './child.js';
import { registryJar, serviceVersions } from './paths.js';
import { HOST } from './ports.js';

/** Apicurio Registry 3.x is built for Java 21 (class files version 65). */
export const REGISTRY_MIN_JAVA = 21;

/** The Confluent-compatible API; SCHEMA_REGISTRY_URL always means this base URL. */
export function ccompatUrl(port: number): string {
  return `http://${HOST}:${port}/apis/ccompat/v7`;
}

export interface RegistryStartOptions {
  java: string;
  port: number;
  /** Fresh folder for this registry: cwd and log (storage is in memory). */
  dir: string;
  env: NodeJS.ProcessEnv;
  detached: boolean;
  timeoutMs: number;
  /** Aborted when a sibling service failed: stop waiting and stop this one. */
  signal?: AbortSignal;
}

/** Starts Apicurio Registry with in-memory storage on loopback; resolves once its Confluent API answers. */
export async function startRegistry(options: RegistryStartOptions): Promise<SpawnedService> {
  const registry = spawnJava({
    name: 'registry',
    java: options.java,
    args: [
      '-Xmx512m',
      '-XX:+ExitOnOutOfMemoryError',
      `-Dquarkus.http.port=${options.port}`,
      `-Dquarkus.http.host=${HOST}`,
      // The management interface (health, metrics) is enabled at build time and would take
      // 0.0.0.0:9000, so two registries would collide: bind it to loopback on any free port.
      `-Dquarkus.management.host=${HOST}`,
      '-Dquarkus.management.port=0',
      // Every readiness poll and test request would otherwise add an access-log line.
      '-Dquarkus.http.access-log.enabled=false',
      `-Djava.io.tmpdir=${options.dir}`,
      '-jar',
      registryJar(),
    ],
    dir: options.dir,
    logFile: join(options.dir, 'registry.log'),
    env: options.env,
    detached: options.detached,
  });
  const url = ccompatUrl(options.port);
  await waitForReady(
    registry,
    `Apicurio Registry ${serviceVersions().apicurio} on ${url}`,
    () => registryAnswers(url),
    options.timeoutMs,
    options.signal,
  );
  return registry;
}

/** True when GET <base>/subjects answers 200, as every Confluent-compatible registry does. */
export async function registryAnswers(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl.replace(/\/+$/, '')}/subjects`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}
