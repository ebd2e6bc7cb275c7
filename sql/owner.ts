import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The embedded engine admits one process per data folder. The process that holds it writes
 * this file with the address of its admin server, so that `metrics-pipeline sql` can send the
 * query there instead of opening the folder itself.
 */
const FILE = 'metrics-pipeline.owner.json';

export interface Owner {
  pid: number;
  url: string;
}

export function writeOwner(dataPath: string, owner: Owner): void {
  writeFileSync(join(dataPath, FILE), JSON.stringify(owner));
}

export function clearOwner(dataPath: string): void {
  rmSync(join(dataPath, FILE), { force: true });
}

/** The live owner of the folder, if any (a stale file of a dead process is ignored). */
export function readOwner(dataPath: string): Owner | undefined {
  let owner: Owner;
  try {
    owner = JSON.parse(readFileSync(join(dataPath, FILE), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
  try {
    process.kill(owner.pid, 0);
    return owner;
  } catch {
    return undefined;
  }
}
