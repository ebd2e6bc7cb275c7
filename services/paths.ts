import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceError } from '../core/errors.js';

/** The repository root: services/ sits directly under it, wherever the checkout lives. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The Maven pom that fetches the service jars; it is the one place their versions are set. */
export const pomPath = join(repoRoot, 'docker', 'pom.xml');

/** Git-ignored cache of the fetched jars (the pom's default `services.dir`). */
export const servicesDir = join(repoRoot, '.services');

/** Default folder for data, logs and state.json of the services started here. */
export const defaultRunDir = join(servicesDir, 'run');

export interface ServiceVersions {
  kafka: string;
  apicurio: string;
}

let versions: ServiceVersions | undefined;

/** Versions read from the pom's properties, so upgrading means editing one line there. */
export function serviceVersions(): ServiceVersions {
  if (versions) return versions;
  let pom: string;
  try {
    pom = readFileSync(pomPath, 'utf8');
  } catch (error) {
    throw new ServiceError(`cannot read ${pomPath}`, {
      cause: error,
      hint: 'run from a complete checkout of the repository',
    });
  }
  versions = { kafka: pomProperty(pom, 'kafka.version'), apicurio: pomProperty(pom, 'apicurio.version') };
  return versions;
}

function pomProperty(pom: string, name: string): string {
  const match = new RegExp(`<${name.replace('.', '\\.')}>\\s*([^<\\s]+)\\s*</`).exec(pom);
  if (!match?.[1]) throw new ServiceError(`property ${name} is missing from ${pomPath}`);
  return match[1];
}

/** Where the Kafka broker jars land: the classpath is `<dir>/*`. */
export function kafkaLibsDir(): string {
  return join(servicesDir, `kafka-${serviceVersions().kafka}`, 'libs');
}

/** The Quarkus launcher of the unpacked Apicurio Registry distribution. */
export function registryJar(): string {
  return join(servicesDir, `apicurio-registry-${serviceVersions().apicurio}`, 'quarkus-run.jar');
}
