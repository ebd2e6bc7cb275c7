import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AlertEngine } from '../../alerts/engine.js';
import { RuleError } from '../../alerts/errors.js';
import { parseSeriesDescription } from '../../alerts/promql.js';
import { runRuleTestFile } from '../../alerts/promtoolTest.js';
import { parseRuleFiles } from '../../alerts/rules.js';
import { rulesTestCommand } from '../../alerts/rulesTestCommand.js';
import { expandSeriesValues } from '../../alerts/seriesNotation.js';

const dir = mkdtempSync(join(tmpdir(), 'rules-promtool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const RULES = `groups:
  - name: g
    rules:
      - alert: High
        expr: avg_over_time(m[2m30s]) > 50
        for: 2m
        labels: { severity: page, inst: '{{ $labels.instance }}-x' }
        annotations: { s: '{{ $labels.instance }} {{ $value | humanize }}', d: '{{ $value | printf "%.2f" }}' }
      - alert: Low
        expr: min_over_time(m[2m30s]) < 20
      - alert: Max
        expr: max by (job) (max_over_time(m[2m30s])) >= 90
        keep_firing_for: 3m
`;

describe('runRuleTestFile', () => {
  it('passes the example rule tests', () => {
    const result = runRuleTestFile('examples/rules/demo.test.yaml');
    expect(result).toEqual({
      file: 'examples/rules/demo.test.yaml',
      passed: true,
      groups: [
        { name: 'cpu spike on one host', passed: true, failures: [] },
        { name: 'a host stops sending', passed: true, failures: [] },
        { name: 'error rate with keep_firing_for', passed: true, failures: [] },
        { name: 'cpu anomaly against its own baseline', passed: true, failures: [] },
      ],
    });
  });

  it('reports a failing test as promtool does', () => {
    write('g.rules.yaml', RULES);
    const file = write(
      'fail.test.yaml',
      `rule_files: [g.rules.yaml]
tests:
  - name: wrong expectations
    interval: 1m
    input_series:
      - series: 'm{instance="a", job="x"}'
        values: '60x10'
      - series: 'm{instance="b", job="x"}'
        values: '70 stale 70x8'
    alert_rule_test:
      - eval_time: 5m
        alertname: High
        exp_alerts:
          - exp_labels: { instance: a, job: x, severity: page, inst: a-x }
            exp_annotations: { s: 'a 60', d: '60.00' }
      - eval_time: 6m
        alertname: Max
        exp_alerts:
          - exp_labels: { job: x }
  - interval: 1m
    input_series:
      - series: 'm{instance="a", job="x"}'
        values: '1x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: Low
        exp_alerts: []
      - eval_time: 2m59s
        alertname: Low
        exp_alerts: [{ exp_labels: { instance: a, job: x } }]
`,
    );
    const result = runRuleTestFile(file);
    expect(result.passed).toBe(false);
    expect(result.groups).toEqual([
      {
        name: 'wrong expectations',
        passed: false,
        failures: [
          `    name: wrong expectations,
    alertname: High, time: 5m, 
        exp:[
            0:
              Labels:{alertname="High", inst="a-x", instance="a", job="x", severity="page"}
              Annotations:{d="60.00", s="a 60"}
            ], 
        got:[
            0:
              Labels:{alertname="High", inst="a-x", instance="a", job="x", severity="page"}
              Annotations:{d="60.00", s="a 60"},
            1:
              Labels:{alertname="High", inst="b-x", instance="b", job="x", severity="page"}
              Annotations:{d="70.00", s="b 70"}
            ]`,
          `    name: wrong expectations,
    alertname: Max, time: 6m, 
        exp:[
            0:
              Labels:{alertname="Max", job="x"}
              Annotations:{}
            ], 
        got:[]`,
        ],
      },
      {
        name: '#2',
        passed: false,
        failures: [
          `    alertname: Low, time: 2m, 
        exp:[], 
        got:[
            0:
              Labels:{alertname="Low", instance="a", job="x"}
              Annotations:{}
            ]`,
        ],
      },
    ]);
    const lines: string[] = [];
    expect(rulesTestCommand([file, 'examples/rules/demo.test.yaml'], (line) => lines.push(line))).toBe(1);
    expect(lines).toEqual([
      `Unit Testing:  ${file}`,
      '  FAILED:',
      ...result.groups.flatMap((g) => g.failures.map((f) => `${f}\n`)),
      '',
      'Unit Testing:  examples/rules/demo.test.yaml',
      '  SUCCESS\n',
    ]);
    expect(rulesTestCommand(['examples/rules/demo.test.yaml'], () => undefined)).toBe(0);
  });

  it('rejects an invalid test file with positions (before reading its rule files)', () => {
    const file = write(
      'invalid.test.yaml',
      `rule_files: [broken.rules.yaml, nowhere.yaml]
evaluation_interval: 1 minute
tests:
  - interval: 1m
    input_series:
      - series: 'up{job=~"a"}'
        values: '1 2'
      - series: 'up'
        values: '1 2 3+x2'
    alert_rule_test:
      - alertname: X
    promql_expr_test: []
    foo: 1
`,
    );
    const error = (() => {
      try {
        runRuleTestFile(file);
      } catch (e) {
        return e as RuleError;
      }
      throw new Error('expected a RuleError');
    })();
    expect(error).toBeInstanceOf(RuleError);
    expect(error.message.split('\n')).toEqual([
      '6 problems:',
      `${file}:2:22: evaluation_interval: invalid duration "1 minute" (expected e.g. 30s, 5m, 1h30m, 1d: units y w d h m s ms, largest first)`,
      `${file}:6:18: series: a series takes only = matchers, not =~`,
      `${file}:9:22: values: invalid series value "3+x2" (expected a number, a+bxn, a-bxn, axn, _, _xn or stale)`,
      `${file}:11:9: eval_time is required`,
      `${file}:12:5: promql_expr_test is not supported (only alert_rule_test)`,
      `${file}:13:5: test group: unknown field "foo" (allowed: name, interval, input_series, alert_rule_test, promql_expr_test, external_labels, external_url, start_timestamp)`,
    ]);
  });

  it('lists the problems of the rule files a valid test file names', () => {
    write(
      'broken.rules.yaml',
      'groups:\n  - name: b\n    rules:\n      - alert: X\n        expr: rate(x) > 1\n',
    );
    const file = write(
      'names-broken.test.yaml',
      'rule_files: [broken.rules.yaml, nowhere.yaml]\ntests: []\n',
    );
    try {
      runRuleTestFile(file);
      throw new Error('expected a RuleError');
    } catch (error) {
      expect(
        (error as RuleError).problems.map((p) => [p.file, p.line, p.col, p.reason.replace(/:.*/, '')]),
      ).toEqual([
        [join(dir, 'nowhere.yaml'), 0, 0, 'cannot read'],
        [
          join(dir, 'broken.rules.yaml'),
          5,
          20,
          'expected type range vector in call to function "rate", got instant vector',
        ],
      ]);
    }
  });
});

const promtool = spawnSync('promtool', ['--version']).status === 0;

describe.skipIf(!promtool)('agreement with Prometheus promtool', () => {
  it('expects exactly the firing alerts promtool computes, at every minute, for every rule', () => {
    // Ranges that put no sample on a window boundary: Prometheus 2 includes t - range, 3 does not.
    const rules = `groups:
  - name: diff
    rules:
      - alert: A_avg
        expr: avg_over_time(m_gauge[2m30s]) > 50
        for: 2m
        labels: { severity: page, inst: '{{ $labels.instance }}-x' }
        annotations: { s: '{{ $labels.instance }} {{ $value | humanize }}', d: '{{ $value | printf "%.2f" }}' }
      - alert: A_min
        expr: min_over_time(m_gauge[2m30s]) < 20
      - alert: A_max
        expr: max by (job) (max_over_time(m_gauge[2m30s])) >= 90
        keep_firing_for: 3m
        annotations: { s: '{{ $value }}' }
      - alert: A_sum
        expr: sum without (instance) (sum_over_time(m_gauge[2m30s])) > 200
        annotations: { s: '{{ $value | humanize }}' }
      - alert: A_count
        expr: count_over_time(m_gauge{instance=~"a|b"}[2m30s]) != 3
      - alert: A_last
        expr: last_over_time(m_gauge{instance!="c"}[2m30s]) == 42
      - alert: A_quant
        expr: quantile_over_time(0.9, m_gauge[4m30s]) > 70
        annotations: { s: '{{ $value | humanize }}' }
      - alert: A_rate
        expr: rate(m_counter[5m30s]) > 1.5
        for: 1m
        annotations: { s: '{{ $value | humanize }}' }
      - alert: A_incr
        expr: sum by (job) (increase(m_counter[5m30s])) > 400
        annotations: { s: '{{ $value | humanize }}' }
      - alert: A_avgagg
        expr: avg(avg_over_time(m_gauge[2m30s])) < 40
        annotations: { s: '{{ $value | humanize }}' }
      - alert: A_countagg
        expr: count by (job) (last_over_time(m_gauge[2m30s])) > 1
      - alert: A_minagg
        expr: min by (job) (min_over_time(m_gauge[2m30s])) > 30
      - alert: A_absent
        expr: absent_over_time(m_gauge{instance="c", job="x"}[2m30s])
        for: 1m
      - alert: A_left
        expr: 10 > min_over_time(m_gauge[2m30s])
      - alert: A_flap
        expr: max_over_time(m_flap[30s]) > 0
        for: 2m
        keep_firing_for: 2m
`;
    const series: Array<[string, string]> = [
      ['m_gauge{instance="a", job="x"}', '10 20 30 60 70 80 90 95 42 42 42 10x5 50+5x10'],
      ['m_gauge{instance="b", job="x"}', '5x10 55x10 5x9'],
      ['m_gauge{instance="c", job="x"}', '30x8 _x6 30x15'],
      ['m_gauge{instance="d", job="y"}', '100-3x29'],
      ['m_counter{instance="a", job="x"}', '1000+90x10 50+90x19'],
      ['m_counter{instance="b", job="y"}', '500+120x29'],
      ['m_flap{instance="a"}', '1 0 1 1 1 0 1 1 1 1 0 0 1 0 0 0 1 1 1 1 1 1 0 1 0 0 0 0 0 0'],
    ];
    const ruleSet = parseRuleFiles([{ file: 'diff.rules.yaml', text: rules }]);
    const engine = new AlertEngine(ruleSet);
    const samples = series
      .flatMap(([description, values]) => {
        const s = parseSeriesDescription(description);
        return expandSeriesValues(values).flatMap((value, i) =>
          value === null ? [] : [{ ...s, timestamp: i * 60_000, value, kind: 'gauge' as const }],
        );
      })
      .sort((a, b) => a.timestamp - b.timestamp);
    const names = ruleSet.groups.flatMap((g) => g.rules.map((r) => r.name));
    const tests: unknown[] = [];
    let next = 0;
    let firing = 0;
    for (let t = 0; t <= 30 * 60_000; t += 60_000) {
      while (next < samples.length && (samples[next]?.timestamp ?? Infinity) <= t)
        engine.add(samples[next++]!);
      engine.evaluate(t);
      const alerts = engine.alerts().filter((a) => a.state === 'firing');
      firing += alerts.length;
      for (const alertname of names) {
        const exp_alerts = alerts
          .filter((a) => a.rule === alertname)
          .map((a) => ({
            exp_labels: Object.fromEntries(Object.entries(a.labels).filter(([k]) => k !== 'alertname')),
            exp_annotations: a.annotations,
          }));
        tests.push({ eval_time: `${t / 60_000}m`, alertname, exp_alerts });
      }
    }
    expect([tests.length, firing]).toEqual([465, 360]);
    write('diff.rules.yaml', rules);
    const testFile = write(
      'diff.test.yaml',
      stringify({
        rule_files: ['diff.rules.yaml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: series.map(([s, v]) => ({ series: s, values: v })),
            alert_rule_test: tests,
          },
        ],
      }),
    );
    expect(execFileSync('promtool', ['test', 'rules', testFile], { encoding: 'utf8' })).toBe(
      `Unit Testing:  ${testFile}\n  SUCCESS\n\n`,
    );
    expect(runRuleTestFile(testFile).passed).toBe(true);
  });
});
