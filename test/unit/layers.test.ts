import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const eslint = new ESLint({ cwd: root });

/** The messages of the layering rule for one import written in `file`. */
async function layerErrors(file: string, from: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import type { X } from '${from}';\nexport type Y = X;\n`, {
    filePath: `${root}${file}`,
  });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import layers (eslint.config.js)', () => {
  it.each([
    ['core/x.ts', '../notifier/config.js'],
    ['core/x.ts', '../operators/tumblingWindow.js'],
    ['core/x.ts', '../streams/stateStore.js'],
    ['schemas/x.ts', '../sinks/clickhouse.js'],
    ['streams/x.ts', '../sinks/clickhouse.js'],
    ['streams/x.ts', '../topology/topology.js'],
    ['sinks/x.ts', '../topology/streamThread.js'],
    ['streams/x.ts', '../topology/metrics.js'],
    ['operators/x.ts', '../topology/windowStage.js'],
    ['alerts/x.ts', '../query/store.js'],
    ['query/promql/x.ts', '../../notifier/config.js'],
    ['notifier/x.ts', '../cli/context.js'],
    ['notifier/integrations/x.ts', '../../cli/context.js'],
  ])('refuses %s importing %s', async (file, from) => {
    const errors = await layerErrors(file, from);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/imports run downwards only/);
  });

  it.each([
    ['streams/x.ts', '../core/log.js'],
    ['operators/x.ts', '../streams/windowStore.js'],
    ['sinks/x.ts', '../schemas/index.js'],
    ['alerts/x.ts', '../query/promql/index.js'],
    ['notifier/x.ts', '../streams/stateStore.js'],
    ['topology/x.ts', '../sinks/late.js'],
    ['query/x.ts', '../collector/errors.js'],
    ['cli/x.ts', '../topology/run.js'],
  ])('lets %s import %s', async (file, from) => {
    expect(await layerErrors(file, from)).toEqual([]);
  });
});
