import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { Node } from 'yaml';
import type { NormalizedSample } from '../core/validate.js';
import { formatDuration } from './duration.js';
import { RuleError } from './errors.js';
import { AlertEngine } from './engine.js';
import { parseSeriesDescription } from './promql.js';
import { readRuleFiles, type RuleSet } from './rules.js';
import { expandSeriesValues } from './seriesNotation.js';
import { YamlSource } from './yamlSource.js';

/** The outcome of one test group (`tests:` item) of a rule test file. */
export interface RuleTestGroupResult {
  /** The group's `name`, or `#<n>` (1-based) when it has none. */
  name: string;
  passed: boolean;
  /** One message per failed `alert_rule_test` item, formatted as promtool prints it. */
  failures: string[];
}

export interface RuleTestFileResult {
  file: string;
  passed: boolean;
  groups: RuleTestGroupResult[];
}

interface ExpectedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface AlertTest {
  evalTime: number;
  alertname: string;
  expected: ExpectedAlert[];
}

interface TestGroup {
  name: string;
  /** The group's `name` field as written, '' when none (promtool prints it only then). */
  givenName: string;
  samples: NormalizedSample[];
  tests: AlertTest[];
}

/**
 * Runs a rule test file in promtool's `test rules` format: for each test group, a fresh engine
 * gets the input series (sample i of a series at i × interval from time 0) and is evaluated at
 * 0, evaluation_interval, 2 × evaluation_interval … up to the last eval_time; an
 * `alert_rule_test` compares the firing alerts of its alertname after the last evaluation at or
 * before its eval_time with exp_alerts, exactly (labels and annotations). Throws a RuleError
 * when the test file or a rule file it names is invalid.
 */
export function runRuleTestFile(file: string): RuleTestFileResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RuleError([{ file, line: 0, col: 0, reason: `cannot read: ${(error as Error).message}` }]);
  }
  const source = new YamlSource(file, text);
  const parsed = source.ok ? parseTestFile(source) : undefined;
  const loaded =
    parsed && source.ok
      ? readRuleFiles(
          parsed.ruleFiles.map((f) => (isAbsolute(f) ? f : join(dirname(file), f))),
          { defaultIntervalMs: parsed.evaluationIntervalMs },
        )
      : undefined;
  const problems = [...source.sortedProblems(), ...(loaded?.problems ?? [])];
  if (problems.length > 0 || !parsed || !loaded) throw new RuleError(problems);
  const groups = parsed.groups.map((group) => runGroup(loaded.rules, parsed.evaluationIntervalMs, group));
  return { file, passed: groups.every((g) => g.passed), groups };
}

function runGroup(rules: RuleSet, evaluationIntervalMs: number, group: TestGroup): RuleTestGroupResult {
  const engine = new AlertEngine(rules);
  const tests = [...group.tests].sort((a, b) => a.evalTime - b.evalTime);
  const samples = [...group.samples].sort((a, b) => a.timestamp - b.timestamp);
  const end = Math.max(0, ...tests.map((t) => t.evalTime));
  const failures: string[] = [];
  let sample = 0;
  let test = 0;
  for (let t = 0; t <= end; t += evaluationIntervalMs) {
    while (sample < samples.length && (samples[sample] as NormalizedSample).timestamp <= t) {
      engine.add(samples[sample++] as NormalizedSample);
    }
    engine.evaluate(t);
    const firing = engine.alerts().filter((a) => a.state === 'firing');
    for (; test < tests.length && (tests[test] as AlertTest).evalTime < t + evaluationIntervalMs; test++) {
      const { alertname, evalTime, expected } = tests[test] as AlertTest;
      const got = firing
        .filter((a) => a.rule === alertname)
        .map((a) => ({ labels: a.labels, annotations: a.annotations }))
        .sort(compareAlerts);
      const exp = expected
        .map((a) => ({ labels: { ...a.labels, alertname }, annotations: a.annotations }))
        .sort(compareAlerts);
      if (formatAlerts(exp) === formatAlerts(got)) continue;
      const name = group.givenName === '' ? '' : `    name: ${group.givenName},\n`;
      failures.push(
        `${name}    alertname: ${alertname}, time: ${formatDuration(evalTime)}, \n` +
          `        exp:${indent(formatAlerts(exp), '            ')}, \n` +
          `        got:${indent(formatAlerts(got), '            ')}`,
      );
    }
  }
  return { name: group.name, passed: failures.length === 0, failures };
}

function parseTestFile(
  source: YamlSource,
): { ruleFiles: string[]; evaluationIntervalMs: number; groups: TestGroup[] } | undefined {
  const top = source.fields(source.doc.contents as Node | null, 'rule test file', {
    rule_files: null,
    evaluation_interval: null,
    group_eval_order: null,
    tests: null,
    fuzzy_compare: 'fuzzy_compare is not supported',
  });
  if (!top) return undefined;
  const ruleFiles: string[] = [];
  for (const node of source.items(top.get('rule_files')?.value ?? null, 'rule_files')) {
    const path = source.string({ key: node, value: node }, 'rule file');
    if (path !== undefined) ruleFiles.push(path);
  }
  const evaluationIntervalMs = source.duration(top.get('evaluation_interval'), 'evaluation_interval', 60_000);
  if (evaluationIntervalMs <= 0)
    source.problem(top.get('evaluation_interval')?.value, 'evaluation_interval must be longer than 0s');
  const groups = source
    .items(top.get('tests')?.value ?? null, 'tests')
    .map((node, i) => parseGroup(source, node, i, evaluationIntervalMs))
    .filter((g): g is TestGroup => g !== undefined);
  return { ruleFiles, evaluationIntervalMs, groups };
}

