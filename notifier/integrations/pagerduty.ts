import { PAGERDUTY_SEVERITIES, type PagerdutyConfig } from '../config.js';
import { goTime, type Notification, type NotifiedAlert } from '../notification.js';
import { postJson } from './http.js';

/** An Events API v2 event: one per alert, deduplicated by the alert's fingerprint. */
export type PagerdutyEvent =
  | {
      routing_key: string;
      event_action: 'trigger';
      dedup_key: string;
      payload: {
        summary: string;
        source: string;
        severity: (typeof PAGERDUTY_SEVERITIES)[number];
        timestamp: string;
        custom_details: { labels: Record<string, string>; annotations: Record<string, string> };
      };
      client?: string;
      client_url?: string;
    }
  | { routing_key: string; event_action: 'resolve'; dedup_key: string };

/** PagerDuty refuses summaries over 1024 characters. */
const MAX_SUMMARY = 1024;

/** A trigger per firing alert, a resolve per resolved one, in the notification's order. */
export function pagerdutyEvents(config: PagerdutyConfig, n: Notification): PagerdutyEvent[] {
  return n.alerts.map((a) =>
    a.status === 'resolved'
      ? { routing_key: config.routing_key, event_action: 'resolve', dedup_key: a.fingerprint }
      : {
          routing_key: config.routing_key,
          event_action: 'trigger',
          dedup_key: a.fingerprint,
          payload: {
            summary: truncate(summary(a)),
            source: config.source ?? a.labels.instance ?? a.labels.job ?? 'metrics-pipeline',
            severity: config.severity ?? severity(a.labels.severity),
            timestamp: goTime(a.startsAt),
            custom_details: { labels: a.labels, annotations: a.annotations },
          },
          ...(n.externalURL ? { client: 'metrics-pipeline', client_url: n.externalURL } : {}),
        },
  );
}

/** The alert's summary annotation, else its description, else `alertname: label=value, …`. */
function summary(a: NotifiedAlert): string {
  if (a.annotations.summary) return a.annotations.summary;
  if (a.annotations.description) return a.annotations.description;
  const others = Object.keys(a.labels)
    .filter((k) => k !== 'alertname')
    .sort()
    .map((k) => `${k}=${a.labels[k]}`);
  return `${a.labels.alertname ?? 'alert'}: ${others.join(', ')}`;
}

function severity(label: string | undefined): (typeof PAGERDUTY_SEVERITIES)[number] {
  const known = PAGERDUTY_SEVERITIES.find((s) => s === label);
  return known ?? 'error';
}

function truncate(text: string): string {
  return text.length <= MAX_SUMMARY ? text : `${text.slice(0, MAX_SUMMARY - 1)}…`;
}

/** Sends the events one by one; a failure fails the notification (PagerDuty deduplicates a retry). */
export async function sendPagerduty(
  config: PagerdutyConfig,
  n: Notification,
  signal: AbortSignal,
): Promise<void> {
  for (const event of pagerdutyEvents(config, n)) await postJson(config.url, event, signal);
}
