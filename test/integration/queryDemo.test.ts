import { exec } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, repoRoot, type Cli } from './helpers.js';

const sh = promisify(exec);

describe('the demo with --serve', () => {
  let demo: Cli | undefined;

  afterAll(async () => {
    if (demo && demo.child.exitCode === null) {
      demo.child.kill('SIGINT');
      await demo.exit;
    }
  });

  it('serves the query API after its summary; the promtool and sql lines it prints work as printed', async () => {
    demo = cli(['demo', '--duration', '3', '--history', '1', '--rate', '500', '--series', '50', '--serve'], {
      LOG_LEVEL: 'warn',
    });
    await demo.waitFor(/serving queries over the demo data until Ctrl-C/);
    // stdout and stderr are separate pipes: the summary may arrive after the stderr line.
    const running = demo;
    await new Promise<void>((resolve) => {
      const check = () => /\ntry: metrics-pipeline .*\n/.test(running.stdout()) && resolve();
      running.child.stdout?.on('data', check);
      check();
    });
    const lines = demo.stdout().split('\n');
    const promtool = lines.find((l) => l.startsWith('try: promtool query range'))?.slice('try: '.length);
    const sql = lines.find((l) => l.startsWith('try: metrics-pipeline'))?.slice('try: '.length);
    expect(promtool, demo.stdout()).toBeDefined();
    expect(sql, demo.stdout()).toBeDefined();
    expect(demo.stdout()).toMatch(/it answered the line below with [1-9]\d* series during the demo/);

    const range = await sh(promtool as string, { cwd: repoRoot });
    expect(range.stdout).toMatch(/^\{region="[a-z0-9-]+"\} =>\n[\d.]+ @\[\d+\]/);
    // As a user types it: the `metrics-pipeline` of package.json's bin.
    const rows = await sh(
      (sql as string).replace(/^metrics-pipeline/, `node ${repoRoot}bin/metrics-pipeline.js`),
      {
        cwd: repoRoot,
      },
    );
    expect(rows.stdout).toMatch(/^metric\tcount\(\)\n/);
    expect(rows.stdout).toMatch(/\ncpu_usage_percent\t\d+\n/);

    demo.child.kill('SIGINT');
    expect(await demo.exit).toBe(0);
  });
});
