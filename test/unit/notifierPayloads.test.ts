import { describe, expect, it } from 'vitest';
import { notifierSection } from '../../notifier/config.js';
import { alertmanagerAlerts } from '../../notifier/integrations/alertmanager.js';
import { emailMessage } from '../../notifier/integrations/email.js';
import { pagerdutyEvents } from '../../notifier/integrations/pagerduty.js';
import { slackPayload } from '../../notifier/integrations/slack.js';
import { webhookPayload } from '../../notifier/integrations/webhook.js';
import { goTime, makeNotification, subjectLine, type NotifiedAlert } from '../../notifier/notification.js';
import { parseNotificationTemplate, renderNotificationTemplate } from '../../notifier/template.js';

const T0 = Date.parse('2025-03-01T10:00:00Z');

const alert = (
  instance: string,
  status: 'firing' | 'resolved',
  extra: Record<string, string> = {},
): NotifiedAlert => ({
  fingerprint: `fp-${instance}`,
  status,
  labels: { alertname: 'HighCPU', job: 'node', instance, severity: 'warning', ...extra },
  annotations: { summary: `CPU high on ${instance}` },
  startsAt: T0,
  endsAt: status === 'resolved' ? T0 + 90_500 : null,
});

const notification = (alerts: NotifiedAlert[], externalURL = '') =>
  makeNotification({
    receiver: 'team',
    alerts,
    groupLabels: { alertname: 'HighCPU' },
    externalURL,
    groupKey: '{}:{alertname="HighCPU"}',
    repeatIntervalMs: 300_000,
    now: T0 + 120_000,
  });

/** A receiver's integration config with its defaults, as the config file would give it. */
function receiver(r: Record<string, unknown>) {
  const parsed = notifierSection.parse({ route: { receiver: 'team' }, receivers: [{ name: 'team', ...r }] });
  return parsed.receivers[0] as (typeof parsed.receivers)[number];
}

describe('notifications', () => {
  it('sort alerts as Alertmanager does and compute common labels, status and the subject line', () => {
    const n = notification([
      alert('b', 'firing'),
      alert('a', 'resolved'),
      alert('c', 'firing', { severity: 'page' }),
    ]);
    expect(n.alerts.map((a) => a.labels.instance)).toEqual(['a', 'b', 'c']);
    expect(n.status).toBe('firing');
    expect(n.commonLabels).toEqual({ alertname: 'HighCPU', job: 'node' });
    expect(subjectLine(n)).toBe('[FIRING:2] HighCPU (node)');
    expect(subjectLine(notification([alert('a', 'resolved')]))).toBe('[RESOLVED] HighCPU (a node warning)');
  });

  it('write times as Go does', () => {
    expect(goTime(T0)).toBe('2025-03-01T10:00:00Z');
    expect(goTime(T0 + 90_500)).toBe('2025-03-01T10:01:30.5Z');
    expect(goTime(null)).toBe('0001-01-01T00:00:00Z');
  });

  it('render the template subset, and reject the rest when parsed', () => {
    const n = notification([alert('a', 'firing'), alert('b', 'resolved')], 'https://am.example/');
    const render = (t: string) => renderNotificationTemplate(parseNotificationTemplate(t), n);
    expect(
      render(
        '[{{ .Status | toUpper }}:{{ .Alerts.Firing | len }}/{{ len .Alerts }}] {{ .GroupLabels.alertname }}',
      ),
    ).toBe('[FIRING:1/2] HighCPU');
    expect(render('{{ .CommonLabels.job | title }} {{- " " -}} {{ .ExternalURL }}{{/* a comment */}}')).toBe(
      'Node https://am.example/',
    );
    expect(render('{{ .CommonLabels.missing }}|{{ .Receiver }}|{{ template "__subject" . }}')).toBe(
      '|team|[FIRING:1] HighCPU (node warning)',
    );
    for (const [source, message] of [
      ['{{ .Alerts }}', 'a list cannot be printed'],
      ['{{ .Status | len | toUpper }}', 'toUpper takes string, not a number'],
      ['{{ .Labels.x }}', 'unknown field .Labels'],
      ['{{ if .Status }}x{{ end }}', 'the template action "if" is not supported'],
      ['{{ template "other" . }}', 'only {{ template "__subject" . }}'],
      ['{{ .Status', 'unclosed action'],
    ]) {
      expect(() => parseNotificationTemplate(source as string), source).toThrow(message as string);
    }
  });
});

