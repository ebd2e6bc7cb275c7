import { promqlEvaluator } from '../../query/promqlEvaluator.js';
import { startQueryService, type QueryService } from '../../query/service.js';
import { chartPageHandler } from '../../query/ui/chartPage.js';
import type { DemoData } from './demoData.js';
import { quietLog } from './helpers.js';

/** The query service with its chart page over the seeded data, on a free port, as `metrics-pipeline query` starts it. */
export function serveDemoData(data: DemoData): Promise<QueryService> {
  const config = { ...data.config, query: { ...data.config.query, port: 0 } };
  return startQueryService({
    config,
    log: quietLog,
    evaluator: promqlEvaluator({ maxSamples: config.query.maxSamples, maxPoints: config.query.maxPoints }),
    ui: chartPageHandler(quietLog),
    // The data is settled: no topology corrects it while the test runs.
    corrections: false,
  });
}
