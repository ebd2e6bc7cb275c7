import { describe, expect, it } from 'vitest';
import { createKafka } from '../../core/kafka.js';
import { loadRuleFiles } from '../../alerts/rules.js';
import { Registry } from '../../schemas/registry.js';
import { buildTopology } from '../../topology/graph.js';
import { startAlertStage } from '../../topology/alertStage.js';
import { startTopology } from '../../topology/topology.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quietLog, tempDir, testConfig } from './helpers.js';

/** `describe` against what `run` builds on the real services: the same nodes and edges. */
describe('the topology run on Kafka is the graph described', () => {
  it.each([
    ['co-partitioned', {}],
    ['repartitioned, with alert rules', { input: { coPartitioned: false } }],
  ])('%s', async (name, overrides) => {
    const dir = tempDir('wiring');
    const rulesFile = join(dir, 'rules.yaml');
    writeFileSync(
      rulesFile,
      'groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n',
    );
    const alerting = name.includes('alert');
    const config = testConfig(join(dir, 'ch'), {
      ...overrides,
      ...(alerting ? { alerts: { rules: [rulesFile] } } : {}),
    });
    const kafka = createKafka(config.kafka.brokers, 'test', quietLog);
    const registry = new Registry(config.schemaRegistry.url as string);
    const rules = alerting ? loadRuleFiles(config.alerts.rules) : undefined;
    const topology = await startTopology({
      config,
      kafka,
      registry,
      clickhouse: undefined,
      log: quietLog,
      rules,
    });
    const stage = rules
      ? await startAlertStage({
          config,
          kafka,
          registry,
          rules,
          metrics: topology.metrics,
          log: quietLog,
          wiring: topology.wiring,
        })
      : undefined;
    try {
      const graph = buildTopology(config);
      expect(topology.wiring.nodes()).toEqual(graph.nodes.map((n) => n.name));
      expect(topology.wiring.edges()).toEqual(graph.edges());
    } finally {
      await stage?.stop();
      await topology.stop();
    }
  });
});