describe('integration payloads', () => {
  it('webhook: version 4, at most max_alerts alerts, the rest counted', () => {
    const payload = webhookPayload(notification([alert('a', 'firing'), alert('b', 'resolved')]), 1);
    expect(payload).toEqual({
      version: '4',
      groupKey: '{}:{alertname="HighCPU"}',
      truncatedAlerts: 1,
      status: 'firing',
      receiver: 'team',
      groupLabels: { alertname: 'HighCPU' },
      commonLabels: { alertname: 'HighCPU', job: 'node', severity: 'warning' },
      commonAnnotations: {},
      externalURL: '',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'HighCPU', job: 'node', instance: 'a', severity: 'warning' },
          annotations: { summary: 'CPU high on a' },
          startsAt: '2025-03-01T10:00:00Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: '',
          fingerprint: 'fp-a',
        },
      ],
    });
  });

  it('PagerDuty: a trigger per firing alert, a resolve per resolved one, dedup_key = fingerprint', () => {
    const config = receiver({ pagerduty_configs: [{ routing_key: 'KEY' }] }).pagerduty_configs[0];
    const events = pagerdutyEvents(
      config as NonNullable<typeof config>,
      notification([
        alert('a', 'resolved'),
        { ...alert('b', 'firing', { severity: 'critical' }), annotations: {} },
      ]),
    );
    expect(events).toEqual([
      { routing_key: 'KEY', event_action: 'resolve', dedup_key: 'fp-a' },
      {
        routing_key: 'KEY',
        event_action: 'trigger',
        dedup_key: 'fp-b',
        payload: {
          summary: 'HighCPU: instance=b, job=node, severity=critical',
          source: 'b',
          severity: 'critical',
          timestamp: '2025-03-01T10:00:00Z',
          custom_details: {
            labels: { alertname: 'HighCPU', job: 'node', instance: 'b', severity: 'critical' },
            annotations: {},
          },
        },
      },
    ]);
    const unknownSeverity = pagerdutyEvents(
      config as NonNullable<typeof config>,
      notification([alert('c', 'firing', { severity: 'page' })]),
    );
    expect(unknownSeverity[0]).toMatchObject({ payload: { severity: 'error' } });
  });

  it('Alertmanager: firing alerts end 4 repeat intervals from now, resolved ones when they ended', () => {
    expect(alertmanagerAlerts(notification([alert('a', 'firing'), alert('b', 'resolved')]))).toEqual([
      {
        labels: alert('a', 'firing').labels,
        annotations: { summary: 'CPU high on a' },
        startsAt: '2025-03-01T10:00:00Z',
        endsAt: '2025-03-01T10:22:00Z',
      },
      {
        labels: alert('b', 'resolved').labels,
        annotations: { summary: 'CPU high on b' },
        startsAt: '2025-03-01T10:00:00Z',
        endsAt: '2025-03-01T10:01:30.5Z',
      },
    ]);
  });

  it('Slack: one attachment, red while firing, green once resolved, title linked to the external URL', () => {
    const config = receiver({
      slack_configs: [{ api_url: 'https://hooks.example/x', title: '{{ .Status }}' }],
    }).slack_configs[0];
    const resolved = slackPayload(
      config as NonNullable<typeof config>,
      notification([alert('a', 'resolved')], 'https://am.example/'),
    );
    expect(resolved).toEqual({
      attachments: [
        {
          color: 'good',
          title: 'resolved',
          title_link: 'https://am.example/',
          text: 'Resolved alerts (1):\n- alertname=HighCPU instance=a job=node severity=warning\n  summary: CPU high on a\n  since: 2025-03-01T10:00:00Z, until: 2025-03-01T10:01:30.5Z',
          fallback: 'resolved',
          mrkdwn_in: ['fallback', 'pretext', 'text'],
        },
      ],
    });
  });

  it('email: recipients, the subject (a Subject header template replaces it), extra headers, text body', () => {
    const config = receiver({
      email_configs: [
        {
          to: 'a@example.com, b@example.com',
          from: 'alerts@example.com',
          smarthost: 'localhost:25',
          headers: { Subject: 'Alert: {{ .GroupLabels.alertname }}', 'X-Team': '{{ .Receiver }}' },
        },
      ],
    }).email_configs[0];
    const message = emailMessage(config as NonNullable<typeof config>, notification([alert('a', 'firing')]));
    expect(message).toMatchObject({
      from: 'alerts@example.com',
      to: ['a@example.com', 'b@example.com'],
      subject: 'Alert: HighCPU',
      headers: { 'X-Team': 'team' },
    });
    expect(message.text).toBe(
      '[FIRING:1] HighCPU (a node warning)\n\nFiring alerts (1):\n- alertname=HighCPU instance=a job=node severity=warning\n  summary: CPU high on a\n  since: 2025-03-01T10:00:00Z\n',
    );
  });
});
