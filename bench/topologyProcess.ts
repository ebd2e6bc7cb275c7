import { spawn } from 'node:child_process';
import { NODE_FLAGS } from '../core/runtime.js';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PipelineError } from '../core/errors.js';
import { childEnv, type RunWorkspace } from './workspace.js';

const BIN = fileURLToPath(new URL('../bin/metrics-pipeline.js', import.meta.url));
/** How often the child's memory and CPU time are read from /proc. */
const SAMPLE_MS = 200;
/** Linux USER_HZ: the unit of utime/stime in /proc/<pid>/stat. */
const CLOCK_TICKS = 100;

export interface TopologyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Epoch ms at which the process exited. */
  at: number;
}

/** A `metrics-pipeline run` child, watched from outside: log lines, peak RSS, CPU time. */
export interface TopologyProcess {
  pid: number;
  /** Epoch ms just before the spawn. */
  spawnedAt: number;
  /** Epoch ms (the child's clock) of its first `partitions assigned` log line. */
  readonly assignedAt: number | undefined;
  /** Samples stored so far, from the child's progress lines (printed about once a second). */
  readonly stored: number;
  /** Epoch ms (ours) at which the progress line with the current `stored` count arrived. */
  readonly storedAt: number | undefined;
  /** The child's `topology stopped` log line: its final counts (stored, late, rollups, …). */
  readonly stoppedLine: Record<string, unknown> | undefined;
  /** Highest VmHWM/VmRSS seen, in bytes; undefined where /proc is missing. */
  readonly peakRssBytes: number | undefined;
  /** User + system CPU seconds of the child at the last sample. */
  readonly cpuSeconds: number | undefined;
  /** The last log line that carries `stateBytes`, if the topology reports its state size. */
  readonly stateLine: Record<string, unknown> | undefined;
  /** Settles when the process has exited and its output is read. */
  exited: Promise<TopologyExit>;
  /** Resolves with `assignedAt` once the consumer has joined; rejects if the child exits first. */
  untilAssigned(timeoutMs: number): Promise<number>;
  /** SIGTERM (SIGKILL after 30 s) and wait for the exit. */
  stop(): Promise<TopologyExit>;
  /** The last lines of its stderr, for error messages. */
  tail(lines?: number): string;
}

/**
 * Starts the topology as its own process with the run's generated config, so that its memory
 * and CPU are its own: `node [nodeArgs] bin/metrics-pipeline.js --config <file> run [args]`.
 */
export function startTopologyProcess(
  run: RunWorkspace,
  args: string[],
  nodeArgs: string[] = [],
): TopologyProcess {
  const log = createWriteStream(run.logFile);
  const spawnedAt = Date.now();
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, ...nodeArgs, BIN, '--config', run.configFile, 'run', ...args],
    {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = child.pid ?? -1;
  let assignedAt: number | undefined;
  let stored = 0;
  let storedAt: number | undefined;
  let stoppedLine: Record<string, unknown> | undefined;
  let peakRssBytes: number | undefined;
  let cpuSeconds: number | undefined;
  let stateLine: Record<string, unknown> | undefined;
  let recent: string[] = [];
  const onAssigned: Array<() => void> = [];

  const onLine = (line: string) => {
    recent.push(line);
    if (recent.length > 200) recent = recent.slice(-100);
    const progress = /stored (\d+) samples/.exec(line);
    if (progress && Number(progress[1]) !== stored) {
      stored = Number(progress[1]);
      storedAt = Date.now();
    }
    if (!line.startsWith('{')) return;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (entry.msg === 'partitions assigned' && assignedAt === undefined) {
      assignedAt = typeof entry.time === 'number' ? entry.time : Date.now();
      for (const wake of onAssigned.splice(0)) wake();
    }
    if (entry.msg === 'topology stopped') stoppedLine = entry;
    if ('stateBytes' in entry) stateLine = entry;
  };
  let partial = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  child.stdout.on('data', (chunk: Buffer) => {
    log.write(chunk);
  });

  const sampler = setInterval(() => {
    const usage = readUsage(pid);
    if (!usage) return;
    peakRssBytes = Math.max(peakRssBytes ?? 0, usage.peakRssBytes);
    cpuSeconds = usage.cpuSeconds;
  }, SAMPLE_MS);

  let exitedAt = 0;
  child.once('exit', () => (exitedAt = Date.now()));
  const exited = new Promise<TopologyExit>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null, at: Date.now() }));
    child.once('close', (code, signal) => {
      clearInterval(sampler);
      if (partial) onLine(partial);
      for (const wake of onAssigned.splice(0)) wake();
      log.end();
      resolve({ code, signal, at: exitedAt || Date.now() });
    });
  });

  const tail = (lines = 15) => recent.slice(-lines).join('\n');
  let stopping: Promise<TopologyExit> | undefined;
  return {
    pid,
    spawnedAt,
    get assignedAt() {
      return assignedAt;
    },
    get stored() {
      return stored;
    },
    get storedAt() {
      return storedAt;
    },
    get stoppedLine() {
      return stoppedLine;
    },
    get peakRssBytes() {
      return peakRssBytes;
    },
    get cpuSeconds() {
      return cpuSeconds;
    },
    get stateLine() {
      return stateLine;
    },
    exited,
    async untilAssigned(timeoutMs) {
      if (assignedAt === undefined) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((wake) => onAssigned.push(wake)),
          new Promise<void>((wake) => (timer = setTimeout(wake, timeoutMs))),
        ]);
        clearTimeout(timer);
      }
      if (assignedAt === undefined) {
        throw new PipelineError(
          `the topology (${run.name}) did not join its consumer group within ${timeoutMs / 1000} s:\n${tail()}`,
        );
      }
      return assignedAt;
    },
    stop() {
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const exit = await exited;
        clearTimeout(timer);
        return exit;
      })();
      return stopping;
    },
    tail,
  };
}

/** Peak resident memory (VmHWM, which the kernel keeps, or VmRSS) and CPU seconds of a process. */
export function readUsage(pid: number): { peakRssBytes: number; cpuSeconds: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    // Fields after the command name (which may hold spaces) start at index 2 of `stat`.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    return {
      peakRssBytes: Math.max(kb('VmHWM'), kb('VmRSS')) * 1024,
      cpuSeconds: ticks / CLOCK_TICKS,
    };
  } catch {
    return undefined;
  }
}
