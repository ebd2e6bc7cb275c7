import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceError } from '../core/errors.js';
import { runCaptured } from './child.js';
import { kafkaLibsDir, pomPath, registryJar, serviceVersions, servicesDir } from './paths.js';
import { progressToStderr } from './progress.js';

export interface FetchOptions {
  /** Progress lines for humans; default: stderr. */
  onProgress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** True when both the Kafka broker jars and the registry distribution are in .services/. */
export function serviceJarsPresent(): boolean {
  return (
    existsSync(join(kafkaLibsDir(), `kafka_2.13-${serviceVersions().kafka}.jar`)) && existsSync(registryJar())
  );
}

/** Fetches the jars only when missing, so every start after the first is offline. */
export async function ensureServiceJars(options: FetchOptions = {}): Promise<void> {
  if (!serviceJarsPresent()) await fetchServiceJars(options);
}

/**
 * Resolves the Kafka broker and Apicurio Registry jars from Maven Central into .services/
 * with docker/pom.xml (`metrics-pipeline services fetch`; CI calls it to warm the cache).
 */
export async function fetchServiceJars(options: FetchOptions = {}): Promise<void> {
  const progress = options.onProgress ?? progressToStderr;
  const { kafka, apicurio } = serviceVersions();
  progress(`fetching Kafka ${kafka} and Apicurio Registry ${apicurio} jars with Maven into ${servicesDir} …`);
  const started = Date.now();
  const args = ['-B', '-q', '-Dstyle.color=never', '-f', pomPath, `-Dservices.dir=${servicesDir}`, 'package'];
  const { code, output, error } = await runCaptured('mvn', args, options.env ?? process.env);
  if (error?.code === 'ENOENT') {
    throw new ServiceError('Maven (mvn) is not installed; it fetches the Kafka and registry jars', {
      hint: 'apt-get install maven (it needs a JDK: apt-get install openjdk-17-jdk-headless)',
    });
  }
  if (code !== 0 || !serviceJarsPresent()) {
    throw new ServiceError(
      `mvn could not fetch the service jars (${error?.message ?? `exit code ${code}`}):\n${lastLines(output, 20)}`,
      {
        retriable: true,
        hint: `check access to Maven Central, then run: mvn -B -f ${pomPath} package`,
      },
    );
  }
  progress(`fetched the service jars in ${Math.round((Date.now() - started) / 1000)} s`);
}

function lastLines(text: string, count: number): string {
  return text.split('\n').filter(Boolean).slice(-count).join('\n');
}
