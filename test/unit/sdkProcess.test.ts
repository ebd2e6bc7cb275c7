import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Sample } from '../../sdk/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Bodies received by a bare collector that accepts everything. */
let received: Sample[][] = [];
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const { samples } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { samples: Sample[] };
      received.push(samples);
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accepted: samples.length, rejected: 0, reasons: {} }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

beforeEach(() => {
  received = [];
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs an ES module in a Node process of its own, the SDK imported as applications do (by
 * the package name), and resolves when it exits. `onReady` runs when it prints "ready". A
 * process still alive after 20 s is killed, so that a client holding it open fails the test
 * with SIGKILL rather than a timeout.
 */
function runApp(source: string, onReady?: (pid: number) => void): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
    cwd: root,
    env: { ...process.env, COLLECTOR_URL: url },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    if (onReady && stdout.includes('ready\n') && child.pid !== undefined) {
      onReady(child.pid);
      onReady = undefined;
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const client = `
  import { createMetricsClient } from 'metrics-pipeline';
  const client = createMetricsClient({ url: process.env.COLLECTOR_URL, pushIntervalMs: 60_000, now: () => 1 });
  client.counter('jobs_total').inc(3);
`;
const jobs = [[{ name: 'jobs_total', labels: {}, timestamp: 1, value: 3, kind: 'counter' }]];

describe('the SDK in an application process', () => {
  it('is what the package exports, under "." and "./sdk"', async () => {
    const exit = await runApp(`
      const root = await import('metrics-pipeline');
      const sdk = await import('metrics-pipeline/sdk');
      console.log(typeof root.createMetricsClient, root.MetricsClient === sdk.MetricsClient);
    `);
    expect(exit).toMatchObject({ code: 0, stdout: 'function true\n' });
  });

  it('does not keep the process alive with its push timer', async () => {
    const exit = await runApp(`${client} console.log('done');`);
    expect(exit).toMatchObject({ code: 0, signal: null, stdout: 'done\n' });
    expect(received).toEqual([]);
  });

  it('flushes when the process runs out of work, with handleExitSignals', async () => {
    const exit = await runApp(`${client} client.handleExitSignals();`);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(received).toEqual(jobs);
  });

  it('flushes on SIGTERM, then lets SIGTERM end the process', async () => {
    const exit = await runApp(
      `${client}
      client.handleExitSignals();
      setInterval(() => undefined, 1000);
      console.log('ready');`,
      (pid) => process.kill(pid, 'SIGTERM'),
    );
    expect(exit).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(received).toEqual(jobs);
  });

  it('flushes on SIGTERM when the application listens to it too, and leaves the exit to it', async () => {
    const exit = await runApp(
      `${client}
      client.handleExitSignals();
      const keepAlive = setInterval(() => undefined, 1000);
      process.on('SIGTERM', () => {
        console.log('app stops');
        clearInterval(keepAlive);
      });
      console.log('ready');`,
      (pid) => process.kill(pid, 'SIGTERM'),
    );
    expect(exit).toMatchObject({ code: 0, signal: null, stdout: 'ready\napp stops\n' });
    expect(received).toEqual(jobs);
  });
});
