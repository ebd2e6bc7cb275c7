import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Config, ConfigInput } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { AlertCodec } from '../../notifier/alertCodec.js';
import type { NotifierConfigInput } from '../../notifier/config.js';
import { startNotifier, type Notifier } from '../../notifier/notifier.js';
import type { AlertEvent, AlertState } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import { freePort } from '../../services/ports.js';
import { cli, quietLog, readTopic, tempDir, testConfig, testKafka, unique } from './helpers.js';

const dir = tempDir('notifier');
const T0 = Date.parse('2025-03-01T10:00:00Z');
const TIMING = { group_wait: '200ms', group_interval: '1s', repeat_interval: '1h' };
const DELIVERY = { attempts: 3, initial_backoff: '50ms', max_backoff: '200ms', timeout: '2s' };

let http: HttpReceiver;
let producer: Producer;

beforeAll(async () => {
  http = await httpReceiver();
  producer = testKafka().producer();
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await http?.close();
});

describe('notifier receivers', () => {
  it('delivers to a webhook, Slack, PagerDuty, email and a real Alertmanager, with exact payloads', async () => {
    const smtp = await smtpReceiver();
    const am = await startAlertmanager(join(dir, 'alertmanager'));
    try {
      const config = notifierConfig({
        external_url: 'http://notifier.example/',
        route: { receiver: 'oncall', group_by: ['alertname'], ...TIMING },
        receivers: [
          {
            name: 'oncall',
            webhook_configs: [{ url: `${http.url}/all/webhook` }],
            slack_configs: [{ api_url: `${http.url}/all/slack`, channel: '#oncall', username: 'notifier' }],
            pagerduty_configs: [{ routing_key: 'R0UT1NGKEY', url: `${http.url}/all/pagerduty` }],
            email_configs: [
              {
                to: 'oncall@example.com, sre@example.com',
                from: 'notifier@example.com',
                smarthost: `127.0.0.1:${smtp.port}`,
                require_tls: false,
                send_resolved: true,
              },
            ],
            alertmanager_configs: [{ url: am.url }],
          },
        ],
      });
      const notifier = await start(config);
      try {
        const db1 = alert('00000000000000d1', 'firing', { instance: 'db-1', severity: 'critical' }, 1);
        const db2 = alert('00000000000000d2', 'firing', { instance: 'db-2', severity: 'critical' }, 2);
        await publish(config, db1, db2);

        const [webhook] = await http.waitFor('/all/webhook', 1);
        const firingAlerts = [db1, db2].map((a) => webhookAlert(a));
        expect(webhook?.body).toEqual({
          version: '4',
          groupKey: '{}:{alertname="HighCPU"}',
          truncatedAlerts: 0,
          status: 'firing',
          receiver: 'oncall',
          groupLabels: { alertname: 'HighCPU' },
          commonLabels: { alertname: 'HighCPU', severity: 'critical' },
          commonAnnotations: {},
          externalURL: 'http://notifier.example/',
          alerts: firingAlerts,
        });
        const [slack] = await http.waitFor('/all/slack', 1);
        const listed = (n: number, status: string) =>
          `- alertname=HighCPU instance=db-${n} severity=critical\n  summary: CPU above 90% on db-${n}\n  since: 2025-03-01T10:00:00Z${status}`;
        expect(slack?.body).toEqual({
          channel: '#oncall',
          username: 'notifier',
          attachments: [
            {
              color: 'danger',
              title: '[FIRING:2] HighCPU (critical)',
              title_link: 'http://notifier.example/',
              text: `Firing alerts (2):\n${listed(1, '')}\n${listed(2, '')}`,
              fallback: '[FIRING:2] HighCPU (critical)',
              mrkdwn_in: ['fallback', 'pretext', 'text'],
            },
          ],
        });
        const trigger = (a: AlertEvent) => ({
          routing_key: 'R0UT1NGKEY',
          event_action: 'trigger',
          dedup_key: a.fingerprint,
          payload: {
            summary: a.annotations.summary,
            source: a.labels.instance,
            severity: 'critical',
            timestamp: '2025-03-01T10:00:00Z',
            custom_details: { labels: a.labels, annotations: a.annotations },
          },
          client: 'metrics-pipeline',
          client_url: 'http://notifier.example/',
        });
        expect((await http.waitFor('/all/pagerduty', 2)).map((r) => r.body)).toEqual([
          trigger(db1),
          trigger(db2),
        ]);
        const [mail] = await smtp.waitFor(1);
        expect(mail?.from).toBe('notifier@example.com');
        expect(mail?.to).toEqual(['oncall@example.com', 'sre@example.com']);
        expect(mail?.raw).toMatch(/^Subject: \[FIRING:2\] HighCPU \(critical\)\r?$/m);
        expect(mail?.raw).toContain('summary: CPU above 90% on db-1');
        const inAlertmanager = await until('both alerts in Alertmanager', async () => {
          const alerts = await am.alerts();
          return alerts.length === 2 && alerts.every((a) => a.status.state === 'active') ? alerts : undefined;
        });
        expect(
          inAlertmanager
            .map((a) => ({ labels: a.labels, annotations: a.annotations, startsAt: a.startsAt }))
            .sort((a, b) => (a.labels.instance as string).localeCompare(b.labels.instance as string)),
        ).toEqual(
          [db1, db2].map((a) => ({
            labels: a.labels,
            annotations: a.annotations,
            startsAt: '2025-03-01T10:00:00.000Z',
          })),
        );
        // Firing alerts stay up there for 4 × repeat_interval unless repeated or resolved.
        for (const a of inAlertmanager)
          expect(Date.parse(a.endsAt)).toBeGreaterThan(Date.now() + 3 * 3600_000);

        const resolved = alert(db1.fingerprint, 'resolved', { instance: 'db-1', severity: 'critical' }, 3);
        await publish(config, resolved);
        const second = (await http.waitFor('/all/webhook', 2))[1];
        expect(second?.body).toEqual({
          ...(webhook?.body as object),
          alerts: [webhookAlert(resolved), firingAlerts[1]],
        });
        expect((await http.waitFor('/all/slack', 2))[1]?.body).toMatchObject({
          attachments: [
            {
              color: 'danger',
              title: '[FIRING:1] HighCPU (critical)',
              text: `Firing alerts (1):\n${listed(2, '')}\n\nResolved alerts (1):\n${listed(1, ', until: 2025-03-01T10:01:00Z')}`,
            },
          ],
        });
        expect((await http.waitFor('/all/pagerduty', 4)).slice(2).map((r) => r.body)).toEqual([
          { routing_key: 'R0UT1NGKEY', event_action: 'resolve', dedup_key: db1.fingerprint },
          trigger(db2),
        ]);
        expect((await smtp.waitFor(2))[1]?.raw).toMatch(/^Subject: \[FIRING:1\] HighCPU \(critical\)\r?$/m);
        await until('db-1 to be resolved in Alertmanager', async () => {
          const alerts = await am.alerts();
          return alerts.length === 1 && alerts[0]?.labels.instance === 'db-2' ? true : undefined;
        });
      } finally {
        await notifier.stop();
      }
    } finally {
      await am.stop();
      await smtp.close();
    }
  });
});

