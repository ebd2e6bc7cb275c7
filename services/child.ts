import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError } from '../core/errors.js';

/** System property put on every Java command line we start, so a pid can be recognised as ours. */
export const MARKER = 'metrics.pipeline.service';

export interface SpawnedService {
  name: string;
  pid: number;
  /** The service's own folder (cwd, config, data, log); removed by `stop` when `removeDir`. */
  dir: string;
  logFile: string;
  /** Settles when the process exits; carries its exit code or signal. */
  exited: Promise<string>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after GRACE_MS; removes `dir` when asked. Idempotent. */
  stop(options?: { removeDir?: boolean }): Promise<void>;
  /** Lets a detached service outlive this process: until called, it is killed when we exit. */
  release(): void;
}

export interface SpawnJavaOptions {
  name: string;
  java: string;
  args: string[];
  dir: string;
  logFile: string;
  env: NodeJS.ProcessEnv;
  /** Run in its own session, so it can outlive this Node process once released. */
  detached: boolean;
}

/** Name of the file holding the pid inside a service's folder. */
export const PID_FILE = 'pid';

/** How long a service gets to shut down cleanly before SIGKILL. */
const GRACE_MS = 15_000;

/**
 * Starts a Java service with stdout and stderr appended to its log file (a file, not a pipe,
 * so a chatty service never blocks on a full pipe and keeps logging after we exit).
 */
export function spawnJava(options: SpawnJavaOptions): SpawnedService {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.java, [`-D${MARKER}=${options.name}`, ...options.args], {
      cwd: options.dir,
      env: options.env,
      stdio: ['ignore', fd, fd],
      detached: options.detached,
    });
  } finally {
    closeSync(fd);
  }
  let exitedFlag = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      exitedFlag = true;
      resolve(`could not be started: ${error.message}`);
    });
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve(signal ? `killed by ${signal}` : `exit code ${code}`);
    });
  });
  const pid = child.pid ?? -1;
  // Lets a later start recognise this folder as abandoned once the pid is gone (see sweepStaleDirs).
  if (pid > 0) writeFileSync(join(options.dir, PID_FILE), `${pid}\n`);
  if (options.detached) child.unref();
  // Even a detached service dies with us until released: one that never became ready (or
  // was never recorded in state.json) would otherwise be an orphan nobody knows about.
  if (pid > 0) trackForExit(pid, options.dir);

  let stopping: Promise<void> | undefined;
  const stop = (stopOptions: { removeDir?: boolean } = {}): Promise<void> => {
    stopping ??= (async () => {
      if (!exitedFlag && pid > 0) {
        sendSignal(pid, 'SIGTERM');
        const timer = setTimeout(() => sendSignal(pid, 'SIGKILL'), GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      untrack(pid);
      if (stopOptions.removeDir) rmSync(options.dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  const release = (): void => untrack(pid);
  return {
    name: options.name,
    pid,
    dir: options.dir,
    logFile: options.logFile,
    exited,
    hasExited: () => exitedFlag,
    stop,
    release,
  };
}

function sendSignal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone: nothing to stop.
  }
}

/**
 * True when `pid` is a live process started by this runner for `name`. Reading the command
 * line guards against a recycled pid after a reboot; where /proc is missing, the pid alone counts.
 */
export function isServiceAlive(pid: number, name: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: it exists but belongs to another user, so it is not ours.
    return false;
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  // A zombie has exited and only awaits its parent's wait(); it no longer serves anything.
  if (/\) Z /.test(stat)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`-D${MARKER}=${name}`);
  } catch {
    return false;
  }
}

/** Stops a service known only by its pid (one started by `services up` in another process). */
export async function stopPid(pid: number, name: string): Promise<void> {
  if (!isServiceAlive(pid, name)) return;
  sendSignal(pid, 'SIGTERM');
  const deadline = Date.now() + GRACE_MS;
  while (isServiceAlive(pid, name)) {
    if (Date.now() > deadline) {
      sendSignal(pid, 'SIGKILL');
      await sleep(200);
      return;
    }
    await sleep(100);
  }
}

export interface CapturedRun {
  code: number | null;
  /** The last 32 KiB of stdout and stderr together. */
  output: string;
  /** Set when the command could not be started at all (ENOENT: not installed). */
  error?: NodeJS.ErrnoException;
}

/** Runs a short-lived command to completion, keeping the tail of its output for error messages. */
export function runCaptured(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<CapturedRun> {
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last lines of a service log, for error messages. */
export async function logTail(logFile: string, lines = 20): Promise<string> {
  try {
    const handle = await open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16_384);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `probe` until it succeeds. When the service dies or `timeoutMs` passes first, stops
 * it and throws a ServiceError ending with the tail of its log, which usually says why.
 */
export async function waitForReady(
  service: SpawnedService,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (signal?.aborted) {
      await service.stop();
      throw new ServiceError(`${what}: start cancelled`, { cause: signal.reason });
    }
    let failure: string | undefined;
    if (service.hasExited()) failure = `${what} stopped before it was ready (${await service.exited})`;
    else if (Date.now() > deadline) failure = `${what} was not ready after ${Math.round(timeoutMs / 1000)} s`;
    if (failure) {
      await service.stop();
      const tail = await logTail(service.logFile);
      throw new ServiceError(`${failure}; last lines of ${service.logFile}:\n${tail}`, {
        hint: 'the log lines above usually say why; a slow machine may just need another try',
      });
    }
    await sleep(250);
  }
}

// Children of this process that must not outlive it, with the temp dirs to remove.
const tracked = new Map<number, string>();
let hooked = false;

function trackForExit(pid: number, dir: string): void {
  tracked.set(pid, dir);
  if (hooked) return;
  hooked = true;
  process.on('exit', killTracked);
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killTracked();
      // Our listener replaced Node's default "exit on signal": restore it when nobody else handles the signal.
      if (process.listenerCount(name) === 1) {
        process.removeListener(name, onSignal);
        process.kill(process.pid, name);
      }
    };
    process.on(name, onSignal);
  }
}

function untrack(pid: number): void {
  tracked.delete(pid);
}

/** Synchronous, because it also runs in the 'exit' event where nothing async happens. */
function killTracked(): void {
  for (const [pid, dir] of tracked) {
    sendSignal(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  tracked.clear();
}
