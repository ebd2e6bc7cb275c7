import type { WebhookConfig } from '../config.js';
import { goTime, type Notification } from '../notification.js';
import { postJson } from './http.js';

/** Alertmanager's webhook payload, version 4. */
export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: Array<{
    status: 'firing' | 'resolved';
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    generatorURL: string;
    fingerprint: string;
  }>;
}

/** The payload of a notification, the first `maxAlerts` alerts only when it is not 0. */
export function webhookPayload(n: Notification, maxAlerts = 0): WebhookPayload {
  const alerts = maxAlerts > 0 ? n.alerts.slice(0, maxAlerts) : n.alerts;
  return {
    version: '4',
    groupKey: n.groupKey,
    truncatedAlerts: n.alerts.length - alerts.length,
    status: n.status,
    receiver: n.receiver,
    groupLabels: n.groupLabels,
    commonLabels: n.commonLabels,
    commonAnnotations: n.commonAnnotations,
    externalURL: n.externalURL,
    alerts: alerts.map((a) => ({
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: goTime(a.startsAt),
      endsAt: goTime(a.endsAt),
      generatorURL: '',
      fingerprint: a.fingerprint,
    })),
  };
}

export function sendWebhook(config: WebhookConfig, n: Notification, signal: AbortSignal): Promise<void> {
  return postJson(config.url, webhookPayload(n, config.max_alerts), signal);
}
