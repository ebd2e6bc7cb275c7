import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RuleError } from '../../alerts/errors.js';
import { hashParts } from '../../alerts/hash.js';
import { loadRuleFiles, parseRuleFiles } from '../../alerts/rules.js';
import { ConfigError } from '../../core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'alert-rules-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The RuleError that `run` throws. */
function ruleError(run: () => unknown): RuleError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RuleError);
    expect(error).toBeInstanceOf(ConfigError);
    return error as RuleError;
  }
  throw new Error('expected a RuleError');
}

const problemsOf = (text: string, file = 'r.yaml') =>
  ruleError(() => parseRuleFiles([{ file, text }]))
    .message.split('\n')
    .slice(1);

describe('rule files', () => {
  it('loads groups and rules with defaults', () => {
    const rules = parseRuleFiles([
      {
        file: 'a.yaml',
        text: `groups:
  - name: hosts
    rules:
      - alert: HighCpu
        expr: avg_over_time(cpu[5m]) > 90
        for: 5m
        keep_firing_for: 1h30m
        labels:
          severity: critical
          code: 42
        annotations:
          summary: '{{ $labels.host }}'
      - alert: HighCpu
        expr: |
          max_over_time(cpu[5m])
            > 99
  - name: quick
    interval: 15s
    rules: []
`,
      },
    ]);
    expect(rules.groups.map((g) => [g.name, g.file, g.intervalMs, g.rules.length])).toEqual([
      ['hosts', 'a.yaml', 60_000, 2],
      ['quick', 'a.yaml', 15_000, 0],
    ]);
    const [first, second] = rules.groups[0]?.rules ?? [];
    expect(first).toMatchObject({
      id: hashParts(['hosts', 'HighCpu', '0']),
      group: 'hosts',
      name: 'HighCpu',
      exprText: 'avg_over_time(cpu[5m]) > 90',
      forMs: 300_000,
      keepFiringForMs: 5_400_000,
      labels: { severity: 'critical', code: '42' },
      annotations: { summary: '{{ $labels.host }}' },
      file: 'a.yaml',
      line: 4,
      expr: { expr: { kind: 'BinaryExpr', op: '>', rhs: { value: 90 } } },
    });
    expect(second).toMatchObject({
      id: hashParts(['hosts', 'HighCpu', '1']),
      forMs: 0,
      keepFiringForMs: 0,
      labels: {},
      line: 13,
      exprText: 'max_over_time(cpu[5m])\n  > 99\n',
    });
  });

  it('accepts empty files and groups, and a default interval', () => {
    expect(parseRuleFiles([{ file: 'e.yaml', text: '' }])).toEqual({ groups: [] });
    expect(parseRuleFiles([{ file: 'e.yaml', text: 'groups:\n' }])).toEqual({ groups: [] });
    const rules = parseRuleFiles([{ file: 'e.yaml', text: 'groups: [{ name: g }]' }], {
      defaultIntervalMs: 30_000,
    });
    expect(rules).toEqual({ groups: [{ name: 'g', file: 'e.yaml', intervalMs: 30_000, rules: [] }] });
  });

  it('reports every problem as file:line:col: reason, in file order', () => {
    const text = `groups:
  - name: g1
    interval: 30x
    limit: 10
    rules:
      - alert: A
        expr: avg_over_time(cpu[5m]) > 90 + cpu[5m]
      - alert: B
        expr: |
          sum by (host) (
            rate(http_total{code=~"5.."}[5m] @ 100)
          ) > 1
      - record: r
        expr: up
      - alert: C
        expr: "histogram_quantile(0.9)"
        for: 5 minutes
        labels:
          __bad: x
          sev: '{{ $labels.x | nope }}'
        annotations:
          s: 'x {{ if $value }}y{{ end }}'
      - alert: D
        expr: max_over_time({job=~".*"}[5m]) > 1
        foo: bar
      - expr: rate(x[5m])
      - alert: E
        expr: 'rate(x{a="it''s"}[5m]) >'
      - alert: F
        expr: anomaly(rate(x[5m]), 1m, 3)
  - name: g1
    rules: []
  - rules: []
`;
    expect(problemsOf(text)).toEqual([
      'r.yaml:3:15: interval: invalid duration "30x" (expected e.g. 30s, 5m, 1h30m, 1d: units y w d h m s ms, largest first)',
      'r.yaml:4:5: group limit is not supported',
      'r.yaml:7:45: binary expression must contain only scalar and instant vector types',
      'r.yaml:11:18: the @ modifier is not supported in alert rules: they are evaluated on event time as the stream advances',
      'r.yaml:13:9: recording rules are not supported (only alerting rules)',
      'r.yaml:16:16: expected 2 argument(s) in call to "histogram_quantile", got 1',
      'r.yaml:17:14: for: invalid duration "5 minutes" (expected e.g. 30s, 5m, 1h30m, 1d: units y w d h m s ms, largest first)',
      'r.yaml:19:11: labels: __bad is reserved (names starting with __)',
      'r.yaml:20:32: labels.sev: function "nope" is not supported (supported: humanize, humanize1024, humanizePercentage, humanizeDuration, toUpper, toLower, title, printf)',
      'r.yaml:22:20: annotations.s: the template action "if" is not supported',
      'r.yaml:24:29: vector selector must contain at least one non-empty matcher',
      'r.yaml:25:9: rule: unknown field "foo" (allowed: alert, expr, for, keep_firing_for, labels, annotations, record)',
      'r.yaml:26:9: alert is required',
      'r.yaml:28:40: unexpected end of input',
      'r.yaml:30:15: the anomaly baseline 1m must span at least two evaluation intervals (2m)',
      'r.yaml:31:5: group name "g1" is already used (in r.yaml); group names must be unique',
      'r.yaml:33:5: group name is required',
    ]);
  });

  it('reports YAML syntax errors and wrong shapes', () => {
    expect(
      ruleError(() =>
        parseRuleFiles([
          { file: 'y.yaml', text: 'groups:\n  - name: x\n    rules:\n      - alert: Y\n        expr: [\n' },
        ]),
      ).message,
    ).toBe('y.yaml:6:1: Flow sequence in block collection must be sufficiently indented and end with a ]');
    expect(problemsOf('groups: 3\nother: 1\n')).toEqual([
      'r.yaml:1:9: groups must be a list',
      'r.yaml:2:1: rule file: unknown field "other" (allowed: groups)',
    ]);
    expect(
      problemsOf('groups:\n  - name: g\n    rules:\n      - alert: [1]\n        expr: x[5m]\n      - 7\n'),
    ).toEqual([
      'r.yaml:4:16: alert must be a string',
      'r.yaml:5:15: an alert expression must give an instant vector or a scalar, not a range vector',
      'r.yaml:6:9: rule must be a mapping',
    ]);
  });

  it('is all or nothing across files, listing the problems of every file', () => {
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      good,
      'groups:\n  - name: ok\n    rules:\n      - alert: A\n        expr: rate(x[5m]) > 1\n',
    );
    writeFileSync(
      bad,
      'groups:\n  - name: ok\n    rules:\n      - alert: B\n        expr: rate(x[5m]) >> 1\n',
    );
    expect(loadRuleFiles([good]).groups.map((g) => g.rules.map((r) => r.name))).toEqual([['A']]);
    const error = ruleError(() => loadRuleFiles([good, bad, join(dir, 'missing.yaml')]));
    expect(error.problems).toEqual([
      {
        file: join(dir, 'missing.yaml'),
        line: 0,
        col: 0,
        reason: expect.stringMatching(/^cannot read: ENOENT/) as unknown,
      },
      {
        file: bad,
        line: 2,
        col: 5,
        reason: `group name "ok" is already used (in ${good}); group names must be unique`,
      },
      { file: bad, line: 5, col: 28, reason: 'unexpected ">"' },
    ]);
    expect(error.message.split('\n')[0]).toBe('3 problems:');
    expect(error.hint).toBe('fix the rule files; none of them was loaded');
    expect(ruleError(() => loadRuleFiles([bad])).message).toBe(`${bad}:5:28: unexpected ">"`);
  });
});
