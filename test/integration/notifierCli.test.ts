import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Config, ConfigInput } from '../../core/config.js';
import { AlertCodec } from '../../notifier/alertCodec.js';
import type { NotifierConfigInput } from '../../notifier/config.js';
import type { AlertEvent, AlertState } from '../../schemas/index.js';
import { Registry } from '../../schemas/registry.js';
import { endpoints } from '../setup/endpoints.js';
import { cli, tempDir, testConfig, testKafka, unique } from './helpers.js';

const dir = tempDir('notifier-cli');
const T0 = Date.parse('2025-03-01T10:00:00Z');

describe('metrics-pipeline notifier', () => {
  it('killed (SIGKILL) after delivering and restarted, neither drops nor repeats a notification', async () => {
    const webhook = await webhookReceiver();
    try {
      const { config, file } = configFile('kill', {
        alerts_topic: unique('alerts'),
        route: {
          receiver: 'team',
          group_by: ['alertname'],
          group_wait: '200ms',
          group_interval: '1s',
          repeat_interval: '1h',
        },
        receivers: [{ name: 'team', webhook_configs: [{ url: webhook.url }] }],
      });
      const first = cli(['--config', file, 'notifier'], { LOG_LEVEL: 'debug' });
      await first.waitFor(/"msg":"notifier caught up"/);
      await publish(
        config,
        event('00000000000000c1', 'A', 'firing', 1),
        event('00000000000000c2', 'B', 'firing', 1),
      );
      await webhook.waitFor(2);
      // Both notifications are logged as delivered (durably) before the kill.
      await first.waitFor(/"notified":2,.*"msg":"state persisted"/);
      first.child.kill('SIGKILL');
      expect(await first.exit).toBe('SIGKILL');

      await publish(
        config,
        event('00000000000000c1', 'A', 'resolved', 2),
        event('00000000000000c3', 'C', 'firing', 2),
      );
      const second = cli(['--config', file, 'notifier']);
      try {
        const all = await webhook.waitFor(4);
        expect(all.slice(0, 2).map(summary).sort()).toEqual([
          'A:00000000000000c1:firing',
          'B:00000000000000c2:firing',
        ]);
        expect(all.slice(2).map(summary).sort()).toEqual([
          'A:00000000000000c1:resolved',
          'C:00000000000000c3:firing',
        ]);
        // B's group flushes within a group_interval of the restart and must send nothing (an absence: waited for).
        await second.waitFor(/"msg":"notifier caught up"/);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        expect(webhook.received()).toHaveLength(4);
      } finally {
        second.child.kill('SIGTERM');
      }
      expect(await second.exit, second.stderr().slice(-2000)).toBe(0);
      expect(second.stderr()).toMatch(/"msg":"notifier stopped"/);
    } finally {
      await webhook.close();
    }
  });

  it('refuses a bad notifier config at start with the path and the reason', async () => {
    const bad = rawConfigFile('bad', {
      route: {
        receiver: 'team',
        group_wait: '30 seconds',
        routes: [{ receiver: 'nobody', matchers: ['severity=~"("'] }],
      },
      receivers: [{ name: 'team', webhook_configs: [{ url: 'ftp://example.com' }], sms_configs: [] }],
    });
    const run = cli(['--config', bad, 'notifier']);
    expect(await run.exit).toBe(2);
    const message = run.stderr();
    expect(message).toContain('notifier.route.group_wait: invalid duration "30 seconds"');
    expect(message).toContain(
      'notifier.route.routes.0.matchers.0: invalid matcher "severity=~\\"(\\"": invalid regular expression',
    );
    expect(message).toContain('notifier.receivers.0.webhook_configs.0.url: an http:// or https:// URL');
    expect(message).toContain('notifier.receivers.0.sms_configs: unknown setting');

    const unknown = rawConfigFile('unknown', {
      route: { receiver: 'team', routes: [{ receiver: 'nobody' }] },
      receivers: [{ name: 'team' }],
    });
    const again = cli(['--config', unknown, 'notifier']);
    expect(await again.exit).toBe(2);
    expect(again.stderr()).toContain(
      'notifier.route.routes.0.receiver: unknown receiver "nobody" (receivers: team)',
    );

    const none = cli(['--config', rawConfigFile('none', undefined), 'notifier']);
    expect(await none.exit).toBe(2);
    expect(none.stderr()).toContain('the configuration has no notifier section');
  });

  it('rejects silences that are malformed or would mute everything, and unknown ids', async () => {
    const { file } = configFile('silence', { route: { receiver: 'team' }, receivers: [{ name: 'team' }] });
    const matchAll = cli([
      '--config',
      file,
      'notifier',
      'silence',
      'add',
      '--matcher',
      'env=~".*"',
      '--duration',
      '1h',
      '--comment',
      'x',
    ]);
    expect(await matchAll.exit).toBe(2);
    expect(matchAll.stderr()).toContain('--matcher: at least one matcher must not match the empty string');
    const badDuration = cli([
      '--config',
      file,
      'notifier',
      'silence',
      'add',
      '--matcher',
      'a="b"',
      '--duration',
      '2 hours',
      '--comment',
      'x',
    ]);
    expect(await badDuration.exit).toBe(2);
    expect(badDuration.stderr()).toContain('--duration: invalid duration "2 hours"');
    const expire = cli(['--config', file, 'notifier', 'silence', 'expire', 'no-such-id']);
    expect(await expire.exit).toBe(1);
    expect(expire.stderr()).toContain('no silence with id no-such-id');
  });
});

