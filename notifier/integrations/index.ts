import type { ReceiverConfig } from '../config.js';
import type { Target } from '../dispatcher.js';
import type { Notification } from '../notification.js';
import { sendAlertmanager } from './alertmanager.js';
import { emailSender } from './email.js';
import { sendPagerduty } from './pagerduty.js';
import { sendSlack } from './slack.js';
import { sendWebhook } from './webhook.js';

/** One configured integration of a receiver: one attempt at a notification per `send`. */
export interface Integration extends Target {
  send(n: Notification, signal: AbortSignal): Promise<void>;
  close(): void;
}

/** The integrations of every receiver, ids `<receiver>/<type>/<index>` as Alertmanager names them. */
export function buildIntegrations(receivers: readonly ReceiverConfig[], timeoutMs: number): Integration[] {
  const out: Integration[] = [];
  const noop = (): void => undefined;
  for (const r of receivers) {
    const add = (
      integration: string,
      index: number,
      sendResolved: boolean,
      send: Integration['send'],
      close = noop,
    ) =>
      out.push({
        id: `${r.name}/${integration}/${index}`,
        receiver: r.name,
        integration,
        sendResolved,
        send,
        close,
      });
    r.webhook_configs.forEach((c, i) => add('webhook', i, c.send_resolved, (n, s) => sendWebhook(c, n, s)));
    r.slack_configs.forEach((c, i) => add('slack', i, c.send_resolved, (n, s) => sendSlack(c, n, s)));
    r.pagerduty_configs.forEach((c, i) =>
      add('pagerduty', i, c.send_resolved, (n, s) => sendPagerduty(c, n, s)),
    );
    r.email_configs.forEach((c, i) => {
      const sender = emailSender(c, timeoutMs);
      add('email', i, c.send_resolved, (n, s) => sender.send(n, s), sender.close);
    });
    r.alertmanager_configs.forEach((c, i) =>
      add('alertmanager', i, c.send_resolved, (n, s) => sendAlertmanager(c, n, s)),
    );
  }
  return out;
}
