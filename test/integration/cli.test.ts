import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { cli, configFile, repoRoot, tempDir, testConfig } from './helpers.js';

describe('metrics-pipeline command line', () => {
  it('produce → run --exit-when-idle → sql, the last while a topology holds the embedded folder', async () => {
    const dir = tempDir('cli');
    const config = testConfig(join(dir, 'clickhouse'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringify(config));

    const produce = cli([
      '--config',
      file,
      'produce',
      '--series',
      '20',
      '--samples',
      '2000',
      '--batch',
      '4',
      '--seed',
      '9',
    ]);
    expect(await produce.exit, produce.stderr()).toBe(0);
    expect(produce.stdout()).toMatch(/produced 2000 samples in 500 records/);

    const run = cli(['--config', file, 'run', '--exit-when-idle']);
    expect(await run.exit, run.stderr().slice(-2000)).toBe(0);
    expect(run.stdout()).toMatch(/stored 2000 samples/);

    const live = cli(['--config', file, 'run']);
    await live.waitFor(/admin server listening/);
    const sql = cli(['--config', file, 'sql', 'SELECT count() AS n, uniqExact(series_id) AS s FROM samples']);
    expect(await sql.exit, sql.stderr()).toBe(0);
    expect(sql.stdout()).toBe('n\ts\n2000\t20\n');
    live.child.kill('SIGTERM');
    expect(await live.exit).toBe(0);

    const after = cli(['--config', file, 'sql', 'SELECT count() FROM samples', '--format', 'JSONEachRow']);
    expect(await after.exit, after.stderr()).toBe(0);
    expect(JSON.parse(after.stdout())).toEqual({ 'count()': '2000' });
  });

  it('rules test: the example rule tests pass (exit 0); a wrong expectation fails as promtool says (exit 1)', async () => {
    const ok = cli(['rules', 'test', 'examples/rules/demo.test.yaml']);
    expect(await ok.exit).toBe(0);
    expect(ok.stdout()).toMatch(/Unit Testing: {2}examples\/rules\/demo\.test\.yaml\n {2}SUCCESS/);

    const dir = tempDir('cli-rules');
    const file = join(dir, 'wrong.test.yaml');
    writeFileSync(
      file,
      stringify({
        rule_files: [join(repoRoot, 'examples/rules/demo.rules.yaml')],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [{ series: 'cpu_usage{host="a"}', values: '10x10' }],
            alert_rule_test: [
              { eval_time: '5m', alertname: 'HighCpu', exp_alerts: [{ exp_labels: { host: 'a' } }] },
            ],
          },
        ],
      }),
    );
    const failing = cli(['rules', 'test', file]);
    expect(await failing.exit).toBe(1);
    expect(failing.stdout()).toMatch(/FAILED:/);
    expect(failing.stdout()).toMatch(/alertname: HighCpu/);
  });

  it('bad arguments and configuration: one clear line, exit code 2, no stack trace', async () => {
    const badNumber = cli(['produce', '--series', 'many']);
    expect(await badNumber.exit).toBe(2);
    expect(badNumber.stderr()).toMatch(/--series must be an integer/);

    const missing = cli(['--config', '/nonexistent/pipeline.yaml', 'run']);
    expect(await missing.exit).toBe(2);
    expect(missing.stderr()).toMatch(
      /^metrics-pipeline: cannot read config file \/nonexistent\/pipeline.yaml/,
    );
    expect(missing.stderr()).not.toMatch(/\n\s+at /);

    const dir = tempDir('cli-bad');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'topics:\n  metrics: "has spaces"\n  partitons: 3\n');
    const invalid = cli(['--config', file, 'run']);
    expect(await invalid.exit).toBe(2);
    expect(invalid.stderr()).toMatch(/topics\.metrics: letters, digits/);
    expect(invalid.stderr()).toMatch(/partitons/);

    // A rule file that does not load stops `run` before it starts anything: file, line, reason.
    const rules = join(dir, 'rules.yaml');
    writeFileSync(rules, 'groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]) >\n');
    const { file: withRules } = configFile(dir, { alerts: { rules: [join(dir, 'ok.yaml'), rules] } });
    writeFileSync(join(dir, 'ok.yaml'), 'groups: []\n');
    const badRules = cli(['--config', withRules, 'run']);
    expect(await badRules.exit).toBe(2);
    expect(badRules.stderr()).toMatch(new RegExp(`${rules}:5:\\d+: `));
    expect(badRules.stderr()).not.toMatch(/\n\s+at |partitions assigned/);

    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const { file: collectorConfig } = configFile(dir, { collector: { wal: { dir: join(dir, 'wal') } } });
      const busy = cli(['--config', collectorConfig, 'collector', '--port', String(port)]);
      expect(await busy.exit).toBe(2);
      expect(busy.stderr()).toMatch(
        `metrics-pipeline: the collector cannot listen on 127.0.0.1:${port}: EADDRINUSE`,
      );
      expect(busy.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });
});