function parseGroup(
  source: YamlSource,
  node: Node,
  index: number,
  evaluationIntervalMs: number,
): TestGroup | undefined {
  const fields = source.fields(node, 'test group', {
    name: null,
    interval: null,
    input_series: null,
    alert_rule_test: null,
    promql_expr_test: 'promql_expr_test is not supported (only alert_rule_test)',
    external_labels: 'external_labels are not supported',
    external_url: 'external_url is not supported',
    start_timestamp: 'start_timestamp is not supported: series start at time 0',
  });
  if (!fields) return undefined;
  const givenName = (fields.has('name') ? source.string(fields.get('name'), 'name') : undefined) ?? '';
  const intervalMs = source.duration(fields.get('interval'), 'interval', evaluationIntervalMs);
  if (intervalMs <= 0) source.problem(fields.get('interval')?.value, 'interval must be longer than 0s');
  const samples: NormalizedSample[] = [];
  for (const item of source.items(fields.get('input_series')?.value ?? null, 'input_series')) {
    samples.push(...parseSeries(source, item, intervalMs));
  }
  const tests: AlertTest[] = [];
  for (const item of source.items(fields.get('alert_rule_test')?.value ?? null, 'alert_rule_test')) {
    const test = parseAlertTest(source, item);
    if (test) tests.push(test);
  }
  return { name: givenName || `#${index + 1}`, givenName, samples, tests };
}

function parseSeries(source: YamlSource, node: Node, intervalMs: number): NormalizedSample[] {
  const fields = source.fields(node, 'input series', { series: null, values: null });
  const seriesField = fields?.get('series');
  const valuesField = fields?.get('values');
  const description = source.string(seriesField, 'series', true, node);
  const valuesText = source.string(valuesField, 'values', false) ?? '';
  if (description === undefined || !seriesField?.value) return [];
  let series: ReturnType<typeof parseSeriesDescription>;
  let values: ReturnType<typeof expandSeriesValues>;
  try {
    series = parseSeriesDescription(description);
  } catch (error) {
    source.inScalar(seriesField.value, error, 'series: ');
    return [];
  }
  try {
    values = expandSeriesValues(valuesText);
  } catch (error) {
    source.inScalar(valuesField?.value ?? seriesField.value, error, 'values: ');
    return [];
  }
  const samples: NormalizedSample[] = [];
  values.forEach((value, i) => {
    if (value !== null) samples.push({ ...series, timestamp: i * intervalMs, value, kind: 'gauge' });
  });
  return samples;
}

function parseAlertTest(source: YamlSource, node: Node): AlertTest | undefined {
  const fields = source.fields(node, 'alert_rule_test item', {
    eval_time: null,
    alertname: null,
    exp_alerts: null,
  });
  if (!fields) return undefined;
  const evalField = fields.get('eval_time');
  const evalTime = evalField ? source.duration(evalField, 'eval_time', 0) : undefined;
  if (!evalField) source.problem(node, 'eval_time is required');
  const alertname = source.string(fields.get('alertname'), 'alertname', true, node);
  const expected: ExpectedAlert[] = [];
  for (const item of source.items(fields.get('exp_alerts')?.value ?? null, 'exp_alerts')) {
    const alert = source.fields(item, 'expected alert', { exp_labels: null, exp_annotations: null });
    if (!alert) continue;
    const map = (name: string) =>
      Object.fromEntries(source.stringMap(alert.get(name), name).map(({ name: k, value }) => [k, value]));
    expected.push({ labels: map('exp_labels'), annotations: map('exp_annotations') });
  }
  if (evalTime === undefined || alertname === undefined) return undefined;
  return { evalTime, alertname, expected };
}

/** Prometheus' labels.Compare on sorted label sets. */
function compareLabelSets(a: Record<string, string>, b: Record<string, string>): number {
  const x = sortedEntries(a);
  const y = sortedEntries(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const [xk, xv] = x[i] as [string, string];
    const [yk, yv] = y[i] as [string, string];
    if (xk !== yk) return xk < yk ? -1 : 1;
    if (xv !== yv) return xv < yv ? -1 : 1;
  }
  return x.length - y.length;
}

function compareAlerts(a: ExpectedAlert, b: ExpectedAlert): number {
  return compareLabelSets(a.labels, b.labels) || compareLabelSets(a.annotations, b.annotations);
}

function sortedEntries(labels: Record<string, string>): Array<[string, string]> {
  return Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A label set as Prometheus prints it: `{alertname="X", instance="a"}`. */
function formatLabelSet(labels: Record<string, string>): string {
  return `{${sortedEntries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;
}

/** promtool's labelsAndAnnotations.String(). */
function formatAlerts(alerts: ExpectedAlert[]): string {
  if (alerts.length === 0) return '[]';
  const items = alerts.map(
    (a, i) =>
      `${i}:${indent(`\nLabels:${formatLabelSet(a.labels)}\nAnnotations:${formatLabelSet(a.annotations)}`, '  ')}`,
  );
  return `[\n${items.join(',\n')}\n]`;
}

/** Indents every line but the first, as promtool's indentLines. */
function indent(text: string, prefix: string): string {
  return text.split('\n').join(`\n${prefix}`);
}
