import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.js';
import type { AlertEvent, AlertState } from '../../schemas/index.js';
import { FakeClock } from '../../streams/clock.js';
import { notifierSection, type NotifierConfigInput } from '../../notifier/config.js';
import { Dispatcher, type MuteReason, type Target } from '../../notifier/dispatcher.js';
import { compileInhibitRules } from '../../notifier/inhibit.js';
import type { Notification } from '../../notifier/notification.js';
import type { ChangelogEntry } from '../../topology/stateStore.js';
import { compileRoutes } from '../../notifier/routes.js';
import { configSilences, SilenceSet } from '../../notifier/silences.js';

const log = createLogger('test', 'silent');

interface Sent {
  at: number;
  target: string;
  status: string;
  groupKey: string;
  /** `fingerprint:status` of each alert, in payload order. */
  alerts: string[];
}

/** A dispatcher on a fake clock whose integrations record what they are sent. */
function harness(input: Partial<NotifierConfigInput>, start = 1_000_000) {
  const settings = notifierSection.parse({
    receivers: [{ name: 'team', webhook_configs: [{ url: 'http://a.invalid/' }] }],
    route: { receiver: 'team', group_by: ['alertname'], group_wait: '200ms', group_interval: '1s' },
    ...input,
  });
  const clock = new FakeClock(start);
  const sent: Sent[] = [];
  const failing = new Set<string>();
  const muted: MuteReason[] = [];
  const targets = new Map<string, Target[]>();
  for (const r of settings.receivers) {
    const list: Target[] = [];
    r.webhook_configs.forEach((c, i) =>
      list.push({
        id: `${r.name}/webhook/${i}`,
        receiver: r.name,
        integration: 'webhook',
        sendResolved: c.send_resolved,
      }),
    );
    targets.set(r.name, list);
  }
  const silences = new SilenceSet();
  for (const s of configSilences(settings.silences, start)) silences.set(s);
  /** Everything the dispatchers persisted, in order: what a restart restores. */
  const persisted: ChangelogEntry[] = [];
  /** When set, a delivery reaches the receiver and then the process "crashes" (never settles). */
  const crash = { onDeliver: false };
  let current: Dispatcher | undefined;
  const make = () =>
    (current = new Dispatcher({
      root: compileRoutes(settings.route),
      targets,
      inhibitRules: compileInhibitRules(settings.inhibit_rules),
      silences,
      clock,
      externalURL: '',
      log,
      onMuted: (reason) => muted.push(reason),
      persist: async () => {
        persisted.push(...(current as Dispatcher).changes());
      },
      deliver: async (target: Target, n: Notification) => {
        if (failing.has(target.id)) throw new Error('HTTP 500');
        if (crash.onDeliver) {
          sent.push({
            at: clock.now() - start,
            target: target.id,
            status: n.status,
            groupKey: n.groupKey,
            alerts: [],
          });
          return new Promise<void>(() => undefined);
        }
        sent.push({
          at: clock.now() - start,
          target: target.id,
          status: n.status,
          groupKey: n.groupKey,
          alerts: n.alerts.map((a) => `${a.fingerprint}:${a.status}`),
        });
      },
    }));
  const dispatcher = make();
  dispatcher.start();
  let t = start;
  const event = (fp: string, state: AlertState, labels: Record<string, string> = {}): AlertEvent => ({
    fingerprint: fp,
    rule: 'r',
    state,
    severity: 'none',
    labels: { alertname: 'HighCPU', instance: fp, ...labels },
    annotations: { summary: `cpu on ${fp}` },
    value: 1,
    startsAt: start,
    endsAt: state === 'resolved' ? clock.now() : null,
    timestamp: ++t,
  });
  return { dispatcher, clock, sent, failing, muted, silences, event, make, start, persisted, crash };
}

