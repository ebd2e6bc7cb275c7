import { createTransport, type Transporter } from 'nodemailer';
import type { EmailConfig } from '../config.js';
import { subjectLine, type Notification } from '../notification.js';
import { parseNotificationTemplate, renderNotificationTemplate } from '../template.js';
import { DeliveryError } from './http.js';

/** An email as the notifier composes it. */
export interface EmailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  /** Extra headers from the config, rendered. */
  headers: Record<string, string>;
}

/** The email of a notification: `Subject` header (default: Alertmanager's subject line), text body. */
export function emailMessage(config: EmailConfig, n: Notification): EmailMessage {
  const render = (source: string) => renderNotificationTemplate(parseNotificationTemplate(source), n);
  const headers: Record<string, string> = {};
  let subject = subjectLine(n);
  for (const [name, source] of Object.entries(config.headers)) {
    if (name.toLowerCase() === 'subject') subject = render(source);
    else if (!['to', 'from'].includes(name.toLowerCase())) headers[name] = render(source);
  }
  return {
    from: config.from,
    to: config.to.split(',').map((a) => a.trim()),
    subject,
    text: render(config.text),
    headers,
  };
}

/**
 * An SMTP sender for one email config (nodemailer). As in Alertmanager, `require_tls` demands
 * STARTTLS, without it the session stays in plain text; port 465 is implicit TLS.
 */
export function emailSender(
  config: EmailConfig,
  timeoutMs: number,
): { send(n: Notification, signal: AbortSignal): Promise<void>; close(): void } {
  const [host, port] = config.smarthost.split(':') as [string, string];
  const transport: Transporter = createTransport({
    host,
    port: Number(port),
    secure: Number(port) === 465,
    requireTLS: config.require_tls,
    ignoreTLS: !config.require_tls,
    name: config.hello,
    auth: config.auth_username ? { user: config.auth_username, pass: config.auth_password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  return {
    async send(n, signal) {
      signal.throwIfAborted();
      const message = emailMessage(config, n);
      try {
        await transport.sendMail(message);
      } catch (error) {
        const e = error as { message?: string; permanent?: boolean; responseCode?: number };
        throw new DeliveryError(`email via ${config.smarthost}: ${e.message ?? String(error)}`, {
          cause: error,
          // SMTP 5xx answers are final; 4xx answers and connection failures may pass later.
          retriable: e.permanent !== true && !(e.responseCode !== undefined && e.responseCode >= 500),
        });
      }
    },
    close: () => transport.close(),
  };
}
