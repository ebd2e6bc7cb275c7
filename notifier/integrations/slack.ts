import type { SlackConfig } from '../config.js';
import type { Notification } from '../notification.js';
import { parseNotificationTemplate, renderNotificationTemplate } from '../template.js';
import { postJson } from './http.js';

/** A message for a Slack incoming webhook: one attachment, red while firing, green when resolved. */
export interface SlackPayload {
  channel?: string;
  username?: string;
  attachments: Array<{
    color: 'danger' | 'good';
    title: string;
    title_link?: string;
    text: string;
    fallback: string;
    mrkdwn_in: string[];
  }>;
}

export function slackPayload(config: SlackConfig, n: Notification): SlackPayload {
  const title = renderNotificationTemplate(parseNotificationTemplate(config.title), n);
  const text = renderNotificationTemplate(parseNotificationTemplate(config.text), n);
  return {
    ...(config.channel === undefined ? {} : { channel: config.channel }),
    ...(config.username === undefined ? {} : { username: config.username }),
    attachments: [
      {
        color: n.status === 'firing' ? 'danger' : 'good',
        title,
        ...(n.externalURL ? { title_link: n.externalURL } : {}),
        text,
        fallback: title,
        mrkdwn_in: ['fallback', 'pretext', 'text'],
      },
    ],
  };
}

export function sendSlack(config: SlackConfig, n: Notification, signal: AbortSignal): Promise<void> {
  return postJson(config.api_url, slackPayload(config, n), signal);
}
