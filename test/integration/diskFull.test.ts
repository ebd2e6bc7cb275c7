import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../services/ports.js';
import { runPipeline } from '../../topology/run.js';
import { counts, produce, quietLog, tempDir, testConfig, tierCheck } from './helpers.js';

/**
 * The embedded ClickHouse's data folder on a small tmpfs that is then filled up, as an operator
 * met it. Mounting needs root (or CAP_SYS_ADMIN): where it is refused (an unprivileged user), this file is
 * skipped, and test/unit/storagePause.test.ts shows the pause and resume with the engine's own
 * full-disk error instead.
 */

const dir = tempDir('disk-full');
const mnt = join(dir, 'mnt');
mkdirSync(mnt);

function mountTmpfs(path: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const mounted = mountTmpfs(mnt, '128m');

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

/** What made the run fail, once it did. */
let failure: { error: unknown } | undefined;

/**
 * Resolves with `check`'s value once it is not undefined, asking every 200 ms for at most `ms`;
 * throws at once what made the run fail, if it does.
 */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (failure) throw failure.error;
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(!mounted)('a full disk under the embedded ClickHouse (a real tmpfs)', () => {
  it('pauses consumption, says so in /readyz and /metrics, and resumes by itself when space returns: nothing lost', async () => {
    const config = testConfig(join(mnt, 'clickhouse'), { sink: { maxRows: 2000, maxMs: 100 } });
    const adminPort = await freePort();
    const admin = `http://127.0.0.1:${adminPort}`;
    let produced: () => void = () => undefined;
    const running = runPipeline({
      config,
      log: quietLog,
      exitWhenIdle: true,
      idleAfter: new Promise<void>((resolve) => (produced = resolve)),
      adminPort,
    });
    running.catch((error: unknown) => (failure = { error }));
    await until('the topology to be ready', 60_000, async () =>
      (await fetch(`${admin}/readyz`)).status === 200 ? true : undefined,
    );

    // Leaves 64 KiB free: the first insert cannot reserve its part.
    const filler = join(mnt, 'filler');
    const free = () => {
      const s = statfsSync(mnt);
      return s.bavail * s.bsize;
    };
    writeFileSync(filler, Buffer.alloc(free() - 64 * 1024));
    const total = 20_000;
    // A record's 10 samples span 4.5 s, within the 5 s out-of-orderness: no sample is late, in
    // whatever order the partitions come back after the pause. (10 s apart, a record would span
    // 90 s: a partition that ends up last would then send the first samples of its next records
    // past their windows' allowed lateness, to the late topic, as configured.)
    await produce(config, { series: 100, samples: total, batch: 10, seed: 5, intervalMs: 500 });

    const why = await until('/readyz to report the full disk', 60_000, async () => {
      const response = await fetch(`${admin}/readyz`);
      const text = await response.text();
      return response.status === 503 && /disk_full/.test(text) ? text : undefined;
    });
    expect(why).toMatch(/^not ready: ClickHouse writes paused for \d+ s \(disk_full: /);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toContain('metrics_pipeline_storage_paused{condition="disk_full"} 1');

    // Space returns: the topology goes on by itself and stores everything.
    rmSync(filler);
    produced();
    const stats = await running;
    expect(stats.records).toBe(total / 10);
    expect(stats.late).toBe(0);
    expect(await counts(config)).toEqual({ rows: total, distinct: total, series: 100 });
    expect(await tierCheck(config, '1m')).toMatchObject({ mismatches: 0, duplicates: 0 });
  });
});
