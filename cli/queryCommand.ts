import type { Config } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { promqlEvaluator } from '../query/promqlEvaluator.js';
import { startQueryService } from '../query/service.js';

/** `metrics-pipeline query`: serves Prometheus' HTTP API over ClickHouse until SIGINT/SIGTERM. */
export async function queryCommand(config: Config): Promise<void> {
  const log = createLogger('query');
  const service = await startQueryService({
    config,
    log,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples }),
  });
  console.log(`query service listening on ${service.url} (Prometheus API under /api/v1/)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await service.close();
}
