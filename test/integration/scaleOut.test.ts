import { describe, expect, it } from 'vitest';
import { caughtUp, cli, configFile, counts, produce, tempDir, tierCheck } from './helpers.js';

describe('scale-out', () => {
  it('two instances in one group, one killed mid-stream: the survivor takes its partitions and state, results equal a batch recomputation', async () => {
    const dir = tempDir('scale');
    const { config, file } = configFile(dir, {
      topics: { partitions: 4 },
      sink: { maxRows: 4000, maxMs: 100 },
      windows: { outOfOrdernessMs: 60_000 },
    });
    const total = 150_000;
    // 30 s of production: the second instance joins and the first is killed while it still runs
    // (the topology keeps up with the producer, so a shorter stream would be over by then).
    const production = produce(config, { series: 1000, samples: total, batch: 5, seed: 11, rate: 5_000 });

    const a = cli(['--config', file, 'run', '--sink', 'topics'], { LOG_LEVEL: 'debug' });
    await a.waitFor(/"msg":"flushed"/);
    const b = cli(['--config', file, 'run', '--sink', 'topics'], { LOG_LEVEL: 'debug' });
    await b.waitFor(/"msg":"flushed"/);
    a.child.kill('SIGKILL');
    expect(await a.exit).toBe('SIGKILL');
    // The survivor restores the dead instance's partitions from their changelogs.
    await b.waitFor(/"msg":"state restored"/);

    await production;
    await caughtUp(config.appId, [config.topics.metrics]);
    b.child.kill('SIGTERM');
    expect(await b.exit, b.stderr().slice(-2000)).toBe(0);
    expect(b.stderr()).toMatch(/"assigned":\[0,1,2,3\]/);
    expect(
      b.stdout(),
      b
        .stderr()
        .split('\n')
        .filter((l) => /assigned|restored|rewind/.test(l))
        .join('\n'),
    ).toMatch(/, 0 late samples/);

    // A last instance closes the windows as at the end of input; then one loader stores everything.
    const closer = cli(['--config', file, 'run', '--sink', 'topics', '--exit-when-idle']);
    expect(await closer.exit, closer.stderr().slice(-2000)).toBe(0);
    expect(closer.stdout()).toMatch(/, 0 late samples/);
    const load = cli(['--config', file, 'load', '--exit-when-idle']);
    expect(await load.exit, load.stderr().slice(-2000)).toBe(0);

    expect(await counts(config)).toEqual({ rows: total, distinct: total, series: 1000 });
    for (const tier of ['1m', '1h'] as const) {
      const check = await tierCheck(config, tier);
      expect(check.windows).toBeGreaterThan(0);
      expect(check, tier).toMatchObject({ mismatches: 0, duplicates: 0, missing: 0, extra: 0 });
    }
  }, 240_000);
});
