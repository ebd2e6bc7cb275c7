import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../topology/run.js';
import { cli, configFile, produce, quietLog, tempDir } from './helpers.js';

describe('query service on the real pipeline', () => {
  it('a standalone `query` reads the embedded folder a running topology holds, through its admin endpoint', async () => {
    const dir = tempDir('query-pipeline');
    const { config, file } = configFile(dir, { query: { port: 0 } });
    const produced = await produce(config, { series: 20, samples: 2000, batch: 10, seed: 5 });
    expect(produced.samples).toBe(2000);
    const stop = new AbortController();
    let holds: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (holds = resolve));
    const running = runPipeline({ config, log: quietLog, signal: stop.signal, onStarted: () => holds() });
    await held;
    const query = cli(['--config', file, 'query'], { LOG_LEVEL: 'info' });
    try {
      const line = await query.waitFor(/"msg":"query service listening"/);
      const url = (JSON.parse(line) as { url: string }).url;
      expect(query.stderr()).toMatch(/held by another process: querying through it/);
      // Every sample once: the raw samples of the last hour, as a range-vector instant query returns them.
      const count = async () => {
        const params = new URLSearchParams({
          query: '{__name__=~".+"}[1h]',
          time: String(Date.now() / 1000 + 60),
        });
        const body = (await (await fetch(`${url}/api/v1/query?${params}`)).json()) as {
          data?: { result: Array<{ values: unknown[] }> };
          error?: string;
        };
        if (!body.data) throw new Error(`query failed: ${body.error}`);
        return body.data.result.reduce((n, s) => n + s.values.length, 0);
      };
      for (let i = 0; (await count()) < 2000; i++) {
        if (i > 600) throw new Error(`the topology stored ${await count()} of 2000 samples`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await count()).toBe(2000);
      const series = (await (await fetch(`${url}/api/v1/series?match[]={__name__=~".%2B"}`)).json()) as {
        data: unknown[];
      };
      expect(series.data).toHaveLength(20);
    } finally {
      query.child.kill('SIGINT');
      expect(await query.exit).toBe(0);
      stop.abort();
      await running;
    }
  });
});
