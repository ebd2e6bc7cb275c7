import type { Config } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { runPipeline } from '../topology/run.js';
import type { TopologyStats } from '../topology/topology.js';

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
    `consumed ${stats.records} records, stored ${stats.stored} samples, ${tierCounts(config, stats)} window results, ` +
      `dead-lettered ${stats.deadLettered} records, ${stats.late} late samples`,
  );
}

/** "12 1m and 1 1h": the window results per configured tier. */
function tierCounts(config: Config, stats: TopologyStats): string {
  const parts = config.tiers.map((t) => `${stats.rollups[t.name] ?? 0} ${t.name}`);
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : (parts[0] ?? '0');
}
