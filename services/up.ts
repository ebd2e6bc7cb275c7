import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isServiceAlive, stopPid } from './child.js';
import { canListTopics } from './kafka.js';
import { defaultRunDir } from './paths.js';
import { registryAnswers } from './registry.js';
import { startServices } from './start.js';
import { readState, removeState, type ServicesState } from './state.js';
import type { ServiceEndpoints, ServiceStatus, StartOptions, StatusOptions, StopOptions } from './types.js';
import { progressToStderr } from './progress.js';

/**
 * `services up`: starts Kafka and the registry detached, so they outlive this command, and
 * records them in runDir/state.json. When they are already up, reports and returns them.
 */
export async function servicesUp(options: StartOptions = {}): Promise<ServiceEndpoints> {
  const runDir = resolve(options.runDir ?? defaultRunDir);
  const progress = options.onProgress ?? progressToStderr;
  const state = await readState(runDir);
  if (state && allAlive(state)) {
    progress(`already up: ${state.services.map((s) => `${s.name} ${s.url} (pid ${s.pid})`).join(', ')}`);
    return state.endpoints;
  }
  if (state) {
    // Part of a previous start died (or the machine rebooted): clear it and start afresh.
    progress('a previous start is only partly alive; stopping what is left');
    await stopRecorded(runDir, state, progress);
  }
  const running = await startServices({ ...options, runDir, onProgress: progress, detached: true });
  return { brokers: running.brokers, registryUrl: running.registryUrl };
}

/** `services down`: stops what state.json lists, removes their folders and the state. */
export async function servicesDown(options: StopOptions = {}): Promise<void> {
  const runDir = resolve(options.runDir ?? defaultRunDir);
  const progress = options.onProgress ?? progressToStderr;
  const state = await readState(runDir);
  if (!state) {
    progress('no local services are recorded as running');
    return;
  }
  await stopRecorded(runDir, state, progress);
}

/**
 * `services status`: each service `services up` recorded (pid, liveness, endpoint answering),
 * then any endpoint configured by KAFKA_BROKERS / SCHEMA_REGISTRY_URL instead. Empty when
 * nothing is recorded or configured.
 */
export async function servicesStatus(options: StatusOptions = {}): Promise<ServiceStatus[]> {
  const runDir = resolve(options.runDir ?? defaultRunDir);
  const env = options.env ?? process.env;
  const state = await readState(runDir);
  const statuses: ServiceStatus[] = [];
  for (const service of state?.services ?? []) {
    const up = isServiceAlive(service.pid, service.name) && (await answers(service.name, service.url));
    statuses.push({ name: service.name, url: service.url, pid: service.pid, up });
  }
  const recorded = new Set(statuses.map((s) => s.name));
  const configured: Array<[string, string | undefined]> = [
    ['kafka', env.KAFKA_BROKERS?.trim()],
    ['registry', env.SCHEMA_REGISTRY_URL?.trim()],
  ];
  for (const [name, url] of configured) {
    if (!url || recorded.has(name)) continue;
    statuses.push({ name, url, up: await answers(name, url) });
  }
  return statuses;
}

/** The endpoints of services recorded by `services up`, when all of them are still alive. */
export async function recordedEndpoints(
  runDir: string = defaultRunDir,
): Promise<ServiceEndpoints | undefined> {
  const state = await readState(resolve(runDir));
  return state && allAlive(state) ? state.endpoints : undefined;
}

function allAlive(state: ServicesState): boolean {
  return state.services.every((s) => isServiceAlive(s.pid, s.name));
}

async function answers(name: string, url: string): Promise<boolean> {
  if (name !== 'kafka') return registryAnswers(url);
  const first = url.split(',')[0]?.trim();
  return first ? canListTopics(first) : false;
}

async function stopRecorded(
  runDir: string,
  state: ServicesState,
  progress: (line: string) => void,
): Promise<void> {
  await Promise.all(
    state.services.map(async (service) => {
      const alive = isServiceAlive(service.pid, service.name);
      await stopPid(service.pid, service.name);
      await rm(service.dir, { recursive: true, force: true });
      progress(
        alive
          ? `stopped ${service.name} (pid ${service.pid})`
          : `${service.name} (pid ${service.pid}) was not running`,
      );
    }),
  );
  await removeState(runDir);
}
