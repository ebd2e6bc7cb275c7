import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SilenceState } from './silences.js';

const PREFIX = 'metrics_pipeline_notifier_';

/**
 * The notifier's self-metrics, in Alertmanager's terms, in a registry of their own (served at
 * `GET /metrics`): notifications sent and failed per receiver and integration, requests retried,
 * alerts muted, and gauges of alerts, groups and silences read when scraped.
 */
export function createNotifierMetrics(gauges: {
  alerts(): { firing: number; resolved: number; groups: number };
  silences(): Record<SilenceState, number>;
}) {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const byIntegration = ['receiver', 'integration'] as const;
  return {
    registry,
    events: new Counter({
      name: `${PREFIX}events_total`,
      help: 'Alert events read from the alerts topic, by state',
      labelNames: ['state'] as const,
      registers,
    }),
    rejected: new Counter({
      name: `${PREFIX}events_rejected_total`,
      help: 'Alert topic records that could not be decoded (sent to the dead-letter topic)',
      registers,
    }),
    sent: new Counter({
      name: `${PREFIX}notifications_total`,
      help: 'Notifications delivered',
      labelNames: byIntegration,
      registers,
    }),
    failed: new Counter({
      name: `${PREFIX}notifications_failed_total`,
      help: 'Notifications that failed after every retry (tried again at the next group interval)',
      labelNames: byIntegration,
      registers,
    }),
    retries: new Counter({
      name: `${PREFIX}notification_retries_total`,
      help: 'Failed attempts followed by another',
      labelNames: byIntegration,
      registers,
    }),
    latency: new Histogram({
      name: `${PREFIX}notification_latency_seconds`,
      help: 'Time to deliver a notification, retries included',
      labelNames: byIntegration,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    muted: new Counter({
      name: `${PREFIX}alerts_muted_total`,
      help: 'Alerts kept from a receiver, by reason (counted once per alert and group while muted)',
      labelNames: ['reason'] as const,
      registers,
    }),
    alerts: new Gauge({
      name: `${PREFIX}alerts`,
      help: 'Alerts held by the notifier, by state',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const { firing, resolved } = gauges.alerts();
        this.set({ state: 'firing' }, firing);
        this.set({ state: 'resolved' }, resolved);
      },
    }),
    groups: new Gauge({
      name: `${PREFIX}aggregation_groups`,
      help: 'Aggregation groups',
      registers,
      collect() {
        this.set(gauges.alerts().groups);
      },
    }),
    silences: new Gauge({
      name: `${PREFIX}silences`,
      help: 'Silences known, by state',
      labelNames: ['state'] as const,
      registers,
      collect() {
        for (const [state, n] of Object.entries(gauges.silences())) this.set({ state }, n);
      },
    }),
  };
}

export type NotifierMetrics = ReturnType<typeof createNotifierMetrics>;
