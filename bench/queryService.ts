import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Config } from '../core/config.js';
import { ServiceError } from '../core/errors.js';
import { NODE_FLAGS } from '../core/runtime.js';
import { freePort, HOST } from '../services/ports.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import { childEnv } from './workspace.js';

const BIN = fileURLToPath(new URL('../bin/metrics-pipeline.js', import.meta.url));

export interface RunningQueryService {
  url: string;
  /** Stops and starts the process: it is still computing a query the bench gave up on. */
  restart(): Promise<void>;
  /** Starts the process again if it exited (a crash is a finding, not the end of the bench). */
  restartIfGone(): Promise<void>;
  /** Exits of the process the bench did not ask for. */
  crashes: number;
  stop(): Promise<void>;
  /** With `cpuProf`: the largest profile of the processes (each restart writes one), summarized. */
  profile(): ProfileSummary | null;
}

/**
 * `metrics-pipeline query` as its own process over the seeded embedded ClickHouse, exactly as a
 * user starts it, on a free loopback port chosen once (a restart keeps the address).
 */
export async function startQueryService(
  config: Config,
  dir: string,
  options: { cpuProf: boolean },
): Promise<RunningQueryService> {
  const port = await freePort();
  const configFile = join(dir, 'query.yaml');
  // The service's other settings keep their defaults (results cache, limits): as a user starts it.
  // The service follows the tier topics for corrected windows (and drops cached chunks they
  // touch) whenever a Kafka is known; nothing corrects a seeded store, so it follows topics of
  // its own that nothing writes, not the defaults other processes on this Kafka may use.
  const tiers = config.tiers.map((tier) => ({ ...tier, topic: `bench-query-${tier.name}` }));
  writeFileSync(configFile, stringify({ ...config, tiers, query: { host: HOST, port } }));
  const url = `http://${HOST}:${port}`;
  const profileDir = join(dir, 'prof');
  const log = createWriteStream(join(dir, 'query-service.log'), { flags: 'a' });
  let current: { child: ChildProcess; exited: Promise<void> } | undefined;

  const start = async () => {
    const nodeArgs = options.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
    const env = childEnv();
    // The seeded store is always the embedded one in the config file.
    delete env.CLICKHOUSE_URL;
    const child = spawn(
      process.execPath,
      [...NODE_FLAGS, ...nodeArgs, BIN, '--config', configFile, 'query'],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    current = { child, exited };
    await waitAnswering(url, exited, join(dir, 'query-service.log'));
  };
  const stop = async () => {
    if (!current) return;
    const { child, exited } = current;
    current = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  await start();
  const service: RunningQueryService = {
    url,
    crashes: 0,
    restart: async () => {
      await stop();
      await start();
    },
    restartIfGone: async () => {
      if (!current) return;
      // A dropped connection comes before the exit event of a crashing process: give it a moment.
      const gone = await Promise.race([
        current.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
      ]);
      if (!gone) return;
      service.crashes += 1;
      current = undefined;
      await start();
    },
    stop,
    profile: () => (options.cpuProf ? (summarizeProfile(profileDir) ?? null) : null),
  };
  return service;
}

/** Returns once the API answers (the service logs no contract line to wait for). */
async function waitAnswering(url: string, exited: Promise<void>, logFile: string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (gone) throw new ServiceError(`the query service exited before answering; see ${logFile}`);
    const ok = await fetch(`${url}/api/v1/status/buildinfo`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ServiceError(`the query service did not answer within 60 s; see ${logFile}`);
}
