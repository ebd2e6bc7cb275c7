/**
 * The Kafka Streams reference job (bench/kstreams/, Java): building its jar with Maven once, and
 * running it as its own process, watched from outside like the topology (peak RSS, CPU time).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { PipelineError, ServiceError } from '../core/errors.js';
import { runCaptured } from '../services/child.js';
import { findJava } from '../services/java.js';
import { readUsage } from './topologyProcess.js';

const KSTREAMS_DIR = fileURLToPath(new URL('./kstreams/', import.meta.url));
const POM = join(KSTREAMS_DIR, 'pom.xml');
const JAR = join(KSTREAMS_DIR, 'target', 'kstreams-bench.jar');
const CLASSPATH = `${JAR}:${join(KSTREAMS_DIR, 'target', 'lib', '*')}`;
/** The job reads its Rollup schema from the topology's own file at build time. */
const ROLLUP_SCHEMA = fileURLToPath(new URL('../schemas/rollup.avsc', import.meta.url));
const SAMPLE_MS = 200;

/** Maven could not download the job's artifacts (no access to Maven Central): the only reason a test may skip. */
export class MavenFetchError extends ServiceError {}

/** Builds bench/kstreams/target/kstreams-bench.jar unless it is newer than every source of it. */
export async function ensureKstreamsJar(say: (line: string) => void): Promise<void> {
  if (existsSync(JAR) && statSync(JAR).mtimeMs >= newestSource()) return;
  say('building the Kafka Streams job (bench/kstreams) with Maven …');
  const started = Date.now();
  const args = ['-B', '-q', '-Dstyle.color=never', '-f', POM, 'package'];
  const { code, output, error } = await runCaptured('mvn', args, process.env);
  if (error?.code === 'ENOENT') {
    throw new MavenFetchError('Maven (mvn) is not installed; it builds the Kafka Streams job', {
      hint: 'apt-get install maven openjdk-17-jdk-headless',
    });
  }
  if (code !== 0 || !existsSync(JAR)) {
    const tail = output.split('\n').filter(Boolean).slice(-20).join('\n');
    // Resolution failures are the network's; anything else (a compile error) is ours.
    const Failure = /Could not (resolve|transfer)|Non-resolvable|Unknown host|Connection refused/i.test(
      output,
    )
      ? MavenFetchError
      : PipelineError;
    throw new Failure(`mvn could not build the Kafka Streams job (exit code ${code}):\n${tail}`, {
      hint: `mvn -B -f ${POM} package`,
    });
  }
  say(`built the Kafka Streams job in ${Math.round((Date.now() - started) / 1000)} s`);
}

function newestSource(): number {
  let newest = Math.max(statSync(POM).mtimeMs, statSync(ROLLUP_SCHEMA).mtimeMs);
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(KSTREAMS_DIR, 'src'));
  return newest;
}

export interface KstreamsJobOptions {
  brokers: string;
  registryUrl: string;
  input: string;
  appId: string;
  /** The tier topics it writes (one `Rollup` per record, key: the series id). */
  out1m: string;
  out1h: string;
  stateDir: string;
  /** Kafka Streams' grace per tier: the topology's grace plus its out-of-orderness (its watermark's lag). */
  grace1mMs: number;
  grace1hMs: number;
  /** Java heap limit (-Xmx), MB. */
  heapMB: number;
  logFile: string;
}

/** What the job prints as its last stdout line, epoch ms and counts. */
const jobLine = z.object({
  startedAt: z.number(),
  runningAt: z.number(),
  firstRecordAt: z.number(),
  endOfInputAt: z.number(),
  committedAt: z.number(),
  records: z.number(),
  samples: z.number(),
  miskeyed: z.number(),
  results1m: z.number(),
  results1h: z.number(),
  threads: z.number(),
  cacheMB: z.number(),
});

export type KstreamsJobResult = z.infer<typeof jobLine> & {
  spawnedAt: number;
  exitedAt: number;
  peakRssBytes: number | null;
  cpuSeconds: number | null;
};

/**
 * Runs the job over `input` from its start until the group has committed the end offsets the
 * input had when the job started (it then exits by itself) and returns its account and usage.
 */
export async function runKstreamsJob(options: KstreamsJobOptions): Promise<KstreamsJobResult> {
  const java = await findJava(17, 'the Kafka Streams job', process.env);
  const args = [
    `-Xmx${options.heapMB}m`,
    '-cp',
    CLASSPATH,
    'dev.metricspipeline.kstreams.Main',
    ...Object.entries({
      brokers: options.brokers,
      registry: options.registryUrl,
      input: options.input,
      'app-id': options.appId,
      'out-1m': options.out1m,
      'out-1h': options.out1h,
      'state-dir': options.stateDir,
      'grace-1m-ms': options.grace1mMs,
      'grace-1h-ms': options.grace1hMs,
    }).flatMap(([name, value]) => [`--${name}`, String(value)]),
  ];
  const log = createWriteStream(options.logFile);
  const spawnedAt = Date.now();
  const child = spawn(java.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let recent = '';
  child.stdout.on('data', (chunk: Buffer) => {
    log.write(chunk);
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    log.write(chunk);
    recent = (recent + chunk.toString('utf8')).slice(-4096);
  });
  let peakRssBytes: number | null = null;
  let cpuSeconds: number | null = null;
  const sampler = setInterval(() => {
    const usage = readUsage(child.pid ?? -1);
    if (!usage) return;
    peakRssBytes = Math.max(peakRssBytes ?? 0, usage.peakRssBytes);
    cpuSeconds = usage.cpuSeconds;
  }, SAMPLE_MS);
  const { code, exitedAt } = await new Promise<{ code: number | null; exitedAt: number }>((resolve) => {
    child.once('error', () => resolve({ code: null, exitedAt: Date.now() }));
    child.once('close', (exitCode) => resolve({ code: exitCode, exitedAt: Date.now() }));
  }).finally(() => {
    clearInterval(sampler);
    log.end();
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  const parsed = code === 0 ? jobLine.safeParse(safeJson(last)) : undefined;
  if (!parsed?.success) {
    throw new PipelineError(
      `the Kafka Streams job exited with code ${code} (log: ${options.logFile}):\n${recent.split('\n').slice(-15).join('\n')}`,
    );
  }
  return { ...parsed.data, spawnedAt, exitedAt, peakRssBytes, cpuSeconds };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
