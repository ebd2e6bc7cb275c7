import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import type { SeriesData } from '../../query/promql/storage.js';

const PROMETHEUS = '/usr/bin/prometheus';
const READY_LINE = 'Server is ready to receive web requests.';

/** A real Prometheus on a free port in a temp dir, started and stopped by the test. */
export interface PrometheusServer {
  baseUrl: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts Prometheus with the remote-write receiver; resolves once it logs that it serves requests. */
export async function startPrometheus(): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'promql-compat-'));
  const config = join(dir, 'prometheus.yml');
  // The evaluation interval is the default step of subqueries written without one.
  writeFileSync(config, 'global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n');
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      '--web.enable-remote-write-receiver',
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--config.file=${config}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  try {
    await new Promise<void>((resolve, reject) => {
      // Never left running when it does not come up: the caller has nothing to stop yet.
      const timer = setTimeout(
        () => reject(new Error(`prometheus not ready in 60 s:\n${log.slice(-2000)}`)),
        60_000,
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes(READY_LINE)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`prometheus exited with ${code}:\n${log.slice(-2000)}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  child.stderr?.removeAllListeners('data');
  child.stderr?.resume();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// prompb/remote.proto and prompb/types.proto: the parts remote_write 1.0 sends.
const { root } = protobuf.parse(`
  syntax = "proto3";
  package prometheus;
  message WriteRequest { repeated TimeSeries timeseries = 1; }
  message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
  message Label { string name = 1; string value = 2; }
  message Sample { double value = 1; int64 timestamp = 2; }
`);
const WriteRequest = root.lookupType('prometheus.WriteRequest');

/**
 * Pushes the series with remote_write (protobuf + snappy) to `writeUrl` (Prometheus'
 * `<base>/api/v1/write`, or the collector's endpoint) in time order: slices of `sliceMs` across
 * every series, since a TSDB head refuses samples older than an hour before its newest.
 */
export async function pushSeries(
  writeUrl: string,
  series: readonly SeriesData[],
  sliceMs = 600_000,
): Promise<void> {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    if (s.timestamps.length === 0) continue;
    min = Math.min(min, s.timestamps[0] as number);
    max = Math.max(max, s.timestamps[s.timestamps.length - 1] as number);
  }
  for (let from = min; from <= max; from += sliceMs) {
    const timeseries = series
      .map((s) => {
        const samples: Array<{ value: number; timestamp: number }> = [];
        s.timestamps.forEach((t, i) => {
          if (t >= from && t < from + sliceMs) samples.push({ value: s.values[i] as number, timestamp: t });
        });
        const labels = Object.entries(s.labels)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, value]) => ({ name, value }));
        return { labels, samples };
      })
      .filter((s) => s.samples.length > 0);
    const body = snappy.compress(
      Buffer.from(WriteRequest.encode(WriteRequest.fromObject({ timeseries })).finish()),
    );
    const response = await fetch(writeUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-protobuf',
        'Content-Encoding': 'snappy',
        'X-Prometheus-Remote-Write-Version': '0.1.0',
      },
      body: Buffer.from(body),
    });
    if (!response.ok) throw new Error(`remote write: ${response.status} ${await response.text()}`);
  }
}
