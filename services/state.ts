import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isServiceAlive, PID_FILE } from './child.js';
import type { ServiceEndpoints } from './types.js';

/** One service started by `services up`, as recorded in state.json. */
export interface RecordedService {
  name: string;
  pid: number;
  /** Broker address or registry base URL. */
  url: string;
  dir: string;
  logFile: string;
}

/** runDir/state.json: what `services up` started, for `services status` and `services down`. */
export interface ServicesState {
  endpoints: ServiceEndpoints;
  services: RecordedService[];
  startedAt: string;
}

const STATE_FILE = 'state.json';

export async function readState(runDir: string): Promise<ServicesState | undefined> {
  let text: string;
  try {
    text = await readFile(join(runDir, STATE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as ServicesState;
    return Array.isArray(state.services) && state.endpoints ? state : undefined;
  } catch {
    // A state file cut short (disk full, killed mid-write) is as good as none.
    return undefined;
  }
}

export async function writeState(runDir: string, state: ServicesState): Promise<void> {
  await mkdir(runDir, { recursive: true });
  // Renamed into place so a reader never sees half a file.
  const partial = join(runDir, `${STATE_FILE}.${process.pid}`);
  await writeFile(partial, `${JSON.stringify(state, null, 2)}\n`);
  await rename(partial, join(runDir, STATE_FILE));
}

export async function removeState(runDir: string): Promise<void> {
  await rm(join(runDir, STATE_FILE), { force: true });
}

/** A fresh folder `<runDir>/<name>-XXXXXX` for one service start. */
export async function createServiceDir(runDir: string, name: string): Promise<string> {
  await mkdir(runDir, { recursive: true });
  return mkdtemp(join(runDir, `${name}-`));
}

/** Folders younger than this may belong to a start still formatting its storage. */
const STALE_AFTER_MS = 10 * 60_000;

/**
 * Removes service folders left behind by a Node process that was killed outright (SIGKILL
 * runs no cleanup): old enough, and their service pid is gone.
 */
export async function sweepStaleDirs(runDir: string): Promise<void> {
  const entries = await readdir(runDir).catch(() => [] as string[]);
  for (const entry of entries) {
    const name = /^(kafka|registry)-/.exec(entry)?.[1];
    if (!name) continue;
    const dir = join(runDir, entry);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory() || Date.now() - info.mtimeMs < STALE_AFTER_MS) continue;
    const pid = Number((await readFile(join(dir, PID_FILE), 'utf8').catch(() => '')).trim());
    if (pid > 0 && isServiceAlive(pid, name)) continue;
    await rm(dir, { recursive: true, force: true });
  }
}
