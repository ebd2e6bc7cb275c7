import type { AlertmanagerConfig } from '../config.js';
import { goTime, type Notification } from '../notification.js';
import { postJson } from './http.js';

/** An alert as Alertmanager's `POST /api/v2/alerts` takes it (postableAlert). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/**
 * The notification's alerts for another Alertmanager. A firing alert is sent with endsAt = now +
 * 4 × repeat_interval (as Prometheus sends 4 × its resend delay): it stays firing there between
 * repeats, and resolves by itself if the notifier stops for good. A resolved alert carries its end.
 */
export function alertmanagerAlerts(n: Notification): PostableAlert[] {
  return n.alerts.map((a) => ({
    labels: a.labels,
    annotations: a.annotations,
    startsAt: goTime(a.startsAt),
    endsAt: goTime(a.endsAt ?? n.now + 4 * n.repeatIntervalMs),
  }));
}

export function sendAlertmanager(
  config: AlertmanagerConfig,
  n: Notification,
  signal: AbortSignal,
): Promise<void> {
  return postJson(`${config.url.replace(/\/+$/, '')}/api/v2/alerts`, alertmanagerAlerts(n), signal);
}