describe('notifier timing', () => {
  it('turns a flapping alert into at most one notification per group_interval', async () => {
    const config = notifierConfig({
      route: { receiver: 'team', group_by: ['alertname'], ...TIMING },
      receivers: [{ name: 'team', webhook_configs: [{ url: `${http.url}/flap` }] }],
    });
    const notifier = await start(config);
    try {
      const fp = '00000000000000f1';
      // Firing long enough for the first notification, then 60 state changes, one every ~50 ms.
      await publish(config, alert(fp, 'firing', {}, 0));
      await http.waitFor('/flap', 1);
      for (let i = 1; i <= 60; i++) {
        await publish(config, alert(fp, i % 2 === 1 ? 'resolved' : 'firing', {}, i));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Then it resolves for good, and another alert of the group fires: the notification that
      // carries the newcomer is the last one the flapping can be part of.
      const other = '00000000000000f2';
      await publish(config, alert(fp, 'resolved', {}, 61), alert(other, 'firing', { instance: 'other' }, 1));
      const received = await http.waitUntil('/flap', (all) =>
        all.some((r) => fingerprints(r).includes(`${other}:firing`)),
      );
      const times = received.map((r) => r.at);
      for (let i = 1; i < times.length; i++)
        expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(900);
      // 61 changes in ~3.5 s: a notification per group_interval at most.
      expect(received.length).toBeLessThanOrEqual(
        Math.ceil(((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000) + 1,
      );
      expect(received.length).toBeLessThanOrEqual(6);
      expect(fingerprints(received.at(-1))).not.toContain(`${fp}:firing`);
    } finally {
      await notifier.stop();
    }
  });

  it('retries a failing receiver with backoff, and it does not hold another receiver', async () => {
    let failures = 4;
    http.respond('/failing', () => (failures-- > 0 ? 500 : 200));
    const config = notifierConfig({
      route: {
        receiver: 'flaky',
        group_by: ['alertname'],
        ...TIMING,
        routes: [{ receiver: 'steady', continue: true }, { receiver: 'flaky' }],
      },
      receivers: [
        { name: 'flaky', webhook_configs: [{ url: `${http.url}/failing` }] },
        { name: 'steady', webhook_configs: [{ url: `${http.url}/steady` }] },
      ],
    });
    const notifier = await start(config);
    try {
      await publish(config, alert('00000000000000e1', 'firing', {}, 1));
      const [steady] = await http.waitFor('/steady', 1);
      // 3 attempts fail at the first flush, the 4th fails and the 5th succeeds at the next one.
      const attempts = await http.waitFor('/failing', 5);
      expect(attempts.every((a) => JSON.stringify(a.body) === JSON.stringify(attempts[0]?.body))).toBe(true);
      expect((steady?.at as number) < (attempts[4]?.at as number)).toBe(true);
      expect((attempts[3]?.at as number) - (attempts[0]?.at as number)).toBeGreaterThanOrEqual(800);
      const metrics = await (await fetch(`${notifier.url}/metrics`)).text();
      expect(metrics).toContain(
        'metrics_pipeline_notifier_notifications_total{receiver="steady",integration="webhook"} 1',
      );
      expect(metrics).toContain(
        'metrics_pipeline_notifier_notifications_total{receiver="flaky",integration="webhook"} 1',
      );
      expect(metrics).toContain(
        'metrics_pipeline_notifier_notifications_failed_total{receiver="flaky",integration="webhook"} 1',
      );
      expect(metrics).toContain(
        'metrics_pipeline_notifier_notification_retries_total{receiver="flaky",integration="webhook"} 3',
      );
    } finally {
      await notifier.stop();
    }
  });
});

describe('notifier muting', () => {
  it('mutes alerts silenced in the config and from the CLI, and inhibited ones; unmutes them when that ends', async () => {
    const config = notifierConfig({
      route: { receiver: 'team', group_by: ['alertname'], ...TIMING },
      receivers: [{ name: 'team', webhook_configs: [{ url: `${http.url}/mute` }] }],
      inhibit_rules: [
        {
          source_matchers: ['alertname="HostDown"'],
          target_matchers: ['alertname="HighCPU"'],
          equal: ['instance'],
        },
      ],
      silences: [{ matchers: ['instance="db-9"'], comment: 'decommissioned', createdBy: 'ops' }],
    });
    const file = join(tempDir('notifier-cli'), 'config.yaml');
    writeFileSync(file, stringify(config));
    const add = cli([
      '--config',
      file,
      'notifier',
      'silence',
      'add',
      '--matcher',
      'alertname="DiskFull"',
      '--matcher',
      'instance=~"db-.*"',
      '--duration',
      '2h',
      '--comment',
      'disk swap',
      '--author',
      'alice',
    ]);
    expect(await add.exit, add.stderr()).toBe(0);
    const id = add.stdout().trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const list = cli(['--config', file, 'notifier', 'silence', 'list']);
    expect(await list.exit, list.stderr()).toBe(0);
    const lines = list.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATE\s+MATCHERS\s+STARTS\s+ENDS\s+CREATED BY\s+COMMENT$/);
    expect(lines.find((l) => l.startsWith(id))).toMatch(
      / active +alertname="DiskFull" instance=~"db-\.\*" .* alice +disk swap$/,
    );
    expect(lines.find((l) => l.startsWith('config:0'))).toMatch(
      / active +instance="db-9" .* never +ops +decommissioned$/,
    );

    const notifier = await start(config);
    try {
      const down = alert('00000000000000a1', 'firing', { alertname: 'HostDown', instance: 'db-1' }, 1);
      await publish(
        config,
        down,
        alert('00000000000000a2', 'firing', { instance: 'db-1' }, 1), // inhibited by HostDown on db-1
        alert('00000000000000a3', 'firing', { instance: 'db-2' }, 1),
        alert('00000000000000a4', 'firing', { instance: 'db-9' }, 1), // config silence
        alert('00000000000000a5', 'firing', { alertname: 'DiskFull', instance: 'db-3' }, 1), // CLI silence
      );
      await until('the muted alerts to be counted', async () => {
        const text = await (await fetch(`${notifier.url}/metrics`)).text();
        return text.includes('alerts_muted_total{reason="silenced"} 2') &&
          text.includes('alerts_muted_total{reason="inhibited"} 1')
          ? true
          : undefined;
      });
      const first = await http.waitFor('/mute', 2);
      expect(first.map((r) => fingerprints(r)).sort()).toEqual([
        ['00000000000000a1:firing'],
        ['00000000000000a3:firing'],
      ]);

      const expire = cli(['--config', file, 'notifier', 'silence', 'expire', id]);
      expect(await expire.exit, expire.stderr()).toBe(0);
      const [disk] = (await http.waitFor('/mute', 3)).slice(2);
      expect(fingerprints(disk)).toEqual(['00000000000000a5:firing']);

      await publish(
        config,
        alert(down.fingerprint, 'resolved', { alertname: 'HostDown', instance: 'db-1' }, 2),
      );
      const after = (await http.waitFor('/mute', 5)).slice(3);
      expect(after.map((r) => fingerprints(r)).sort()).toEqual([
        ['00000000000000a1:resolved'],
        ['00000000000000a2:firing', '00000000000000a3:firing'],
      ]);
      expect(http.received('/mute')).toHaveLength(5);
    } finally {
      await notifier.stop();
    }
  });
});

describe('notifier restart', () => {
  it('stopped and started on the same topics, neither drops nor repeats a notification', async () => {
    const config = notifierConfig({
      route: { receiver: 'team', group_by: ['alertname'], ...TIMING },
      receivers: [{ name: 'team', webhook_configs: [{ url: `${http.url}/restart` }] }],
    });
    const a = alert('00000000000000b1', 'firing', { alertname: 'A' }, 1);
    const first = await start(config);
    try {
      await publish(config, a, alert('00000000000000b2', 'firing', { alertname: 'B' }, 1));
      await http.waitFor('/restart', 2);
    } finally {
      await first.stop();
    }
    // While it is down: A resolves, C fires.
    await publish(
      config,
      alert(a.fingerprint, 'resolved', { alertname: 'A' }, 2),
      alert('00000000000000b3', 'firing', { alertname: 'C' }, 2),
    );
    const second = await start(config);
    try {
      await second.caughtUp;
      const all = await http.waitFor('/restart', 4);
      expect(
        all
          .map((r) => fingerprints(r))
          .slice(2)
          .sort(),
      ).toEqual([['00000000000000b1:resolved'], ['00000000000000b3:firing']]);
      // B is unchanged and within its repeat_interval: its group's flushes after the restart (at
      // most one group_interval away) send nothing. An absence cannot be awaited: give them 2 intervals.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(http.received('/restart')).toHaveLength(4);
    } finally {
      await second.stop();
    }
  });

  it('a second notifier in the same group stops with an error, and the first keeps every partition', async () => {
    const config = notifierConfig({
      route: { receiver: 'team', group_by: ['alertname'], ...TIMING },
      receivers: [{ name: 'team', webhook_configs: [{ url: `${http.url}/second` }] }],
    });
    const first = await start(config);
    try {
      const second = await startNotifier({ config, log: createLogger('second', 'silent') });
      try {
        await expect(second.done).rejects.toThrow(
          /given 0 of the 3 partitions .*: another notifier of group/,
        );
      } finally {
        await second.stop();
      }
      await publish(config, alert('00000000000000d9', 'firing', {}, 1));
      const [got] = await http.waitFor('/second', 1);
      expect(fingerprints(got)).toEqual(['00000000000000d9:firing']);
    } finally {
      await first.stop();
    }
  });

  it('dead-letters records that are not alert events, and serves /healthz and /metrics', async () => {
    const config = notifierConfig({
      route: { receiver: 'team', ...TIMING },
      receivers: [{ name: 'team' }],
    });
    const notifier = await start(config);
    try {
      const topic = config.notifier?.alerts_topic as string;
      await producer.send({ topic, messages: [{ key: 'x', value: Buffer.from('not avro') }] });
      const [dead] = await readTopic(config.topics.dlq, 1);
      expect(dead?.value?.toString()).toBe('not avro');
      expect(dead?.headers?.['dlq.reason']?.toString()).toMatch(/wrong magic byte/);
      expect(await (await fetch(`${notifier.url}/healthz`)).text()).toBe('ok\n');
      expect((await fetch(`${notifier.url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${notifier.url}/metrics`)).text()).toContain(
        'metrics_pipeline_notifier_events_rejected_total 1',
      );
    } finally {
      await notifier.stop();
    }
  });
});

// ——— helpers ———

function notifierConfig(notifier: Partial<NotifierConfigInput>): Config {
  return testConfig(join(dir, 'clickhouse'), {
    notifier: { alerts_topic: unique('alerts'), delivery: DELIVERY, ...notifier } as NotifierConfigInput,
  } as ConfigInput);
}

async function start(config: Config): Promise<Notifier> {
  const notifier = await startNotifier({ config, log: quietLog });
  await notifier.caughtUp;
  return notifier;
}

const codecs = new Map<string, AlertCodec>();

/** Publishes alert events to the config's alerts topic, keyed by fingerprint, in Confluent wire format. */
async function publish(config: Config, ...events: AlertEvent[]): Promise<void> {
  const url = config.schemaRegistry.url as string;
  let codec = codecs.get(url);
  if (!codec) codecs.set(url, (codec = new AlertCodec(new Registry(url))));
  const topic = config.notifier?.alerts_topic as string;
  const messages = await Promise.all(
    events.map(async (e) => ({ key: e.fingerprint, value: await (codec as AlertCodec).encode(topic, e) })),
  );
  await producer.send({ topic, messages, acks: -1 });
}

/** An alert event of `HighCPU` (unless labels say otherwise); `step` orders events of one fingerprint. */
function alert(
  fingerprint: string,
  state: AlertState,
  labels: Record<string, string>,
  step: number,
): AlertEvent {
  const all: Record<string, string> = { alertname: 'HighCPU', ...labels };
  return {
    fingerprint,
    rule: all.alertname ?? 'HighCPU',
    state,
    severity: all.severity ?? 'none',
    labels: all,
    annotations: all.instance ? { summary: `CPU above 90% on ${all.instance}` } : {},
    value: 95,
    startsAt: T0,
    endsAt: state === 'resolved' ? T0 + 60_000 : null,
    timestamp: T0 + step * 1000,
  };
}

function webhookAlert(a: AlertEvent) {
  return {
    status: a.state,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: '2025-03-01T10:00:00Z',
    endsAt: a.state === 'resolved' ? '2025-03-01T10:01:00Z' : '0001-01-01T00:00:00Z',
    generatorURL: '',
    fingerprint: a.fingerprint,
  };
}

/** `fingerprint:status` of the alerts of a webhook notification. */
function fingerprints(r: Received | undefined): string[] {
  const body = r?.body as { alerts: Array<{ fingerprint: string; status: string }> };
  return body.alerts.map((a) => `${a.fingerprint}:${a.status}`);
}

/** Polls `check` until it returns something (for what announces itself only when asked: Alertmanager's API, metrics). */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Received {
  path: string;
  body: unknown;
  at: number;
}

interface HttpReceiver {
  url: string;
  /** Sets the status answered on a path (default 200). */
  respond(path: string, status: () => number): void;
  received(path: string): Received[];
  /** Resolves with the requests to `path` once there are at least `count`. */
  waitFor(path: string, count: number): Promise<Received[]>;
  waitUntil(path: string, done: (all: Received[]) => boolean): Promise<Received[]>;
  close(): Promise<void>;
}

/** A local HTTP server standing for webhook, Slack and PagerDuty endpoints: records JSON bodies by path. */
async function httpReceiver(): Promise<HttpReceiver> {
  const got: Received[] = [];
  const statuses = new Map<string, () => number>();
  let wake: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      got.push({ path, body: JSON.parse(Buffer.concat(chunks).toString() || 'null'), at: Date.now() });
      res.statusCode = statuses.get(path)?.() ?? 200;
      res.end(res.statusCode === 200 ? 'ok' : 'failing on purpose');
      const woken = wake;
      wake = [];
      for (const w of woken) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const received = (path: string) => got.filter((r) => r.path === path);
  const waitUntil = async (path: string, done: (all: Received[]) => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!done(received(path))) {
      const timeout = deadline - Date.now();
      if (timeout <= 0) throw new Error(`timed out on ${path}; received: ${JSON.stringify(received(path))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout);
        wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return received(path);
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    respond: (path, status) => statuses.set(path, status),
    received,
    waitUntil,
    waitFor: (path, count) => waitUntil(path, (all) => all.length >= count),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A real SMTP server (smtp-server) on a free port, keeping what it receives. */
async function smtpReceiver(): Promise<{
  port: number;
  waitFor(count: number): Promise<Array<{ from: string; to: string[]; raw: string }>>;
  close(): Promise<void>;
}> {
  const mails: Array<{ from: string; to: string[]; raw: string }> = [];
  let wake: Array<() => void> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        mails.push({
          from: from ? from.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString(),
        });
        callback();
        const woken = wake;
        wake = [];
        for (const w of woken) w();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    async waitFor(count) {
      const deadline = Date.now() + 30_000;
      while (mails.length < count) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${count} emails, got ${mails.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          wake.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return mails;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

/** Debian's Prometheus Alertmanager on a free port, without clustering, its data in `dir`. */
async function startAlertmanager(
  dir: string,
): Promise<{ url: string; alerts(): Promise<AlertmanagerAlert[]>; stop(): Promise<void> }> {
  const port = await freePort();
  const file = join(tempDir('alertmanager-config'), 'alertmanager.yml');
  writeFileSync(file, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n");
  const child: ChildProcess = spawn(
    '/usr/bin/prometheus-alertmanager',
    [
      `--config.file=${file}`,
      `--storage.path=${dir}`,
      '--cluster.listen-address=',
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await until('Alertmanager to be ready', async () =>
      (await fetch(`${url}/-/ready`)).ok ? true : undefined,
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}: ${stderr.slice(-2000)}`);
  }
  return {
    url,
    alerts: async () => (await (await fetch(`${url}/api/v2/alerts`)).json()) as AlertmanagerAlert[],
    stop,
  };
}