function configFile(name: string, notifier: Partial<NotifierConfigInput>): { config: Config; file: string } {
  const config = testConfig(join(dir, 'clickhouse'), {
    notifier: notifier as NotifierConfigInput,
  } as ConfigInput);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  return { config, file };
}

/** A config file written as given, not validated here: the command under test validates it. */
function rawConfigFile(name: string, notifier: unknown): string {
  const { brokers, registryUrl } = endpoints();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({ appId: unique('t'), kafka: { brokers }, schemaRegistry: { url: registryUrl }, notifier }),
  );
  return file;
}

async function publish(config: Config, ...events: AlertEvent[]): Promise<void> {
  const topic = config.notifier?.alerts_topic as string;
  const codec = new AlertCodec(new Registry(config.schemaRegistry.url as string));
  const producer = testKafka().producer();
  await producer.connect();
  try {
    const messages = await Promise.all(
      events.map(async (e) => ({ key: e.fingerprint, value: await codec.encode(topic, e) })),
    );
    await producer.send({ topic, messages, acks: -1 });
  } finally {
    await producer.disconnect();
  }
}

function event(fingerprint: string, alertname: string, state: AlertState, step: number): AlertEvent {
  return {
    fingerprint,
    rule: alertname,
    state,
    severity: 'none',
    labels: { alertname },
    annotations: {},
    value: 1,
    startsAt: T0,
    endsAt: state === 'resolved' ? T0 + 60_000 : null,
    timestamp: T0 + step * 1000,
  };
}

/** `alertname:fingerprint:status` of a one-alert webhook notification. */
function summary(body: unknown): string {
  const { groupLabels, alerts } = body as {
    groupLabels: { alertname: string };
    alerts: Array<{ fingerprint: string; status: string }>;
  };
  return alerts.map((a) => `${groupLabels.alertname}:${a.fingerprint}:${a.status}`).join(' ');
}

/** A local webhook endpoint: keeps the JSON bodies it receives. */
async function webhookReceiver(): Promise<{
  url: string;
  received(): unknown[];
  waitFor(count: number): Promise<unknown[]>;
  close(): Promise<void>;
}> {
  const bodies: unknown[] = [];
  let wake: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.end('ok');
      const woken = wake;
      wake = [];
      for (const w of woken) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received: () => bodies,
    async waitFor(count) {
      const deadline = Date.now() + 60_000;
      while (bodies.length < count) {
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${count} notifications: ${JSON.stringify(bodies)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1000);
          wake.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return bodies;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
