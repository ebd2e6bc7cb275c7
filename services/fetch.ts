import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceError } from '../core/errors.js';
import { kafkaLibsDir, pomPath, registryJar, serviceVersions, servicesDir } from './paths.js';

export interface FetchOptions {
  /** Progress lines for humans; default: stderr. */
  onProgress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** True when both the Kafka broker jars and the registry distribution are in .services/. */
export function serviceJarsPresent(): boolean {
  return existsSync(join(kafkaLibsDir(), `kafka_2.13-${serviceVersions().kafka}.jar`)) && existsSync(registryJar());
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
  const progress = options.onProgress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { kafka, apicurio } = serviceVersions();
  progress(`fetching Kafka ${kafka} and Apicurio Registry ${apicurio} with Maven into ${servicesDir} (first run only) …`);
  const started = Date.now();
  const args = ['-B', '-q', '-f', pomPath, `-Dservices.dir=${servicesDir}`, 'package'];
  const { code, output, error } = await run('mvn', args, options.env ?? process.env);
  if (error?.code === 'ENOENT') {
    throw new ServiceError('Maven (mvn) is not installed; it fetches the Kafka and registry jars', {
      hint: 'apt-get install maven (it needs a JDK: apt-get install openjdk-17-jdk-headless)',
    });
  }
  if (code !== 0 || !serviceJarsPresent()) {
    throw new ServiceError(`mvn could not fetch the service jars (${error?.message ?? `exit code ${code}`}):\n${lastLines(output, 20)}`, {
      retriable: true,
      hint: `check access to Maven Central, then run: mvn -B -f ${pomPath} package`,
    });
  }
  progress(`fetched the service jars in ${Math.round((Date.now() - started) / 1000)} s`);
}

interface RunResult {
  code: number | null;
  output: string;
  error?: NodeJS.ErrnoException;
}

/** Runs a command, keeping the tail of its output for the error message. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-32_768);
    };
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (error) => resolve({ code: null, output, error }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

function lastLines(text: string, count: number): string {
  return text.split('\n').filter(Boolean).slice(-count).join('\n');
}
