import type { Config } from '../core/config.js';
import { createLogger } from '../core/log.js';
import { promqlEvaluator } from '../query/promqlEvaluator.js';
import { startQueryService } from '../query/service.js';
import { chartPageHandler } from '../query/ui/chartPage.js';

/** `metrics-pipeline query`: serves Prometheus' HTTP API and the chart page over ClickHouse until SIGINT/SIGTERM. */
export async function queryCommand(config: Config): Promise<void> {
  const log = createLogger('query');
  const service = await startQueryService({
    config,
    log,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples, maxPoints: config.query.maxPoints }),
    ui: chartPageHandler(log),
  });
  console.log(`query service listening on ${service.url} (Prometheus API under /api/v1/, chart page at /)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await service.close();
}