describe('Dispatcher', () => {
  it('waits group_wait for a new group, then notifies changes at most every group_interval', async () => {
    const h = harness({});
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(100);
    h.dispatcher.apply(h.event('b', 'firing'));
    await h.clock.advance(150);
    expect(h.sent).toEqual([
      {
        at: 200,
        target: 'team/webhook/0',
        status: 'firing',
        groupKey: '{}:{alertname="HighCPU"}',
        alerts: ['a:firing', 'b:firing'],
      },
    ]);
    h.dispatcher.apply(h.event('c', 'firing'));
    await h.clock.advance(900); // t = 1150: the next flush is at 1200
    expect(h.sent).toHaveLength(1);
    await h.clock.advance(100);
    expect(h.sent.map((s) => [s.at, s.alerts])).toEqual([
      [200, ['a:firing', 'b:firing']],
      [1200, ['a:firing', 'b:firing', 'c:firing']],
    ]);
  });

  it('repeats an unchanged firing group at the first flush repeat_interval after the last notification', async () => {
    const h = harness({
      route: { receiver: 'team', group_wait: '200ms', group_interval: '1s', repeat_interval: '3s' },
    });
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(7_500);
    expect(h.sent.map((s) => s.at)).toEqual([200, 3200, 6200]);
  });

  it('defaults repeat_interval to 5 minutes', async () => {
    const h = harness({ route: { receiver: 'team', group_wait: '1s', group_interval: '1m' } });
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(11 * 60_000);
    expect(h.sent.map((s) => s.at)).toEqual([1000, 301_000, 601_000]);
  });

  it('sends a resolution once, then forgets the alert and, a quiet interval later, the group', async () => {
    const h = harness({});
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(300);
    h.dispatcher.apply(h.event('a', 'resolved'));
    await h.clock.advance(5_000);
    expect(h.sent.map((s) => [s.at, s.status, s.alerts])).toEqual([
      [200, 'firing', ['a:firing']],
      [1200, 'resolved', ['a:resolved']],
    ]);
    expect(h.dispatcher.alerts.size).toBe(0);
    expect(h.dispatcher.groups.size).toBe(0);
    expect(h.dispatcher.nflog.size).toBe(0);
  });

  it('notifies neither pending alerts nor the resolution of an alert never notified as firing', async () => {
    const h = harness({});
    h.dispatcher.apply(h.event('p', 'pending'));
    h.dispatcher.apply(h.event('p', 'resolved')); // a pending alert whose condition cleared
    h.dispatcher.apply(h.event('q', 'firing'));
    h.dispatcher.apply(h.event('q', 'resolved')); // fired and resolved within group_wait
    await h.clock.advance(5_000);
    expect(h.sent).toEqual([]);
    expect(h.dispatcher.alerts.size).toBe(0);
    // With another alert notified, a resolution of one never notified is still not sent.
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(300);
    h.dispatcher.apply(h.event('b', 'firing'));
    h.dispatcher.apply(h.event('b', 'resolved'));
    h.dispatcher.apply(h.event('a', 'resolved'));
    await h.clock.advance(1_000);
    expect(h.sent.map((s) => s.alerts)).toEqual([['a:firing'], ['a:resolved']]);
  });

  it('ignores events older than the one applied, and replays of it', async () => {
    const h = harness({});
    const firing = h.event('a', 'firing');
    const resolved = h.event('a', 'resolved');
    expect(h.dispatcher.apply(firing)).toBe(true);
    expect(h.dispatcher.apply(resolved)).toBe(true);
    expect(h.dispatcher.apply(firing)).toBe(false);
    expect(h.dispatcher.apply(resolved)).toBe(false);
  });

  it('turns a flapping alert into at most one notification per group_interval', async () => {
    const h = harness({});
    // 7 s of a state change every 70 ms: 100 changes.
    for (let i = 0; i < 100; i++) {
      h.dispatcher.apply(h.event('a', i % 2 === 0 ? 'firing' : 'resolved'));
      await h.clock.advance(70);
    }
    await h.clock.advance(3_000);
    const times = h.sent.map((s) => s.at);
    expect(times.length).toBeGreaterThan(1);
    expect(times.length).toBeLessThanOrEqual(9);
    for (let i = 1; i < times.length; i++)
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(1000);
  });

  it('does not send resolutions to an integration with send_resolved: false, but stops repeating', async () => {
    const h = harness({
      receivers: [{ name: 'team', webhook_configs: [{ url: 'http://a.invalid/', send_resolved: false }] }],
    });
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(300);
    h.dispatcher.apply(h.event('a', 'resolved'));
    await h.clock.advance(10 * 60_000);
    expect(h.sent.map((s) => s.alerts)).toEqual([['a:firing']]);
  });

  it('retries a failing integration at the next flush without holding the other integration', async () => {
    const h = harness({
      receivers: [
        { name: 'team', webhook_configs: [{ url: 'http://a.invalid/' }, { url: 'http://b.invalid/' }] },
      ],
    });
    h.failing.add('team/webhook/0');
    h.dispatcher.apply(h.event('a', 'firing'));
    await h.clock.advance(2_500);
    expect(h.sent.map((s) => [s.at, s.target])).toEqual([[200, 'team/webhook/1']]);
    h.failing.clear();
    await h.clock.advance(1_000);
    expect(h.sent.map((s) => [s.at, s.target])).toEqual([
      [200, 'team/webhook/1'],
      [3200, 'team/webhook/0'],
    ]);
  });

  it('routes by matchers depth first, with continue, inherited options and group_by "..."', async () => {
    const h = harness({
      receivers: [
        { name: 'default', webhook_configs: [{ url: 'http://a.invalid/' }] },
        { name: 'pager', webhook_configs: [{ url: 'http://b.invalid/' }] },
        { name: 'db', webhook_configs: [{ url: 'http://c.invalid/' }] },
      ],
      route: {
        receiver: 'default',
        group_by: ['alertname'],
        group_wait: '200ms',
        group_interval: '1s',
        routes: [
          { matchers: ['severity=~"crit|page"'], receiver: 'pager', group_by: ['...'], continue: true },
          { matchers: ['team="db"'], receiver: 'db', group_wait: '500ms' },
          { matchers: ['team="db"'], receiver: 'default' }, // never reached: the sibling above matched
        ],
      },
    });
    h.dispatcher.apply(h.event('a', 'firing', { severity: 'page', team: 'db' }));
    h.dispatcher.apply(h.event('b', 'firing', { severity: 'info' }));
    await h.clock.advance(600);
    expect(h.sent.map((s) => [s.at, s.target, s.groupKey, s.alerts])).toEqual([
      [
        200,
        'pager/webhook/0',
        '{}/{severity=~"crit|page"}:{alertname="HighCPU", instance="a", severity="page", team="db"}',
        ['a:firing'],
      ],
      [200, 'default/webhook/0', '{}:{alertname="HighCPU"}', ['b:firing']],
      [500, 'db/webhook/0', '{}/{team="db"}:{alertname="HighCPU"}', ['a:firing']],
    ]);
  });

  it('mutes silenced alerts (counted once) and notifies them when the silence ends', async () => {
    const start = 1_000_000;
    const h = harness(
      {
        silences: [
          {
            matchers: ['instance="a"'],
            endsAt: new Date(start + 5_000).toISOString(),
            comment: 'maintenance',
          },
        ],
      },
      start,
    );
    h.dispatcher.apply(h.event('a', 'firing'));
    h.dispatcher.apply(h.event('b', 'firing'));
    await h.clock.advance(3_000);
    expect(h.sent.map((s) => s.alerts)).toEqual([['b:firing']]);
    expect(h.muted).toEqual(['silenced']);
    await h.clock.advance(3_000);
    expect(h.sent.map((s) => [s.at, s.alerts])).toEqual([
      [200, ['b:firing']],
      [5200, ['a:firing', 'b:firing']],
    ]);
  });

  it('mutes targets of a firing source with equal labels, and notifies them once the source resolves', async () => {
    const h = harness({
      route: { receiver: 'team', group_by: ['...'], group_wait: '200ms', group_interval: '1s' },
      inhibit_rules: [
        {
          source_matchers: ['alertname="HostDown"'],
          target_matchers: ['alertname="HighCPU"'],
          equal: ['host'],
        },
      ],
    });
    h.dispatcher.apply(h.event('down', 'firing', { alertname: 'HostDown', host: 'h1' }));
    h.dispatcher.apply(h.event('cpu1', 'firing', { host: 'h1' }));
    h.dispatcher.apply(h.event('cpu2', 'firing', { host: 'h2' }));
    await h.clock.advance(500);
    expect(h.sent.map((s) => s.alerts).sort()).toEqual([['cpu2:firing'], ['down:firing']]);
    expect(h.muted).toEqual(['inhibited']);
    h.dispatcher.apply(h.event('down', 'resolved', { alertname: 'HostDown', host: 'h1' }));
    await h.clock.advance(1_000);
    expect(
      h.sent
        .slice(2)
        .map((s) => s.alerts)
        .sort(),
    ).toEqual([['cpu1:firing'], ['down:resolved']]);
  });

  it('resumes from its changelog: no repeat of what was sent, pending flushes kept', async () => {
    const h = harness({});
    h.dispatcher.apply(h.event('a', 'firing', { alertname: 'A' }));
    await h.clock.advance(300); // A notified at 200
    h.dispatcher.apply(h.event('b', 'firing', { alertname: 'B' })); // B's first flush due at 500
    const tail = h.dispatcher.changes();
    await h.dispatcher.stop();

    const restarted = h.make();
    restarted.restore([...h.persisted, ...tail]);
    restarted.start();
    await h.clock.advance(5_000);
    expect(h.sent.map((s) => [s.at, s.alerts])).toEqual([
      [200, ['a:firing']],
      [500, ['b:firing']],
    ]);
  });

  it('after a crash during a delivery, sends it again while its alerts fire and their resolution once they resolve', async () => {
    for (const thenResolved of [false, true]) {
      const h = harness({});
      h.crash.onDeliver = true; // the receiver gets it, the acknowledgement is never logged
      h.dispatcher.apply(h.event('a', 'firing'));
      await h.clock.advance(300);
      expect(h.sent).toHaveLength(1);

      const restarted = h.make(); // restored from what was persisted before the crash
      restarted.restore(h.persisted);
      h.crash.onDeliver = false;
      if (thenResolved) restarted.apply(h.event('a', 'resolved'));
      restarted.start();
      await h.clock.advance(2_000);
      expect(h.sent.slice(1).map((s) => [s.status, s.alerts])).toEqual([
        thenResolved ? ['resolved', ['a:resolved']] : ['firing', ['a:firing']],
      ]);
    }
  });
});
