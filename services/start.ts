import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { SpawnedService } from './child.js';
import { ensureServiceJars } from './fetch.js';
import { findJava } from './java.js';
import { startKafka } from './kafka.js';
import { defaultRunDir, serviceVersions } from './paths.js';
import { choosePort, HOST } from './ports.js';
import { ccompatUrl, REGISTRY_MIN_JAVA, startRegistry } from './registry.js';
import { createServiceDir, removeState, sweepStaleDirs, writeState } from './state.js';
import type { RunningServices, StartOptions } from './types.js';
import { progressToStderr } from './progress.js';

const KAFKA_MIN_JAVA = 17;
const KAFKA_READY_TIMEOUT_MS = 60_000;
const REGISTRY_READY_TIMEOUT_MS = 90_000;

/** One service to launch into its own fresh folder; resolves once it is ready. */
interface Launch {
  name: string;
  announce: string;
  ready: (seconds: string) => string;
  start: (dir: string, signal: AbortSignal) => Promise<SpawnedService>;
}

/**
 * Endpoints for the pipeline: KAFKA_BROKERS and SCHEMA_REGISTRY_URL when set, and a local
 * Kafka broker and Apicurio Registry started on loopback for whatever is missing (jars are
 * fetched first if absent). If one service fails to come up, the other is stopped again.
 */
export async function startServices(options: StartOptions = {}): Promise<RunningServices> {
  const env = options.env ?? process.env;
  const progress = options.onProgress ?? progressToStderr;
  const runDir = resolve(options.runDir ?? defaultRunDir);
  const detached = options.detached ?? false;
  const envBrokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const envRegistry = env.SCHEMA_REGISTRY_URL?.trim().replace(/\/+$/, '') || undefined;
  if (envBrokers.length > 0) progress(`using Kafka at ${envBrokers.join(',')} (KAFKA_BROKERS)`);
  if (envRegistry) progress(`using the schema registry at ${envRegistry} (SCHEMA_REGISTRY_URL)`);
  if (envBrokers.length > 0 && envRegistry)
    return { brokers: envBrokers, registryUrl: envRegistry, started: [], stop: async () => {} };

  // Everything that can fail cheaply (ports, Java) is checked before anything starts.
  const { kafka: kafkaVersion, apicurio: registryVersion } = serviceVersions();
  const launches: Launch[] = [];
  const taken: number[] = [];
  let brokers = envBrokers;
  let registryUrl = envRegistry ?? '';
  if (envBrokers.length === 0) {
    const port = await distinctPort(options.kafkaPort, '--kafka-port', taken);
    const controllerPort = await distinctPort(undefined, '', taken);
    const java = await findJava(KAFKA_MIN_JAVA, `Kafka ${kafkaVersion}`, env);
    const address = `${HOST}:${port}`;
    brokers = [address];
    launches.push({
      name: 'kafka',
      announce: `starting Kafka ${kafkaVersion} on ${address} (Java ${java.major}) …`,
      ready: (seconds) => `Kafka ready on ${address} in ${seconds} s`,
      start: (dir, signal) =>
        startKafka({
          java: java.bin,
          port,
          controllerPort,
          dir,
          env,
          detached,
          timeoutMs: KAFKA_READY_TIMEOUT_MS,
          signal,
        }),
    });
  }
  if (!envRegistry) {
    const port = await distinctPort(options.registryPort, '--registry-port', taken);
    const java = await findJava(REGISTRY_MIN_JAVA, `Apicurio Registry ${registryVersion}`, env);
    registryUrl = ccompatUrl(port);
    const url = registryUrl;
    launches.push({
      name: 'registry',
      announce: `starting Apicurio Registry ${registryVersion} on ${url} (Java ${java.major}) …`,
      ready: (seconds) => `Apicurio Registry ready on ${url} in ${seconds} s`,
      start: (dir, signal) =>
        startRegistry({
          java: java.bin,
          port,
          dir,
          env,
          detached,
          timeoutMs: REGISTRY_READY_TIMEOUT_MS,
          signal,
        }),
    });
  }
  await ensureServiceJars({ onProgress: progress, env });
  await sweepStaleDirs(runDir);

  const services = await launchAll(runDir, launches, progress);
  if (detached) {
    await writeState(runDir, {
      endpoints: { brokers, registryUrl },
      services: services.map((s) => ({
        name: s.name,
        pid: s.pid,
        url: s.name === 'kafka' ? brokers.join(',') : registryUrl,
        dir: s.dir,
        logFile: s.logFile,
      })),
      startedAt: new Date().toISOString(),
    });
    // Recorded, so `services down` can find them: from now on they outlive this process.
    for (const service of services) service.release();
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(services.map((s) => s.stop({ removeDir: true })));
      if (detached) await removeState(runDir);
    })();
    return stopping;
  };
  return { brokers, registryUrl, started: services.map((s) => s.name), stop };
}

/**
 * Starts the services in parallel. The first failure cancels the others (they stop rather
 * than run on to readiness), every folder is removed, and that first failure is thrown.
 */
async function launchAll(
  runDir: string,
  launches: Launch[],
  progress: (line: string) => void,
): Promise<SpawnedService[]> {
  const cancel = new AbortController();
  const dirs: string[] = [];
  const results = await Promise.allSettled(
    launches.map(async (launch) => {
      const dir = await createServiceDir(runDir, launch.name);
      dirs.push(dir);
      progress(launch.announce);
      const started = Date.now();
      try {
        const service = await launch.start(dir, cancel.signal);
        progress(launch.ready(((Date.now() - started) / 1000).toFixed(1)));
        return service;
      } catch (error) {
        if (!cancel.signal.aborted) cancel.abort(error);
        throw error;
      }
    }),
  );
  const services = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (cancel.signal.aborted) {
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    throw cancel.signal.reason;
  }
  return services;
}

/** A user's port (checked) or a free one, distinct from the ports this start already took. */
async function distinctPort(requested: number | undefined, flag: string, taken: number[]): Promise<number> {
  if (requested !== undefined && taken.includes(requested)) {
    throw new ConfigError(`port ${requested} is asked for twice; give ${flag} a port of its own`);
  }
  for (;;) {
    // The OS may hand out the same free port twice in a row, since nothing binds it in between.
    const port = await choosePort(requested, flag);
    if (!taken.includes(port)) {
      taken.push(port);
      return port;
    }
  }
}
