import { spawn } from 'node:child_process';
import { NODE_FLAGS } from '../core/runtime.js';
import { Agent, request } from 'node:http';
import os from 'node:os';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { writeFileSync } from 'node:fs';
import { PipelineError } from '../core/errors.js';
import { machineBusySeconds, processTreeCpuSeconds } from './procCpu.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import type { BenchContext } from './throughput.js';
import { childEnv, runWorkspace } from './workspace.js';

const BIN = fileURLToPath(new URL('../bin/metrics-pipeline.js', import.meta.url));

/** Run (workspace) names by format. */
export const COLLECTOR_RUNS = { json: 'collector-json', remote_write: 'collector-rw' } as const;

export interface CollectorBenchOptions {
  /** Samples per request. */
  batch: number;
  /** Requests in all, at most. */
  requests: number;
  /** Seconds of sending, at most. */
  seconds: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Worker processes of the collector (collector.workers). */
  workers: number;
  series: number;
  /** What the clients send: the SDK's JSON batches or Prometheus remote_write. */
  format: 'json' | 'remote_write';
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
  /**
   * CPU time (user + system) of the collector's processes while the clients were sending,
   * per sample accepted, in µs: what the collector costs, whatever else runs on the machine.
   */
  collectorCpuMicrosPerSample: number | null;
  /** The same for the whole machine (the collector, Kafka, the load generator and anything else). */
  machineCpuMicrosPerSample: number | null;
  /** One-minute load average when the sending started. */
  loadAverage: number;
  batch: number;
  concurrency: number;
  workers: number;
  format: 'json' | 'remote_write';
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
  const run = runWorkspace(ctx.base, ctx.benchId, COLLECTOR_RUNS[options.format], 0);
  const config = {
    ...run.config,
    collector: {
      ...run.config.collector,
      port: 0,
      workers: options.workers,
      wal: { ...run.config.collector.wal, dir: join(run.dir, 'wal') },
    },
  };
  writeFileSync(run.configFile, stringify(config));
  const log = createWriteStream(join(run.dir, 'collector.log'));
  const profileDir = join(run.dir, 'prof');
  const nodeArgs = options.cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, ...nodeArgs, BIN, '--config', run.configFile, 'collector'],
    {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
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
    ctx.say(
      `collector run (${options.format}): ${options.concurrency} clients × batches of ${options.batch} samples → ${url} (${options.workers} worker${options.workers === 1 ? '' : 's'})`,
    );

    // Bodies are built before the clock starts: the load generator must not be what is measured.
    const bodies =
      options.format === 'remote_write'
        ? remoteWriteBodies(options.batch, options.series, 64)
        : jsonBodies(options.batch, options.series, 64);
    const path = options.format === 'remote_write' ? '/api/v1/write' : '/api/v1/metrics';
    const headers: Record<string, string> =
      options.format === 'remote_write'
        ? { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' }
        : { 'content-type': 'application/json' };
    const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
    const latencies: number[] = [];
    let sent = 0;
    let samples = 0;
    let failed = 0;
    const loadAverage = os.loadavg()[0] ?? 0;
    const cpuBefore = processTreeCpuSeconds(child.pid as number);
    const machineBefore = machineBusySeconds();
    const began = performance.now();
    const deadline = began + options.seconds * 1000;
    const client = async () => {
      while (sent < options.requests && performance.now() < deadline) {
        const body = bodies[sent % bodies.length] as Buffer;
        sent += 1;
        const t0 = performance.now();
        const response = await post(agent, `${url}${path}`, headers, body);
        latencies.push(performance.now() - t0);
        if (response.status === 202) samples += (JSON.parse(response.body) as { accepted: number }).accepted;
        else failed += 1;
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, client));
    const seconds = (performance.now() - began) / 1000;
    const cpuAfter = processTreeCpuSeconds(child.pid as number);
    const machineAfter = machineBusySeconds();
    const perSample = (before: number | undefined, after: number | undefined) =>
      before === undefined || after === undefined || samples === 0
        ? null
        : Math.round(((after - before) / samples) * 1e7) / 10;
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
      collectorCpuMicrosPerSample: perSample(cpuBefore, cpuAfter),
      machineCpuMicrosPerSample: perSample(machineBefore, machineAfter),
      loadAverage: Math.round(loadAverage * 100) / 100,
      batch: options.batch,
      concurrency: options.concurrency,
      workers: options.workers,
      format: options.format,
    };
    ctx.say(
      `collector run: ${result.samplesPerSec} samples/s, ${result.requestsPerSec} requests/s, p99 ${result.p99RequestMs} ms, ${failed} failed, ` +
        `collector CPU ${result.collectorCpuMicrosPerSample} µs/sample (machine ${result.machineCpuMicrosPerSample}), load ${result.loadAverage}`,
    );
    return result;
  } finally {
    child.kill('SIGTERM');
    await exited;
    // With workers, the busiest worker's profile (the primary serves no request).
    if (options.cpuProfile && result)
      result.profile = summarizeProfile(profileDir, options.workers === 1 ? child.pid : undefined) ?? null;
  }
}

interface BodySample {
  name: string;
  labels: Record<string, string>;
  timestamp: number;
  value: number;
}

/** `count` batches of `batch` samples over `series` series, one timestamp per batch. */
function batches(batch: number, series: number, count: number): BodySample[][] {
  const now = Date.now();
  return Array.from({ length: count }, (_, b) =>
    Array.from({ length: batch }, (_, i) => {
      const s = (b * batch + i) % series;
      return {
        name: `bench_metric_${s % 20}`,
        labels: { host: `host-${s % 500}`, service: `svc-${s % 7}`, series: String(s) },
        timestamp: now - (count - b) * 1000,
        value: (s * 31 + b) % 1000,
      };
    }),
  );
}

function jsonBodies(batch: number, series: number, count: number): Buffer[] {
  return batches(batch, series, count).map((samples) => Buffer.from(JSON.stringify({ samples })));
}

/** The same batches as Prometheus remote_write 1.0 requests: WriteRequest protobuf, snappy block. */
function remoteWriteBodies(batch: number, series: number, count: number): Buffer[] {
  return batches(batch, series, count).map((samples) => {
    const w = protobuf.Writer.create();
    for (const s of samples) {
      const ts = w.uint32(0x0a).fork();
      const labels = [['__name__', s.name], ...Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1))];
      for (const [name, value] of labels)
        ts.uint32(0x0a)
          .fork()
          .uint32(0x0a)
          .string(name as string)
          .uint32(0x12)
          .string(value as string)
          .ldelim();
      ts.uint32(0x12).fork().uint32(0x09).double(s.value).uint32(0x10).int64(s.timestamp).ldelim();
      ts.ldelim();
    }
    return Buffer.from(snappy.compress(Buffer.from(w.finish())));
  });
}

/** One POST over a keep-alive agent (lighter than fetch: the load generator shares the cores). */
function post(
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': body.length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
