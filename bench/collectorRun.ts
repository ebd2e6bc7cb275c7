import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { writeFileSync } from 'node:fs';
import { PipelineError } from '../core/errors.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import type { BenchContext } from './throughput.js';
import { childEnv, runWorkspace } from './workspace.js';

const BIN = fileURLToPath(new URL('../bin/metrics-pipeline.js', import.meta.url));

export interface CollectorBenchOptions {
  /** Samples per request. */
  batch: number;
  /** Requests in all, at most. */
  requests: number;
  /** Seconds of sending, at most. */
  seconds: number;
  /** Requests in flight at once. */
  concurrency: number;
  series: number;
  /** Profile the collector process (node --cpu-prof) and list its hot spots. */
  cpuProfile?: boolean;
}

export interface CollectorBenchResult {
  requests: number;
  samples: number;
  seconds: number;
  requestsPerSec: number;
  samplesPerSec: number;
  /** Requests answered other than 202 (should be 0). */
  failed: number;
  p50RequestMs: number;
  p99RequestMs: number;
  /** The collector's samples in the write-ahead log at the end (0: everything went straight to Kafka). */
  walBytesAtEnd: number;
  batch: number;
  concurrency: number;
  profile?: ProfileSummary | null;
}

/**
 * The collector run: `metrics-pipeline collector` in its own process, fed JSON batches of
 * `batch` samples over loopback HTTP by `concurrency` clients, until `requests` or `seconds`.
 * A 202 means the batch is acknowledged by Kafka (or logged to disk, which the end check
 * excludes): samples/s = accepted samples / wall time of the sending.
 */
export async function collectorRun(
  ctx: BenchContext,
  options: CollectorBenchOptions,
): Promise<CollectorBenchResult> {
  const run = runWorkspace(ctx.base, ctx.benchId, 'collector', 0);
  const config = {
    ...run.config,
    collector: {
      ...run.config.collector,
      port: 0,
      wal: { ...run.config.collector.wal, dir: join(run.dir, 'wal') },
    },
  };
  writeFileSync(run.configFile, stringify(config));
  const log = createWriteStream(join(run.dir, 'collector.log'));
  const profileDir = join(run.dir, 'prof');
  const nodeArgs = options.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...nodeArgs, BIN, '--config', run.configFile, 'collector'], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let result: CollectorBenchResult | undefined;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const match = /collector listening on (\S+)/.exec(out);
        if (match) resolve(match[1] as string);
      });
      child.once('exit', (code) =>
        reject(
          new PipelineError(
            `the collector exited (${code}) before listening; see ${join(run.dir, 'collector.log')}`,
          ),
        ),
      );
    });
    ctx.say(`collector run: ${options.concurrency} clients × batches of ${options.batch} samples → ${url}`);

    // Bodies are built before the clock starts: the load generator must not be what is measured.
    const bodies = buildBodies(options.batch, options.series, 64);
    const latencies: number[] = [];
    let sent = 0;
    let samples = 0;
    let failed = 0;
    const began = performance.now();
    const deadline = began + options.seconds * 1000;
    const client = async () => {
      while (sent < options.requests && performance.now() < deadline) {
        const body = bodies[sent % bodies.length] as string;
        sent += 1;
        const t0 = performance.now();
        const response = await fetch(`${url}/api/v1/metrics`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const answer = (await response.json()) as { accepted?: number };
        latencies.push(performance.now() - t0);
        if (response.status === 202) samples += answer.accepted ?? 0;
        else failed += 1;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, client));
    const seconds = (performance.now() - began) / 1000;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const walBytesAtEnd = Number(/^collector_wal_bytes (\S+)$/m.exec(metrics)?.[1] ?? NaN);
    latencies.sort((a, b) => a - b);
    const at = (q: number) => Math.round((latencies[Math.floor(q * (latencies.length - 1))] ?? 0) * 10) / 10;
    result = {
      requests: sent,
      samples,
      seconds: Math.round(seconds * 100) / 100,
      requestsPerSec: Math.round(sent / seconds),
      samplesPerSec: Math.round(samples / seconds),
      failed,
      p50RequestMs: at(0.5),
      p99RequestMs: at(0.99),
      walBytesAtEnd,
      batch: options.batch,
      concurrency: options.concurrency,
    };
    ctx.say(
      `collector run: ${result.samplesPerSec} samples/s, ${result.requestsPerSec} requests/s, p99 ${result.p99RequestMs} ms, ${failed} failed`,
    );
    return result;
  } finally {
    child.kill('SIGTERM');
    await exited;
    if (options.cpuProfile && result) result.profile = summarizeProfile(profileDir, child.pid ?? -1) ?? null;
  }
}

/** `count` distinct JSON bodies of `batch` samples over `series` series, one timestamp per body. */
function buildBodies(batch: number, series: number, count: number): string[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, b) => {
    const samples = Array.from({ length: batch }, (_, i) => {
      const s = (b * batch + i) % series;
      return {
        name: `bench_metric_${s % 20}`,
        labels: { host: `host-${s % 500}`, service: `svc-${s % 7}`, series: String(s) },
        timestamp: now - (count - b) * 1000,
        value: (s * 31 + b) % 1000,
        kind: 'gauge',
      };
    });
    return JSON.stringify({ samples });
  });
}
