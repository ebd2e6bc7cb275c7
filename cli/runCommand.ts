import type { Config } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { runPipeline } from '../topology/run.js';

export async function runCommand(
  config: Config,
  flags: { exitWhenIdle?: boolean; adminPort: number; mode: 'all' | 'windows' | 'load' },
): Promise<void> {
  const log = createLogger('topology');
  let last = 0;
  const stats = await runPipeline({
    config,
    log,
    exitWhenIdle: flags.exitWhenIdle ?? false,
    adminPort: flags.adminPort,
    mode: flags.mode,
    onProgress: (s) => {
      if (s.records === last) return;
      last = s.records;
      process.stderr.write(
        `consumed ${s.records} records · stored ${s.stored} samples · dead-lettered ${s.deadLettered}\n`,
      );
    },
  });
  console.log(
    `consumed ${stats.records} records, stored ${stats.stored} samples, ${stats.rollups['1m']} 1m and ${stats.rollups['1h']} 1h window results, ` +
      `dead-lettered ${stats.deadLettered} records, ${stats.late} late samples`,
  );
}
