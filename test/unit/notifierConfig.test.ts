import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../core/config.js';
import { ConfigError } from '../../core/errors.js';
import { notifierConfig } from '../../notifier/config.js';
import { formatMatchers, matchesLabels, parseMatchers } from '../../notifier/matchers.js';
import { compileRoutes, matchRoutes } from '../../notifier/routes.js';
import { notifierNames } from '../../notifier/notifier.js';

const dir = mkdtempSync(join(tmpdir(), 'notifier-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const example = new URL('../../examples/notifier.yaml', import.meta.url).pathname;

/** The message of the ConfigError that loading `notifier` throws. */
function problems(notifier: unknown): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify({ notifier }));
  try {
    notifierConfig(loadConfig(file, {}));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

const minimal = { route: { receiver: 'team' }, receivers: [{ name: 'team' }] };

describe('notifier config', () => {
  it('loads the example, with defaults filled and the route tree resolved', () => {
    const n = notifierConfig(loadConfig(example, {}));
    expect(n?.delivery).toEqual({
      attempts: 5,
      initial_backoff: '200ms',
      max_backoff: '10s',
      timeout: '10s',
    });
    expect(n?.receivers.map((r) => r.name)).toEqual([
      'team-default',
      'oncall-pager',
      'team-db',
      'company-alertmanager',
      'blackhole',
    ]);
    expect(n?.receivers[0]?.email_configs[0]).toMatchObject({
      require_tls: true,
      send_resolved: false,
      hello: 'localhost',
    });
    expect(n?.receivers[1]?.pagerduty_configs[0]).toMatchObject({
      url: 'https://events.pagerduty.com/v2/enqueue',
      send_resolved: true,
    });
    const root = compileRoutes(n?.route ?? {});
    const page = matchRoutes(root, { alertname: 'HighCPU', severity: 'page', cluster: 'eu' });
    expect(
      page.map((r) => [r.receiver, r.key, r.groupWaitMs, r.groupIntervalMs, r.repeatIntervalMs]),
    ).toEqual([
      ['company-alertmanager', '{}/{severity=~"critical|page"}', 30_000, 300_000, 300_000],
      ['oncall-pager', '{}/{severity=~"critical|page"}', 10_000, 300_000, 3_600_000],
    ]);
    expect(page[1]?.id).toBe('{}/{severity=~"critical|page"}#2'); // same key as its sibling, its own id
    const db = matchRoutes(root, { alertname: 'SlowQuery', team: 'db' });
    expect(db.map((r) => [r.receiver, r.groupBy])).toEqual([['team-db', 'all']]);
    expect(matchRoutes(root, { alertname: 'Other' }).map((r) => [r.receiver, r.groupBy])).toEqual([
      ['team-default', ['alertname', 'cluster']],
    ]);
  });

  it('fills Alertmanager defaults, with repeat_interval 5 minutes', () => {
    const root = compileRoutes({ receiver: 'team', routes: [{ matchers: ['a="1"'] }] });
    expect(root).toMatchObject({
      groupWaitMs: 30_000,
      groupIntervalMs: 300_000,
      repeatIntervalMs: 300_000,
      groupBy: [],
    });
    expect(root.routes[0]).toMatchObject({ receiver: 'team', groupWaitMs: 30_000, continue: false });
    const loaded = loadConfig(undefined, {}, { notifier: minimal });
    expect(notifierConfig(loaded)?.alerts_topic).toBeUndefined();
    expect(notifierNames(loaded).alerts).toBe('alerts');
    expect(
      notifierNames(loadConfig(undefined, {}, { notifier: minimal, topics: { alerts: 'a2' } })).alerts,
    ).toBe('a2');
    expect(notifierConfig(loaded)).toMatchObject({
      external_url: '',
      inhibit_rules: [],
      silences: [],
    });
  });

  it('is absent unless configured', () => {
    expect(loadConfig(undefined, {}).notifier).toBeUndefined();
  });

  it.each([
    [{ receivers: [{ name: 'team' }] }, 'notifier.route: required: the routing tree (at least a receiver)'],
    [
      { route: {}, receivers: [{ name: 'team' }] },
      'notifier.route.receiver: the root route needs a receiver',
    ],
    [
      { route: { receiver: 'team', matchers: ['a="b"'] }, receivers: [{ name: 'team' }] },
      'notifier.route.matchers: the root route matches every alert: it takes no matchers',
    ],
    [
      { route: { receiver: 'team' }, receivers: [{ name: 'team' }, { name: 'team' }] },
      'notifier.receivers.1.name: receiver name "team" is already used by receivers.0',
    ],
    [
      { route: { receiver: 'team', group_by: ['...', 'job'] }, receivers: [{ name: 'team' }] },
      'notifier.route.group_by: "..." groups by every label and stands alone',
    ],
    [
      { route: { receiver: 'team', group_by: ['0job'] }, receivers: [{ name: 'team' }] },
      'notifier.route.group_by.0: a label name',
    ],
    [
      { route: { receiver: 'team', group_interval: '0s' }, receivers: [{ name: 'team' }] },
      'notifier.route.group_interval: must be longer than 0',
    ],
    [
      { route: { receiver: 'team', routes: [{ match: { a: 'b' } }] }, receivers: [{ name: 'team' }] },
      'notifier.route.routes.0.match: unknown setting',
    ],
    [
      {
        ...minimal,
        receivers: [{ name: 'team', email_configs: [{ to: 'x', from: 'a@b', smarthost: 'h:25' }] }],
      },
      'notifier.receivers.0.email_configs.0.to: comma-separated email addresses',
    ],
    [
      {
        ...minimal,
        receivers: [
          {
            name: 'team',
            email_configs: [{ to: 'a@b', from: 'a@b', smarthost: 'h:25', auth_username: 'u' }],
          },
        ],
      },
      'notifier.receivers.0.email_configs.0.auth_password: auth_username and auth_password go together',
    ],
    [
      {
        ...minimal,
        receivers: [{ name: 'team', pagerduty_configs: [{ routing_key: 'k', severity: 'page' }] }],
      },
      'notifier.receivers.0.pagerduty_configs.0.severity: ',
    ],
    [
      {
        ...minimal,
        receivers: [
          { name: 'team', slack_configs: [{ api_url: 'https://x.invalid/', title: '{{ .Nope }}' }] },
        ],
      },
      'notifier.receivers.0.slack_configs.0.title: invalid template: {{ .Nope }}: unknown field .Nope',
    ],
    [
      { ...minimal, inhibit_rules: [{ source_matchers: [], target_matchers: ['a="b"'] }] },
      'notifier.inhibit_rules.0.source_matchers: at least one matcher',
    ],
    [
      { ...minimal, silences: [{ matchers: ['a=~".*"'] }] },
      'notifier.silences.0.matchers: at least one matcher must not match the empty string',
    ],
    [
      {
        ...minimal,
        silences: [{ matchers: ['a="b"'], startsAt: '2025-01-02T00:00:00Z', endsAt: '2025-01-01T00:00:00Z' }],
      },
      'notifier.silences.0.endsAt: endsAt must be after startsAt',
    ],
    [
      { ...minimal, silences: [{ matchers: ['a="b"'], endsAt: 'tomorrow' }] },
      'notifier.silences.0.endsAt: an RFC 3339 time',
    ],
  ])('rejects %j with "%s"', (notifier, message) => {
    expect(problems(notifier)).toContain(message);
  });
});

describe('notifier matchers', () => {
  it('parse Alertmanager forms: quoted, bare, lists in braces, escapes, (?i)', () => {
    const parsed = (text: string) => parseMatchers(text).map(({ name, op, value }) => ({ name, op, value }));
    expect(parsed('alertname="HighCPU"')).toEqual([{ name: 'alertname', op: '=', value: 'HighCPU' }]);
    expect(parsed(' env != prod ')).toEqual([{ name: 'env', op: '!=', value: 'prod' }]);
    expect(parsed('{severity=~"crit|page", msg!~"a,b", q="say \\"hi\\""}')).toEqual([
      { name: 'severity', op: '=~', value: 'crit|page' },
      { name: 'msg', op: '!~', value: 'a,b' },
      { name: 'q', op: '=', value: 'say "hi"' },
    ]);
    const [insensitive] = parseMatchers('host=~"(?i)DB-.*"');
    expect(matchesLabels(insensitive ? [insensitive] : [], { host: 'db-1' })).toBe(true);
    expect(formatMatchers(parseMatchers('{b!~"x", a="1"}'))).toBe('{b!~"x",a="1"}');
  });

  it('anchor regular expressions and treat a missing label as empty', () => {
    expect(matchesLabels(parseMatchers('severity=~"crit"'), { severity: 'critical' })).toBe(false);
    expect(matchesLabels(parseMatchers('severity=~"crit.*"'), { severity: 'critical' })).toBe(true);
    expect(matchesLabels(parseMatchers('team!="db"'), {})).toBe(true);
    expect(matchesLabels(parseMatchers('team=""'), {})).toBe(true);
  });

  it.each([
    ['alertname', 'expected name, operator (= != =~ !~) and value'],
    ['a=~"("', 'invalid regular expression'],
    ['a="b" c', 'unexpected " c" after the value of a'],
    ['a="b', 'unterminated quoted string'],
    ['{a="b"', 'missing closing "}"'],
    ['{}', 'no matchers in braces'],
  ])('reject %s', (text, message) => {
    expect(() => parseMatchers(text)).toThrow(message);
  });
});
