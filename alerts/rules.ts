import { readFileSync } from 'node:fs';
import { isMap, isScalar, type Node } from 'yaml';
import { formatDuration } from './duration.js';
import { RuleError, type RuleProblem } from './errors.js';
import { hashParts } from './hash.js';
import { parseExpr, type AlertExpr } from './promql.js';
import { parseTemplate } from './template.js';
import { YamlSource, type Field } from './yamlSource.js';

/** An alerting rule as loaded from a rule file. */
export interface AlertRule {
  /**
   * The identity of the rule's state: a hash of its group, its name and its ordinal among the
   * rules of that name in the group. Editing the expression keeps it (alerts carry on).
   */
  id: string;
  group: string;
  name: string;
  expr: AlertExpr;
  /** The expression as written. */
  exprText: string;
  forMs: number;
  keepFiringForMs: number;
  /** Label templates, added to every alert of the rule. */
  labels: Record<string, string>;
  /** Annotation templates. */
  annotations: Record<string, string>;
  /** Where the rule is written, for messages. */
  file: string;
  line: number;
}

export interface RuleGroup {
  name: string;
  file: string;
  /** Evaluation interval: the rules are evaluated at the multiples of it. */
  intervalMs: number;
  rules: AlertRule[];
}

export interface RuleSet {
  groups: RuleGroup[];
}

export interface RuleLoadOptions {
  /** The interval of groups that give none; Prometheus' default is 1m. */
  defaultIntervalMs?: number;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Loads Prometheus alerting-rule files, all or nothing: when any file cannot be read, does
 * not parse or uses anything unsupported, throws one RuleError listing every problem of
 * every file as `file:line:col: reason`.
 */
export function loadRuleFiles(paths: readonly string[], options: RuleLoadOptions = {}): RuleSet {
  const { rules, problems } = readRuleFiles(paths, options);
  if (problems.length > 0) throw new RuleError(problems);
  return rules;
}

/** Like loadRuleFiles, from texts already read: `file` names each in messages. */
export function parseRuleFiles(
  sources: ReadonlyArray<{ file: string; text: string }>,
  options: RuleLoadOptions = {},
): RuleSet {
  const { rules, problems } = checkRuleSources(sources, options);
  if (problems.length > 0) throw new RuleError(problems);
  return rules;
}

/** Reads and checks rule files, returning the rules and the problems (the rules are unusable when there are any). */
export function readRuleFiles(
  paths: readonly string[],
  options: RuleLoadOptions = {},
): { rules: RuleSet; problems: RuleProblem[] } {
  const sources: Array<{ file: string; text: string }> = [];
  const unreadable: RuleProblem[] = [];
  for (const file of paths) {
    try {
      sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (error) {
      unreadable.push({ file, line: 0, col: 0, reason: `cannot read: ${(error as Error).message}` });
    }
  }
  const { rules, problems } = checkRuleSources(sources, options);
  return { rules, problems: [...unreadable, ...problems] };
}

function checkRuleSources(
  sources: ReadonlyArray<{ file: string; text: string }>,
  options: RuleLoadOptions,
): { rules: RuleSet; problems: RuleProblem[] } {
  const groups: RuleGroup[] = [];
  const problems: RuleProblem[] = [];
  const groupNames = new Map<string, string>();
  for (const { file, text } of sources) {
    const source = new YamlSource(file, text);
    if (source.ok) groups.push(...checkFile(source, options.defaultIntervalMs ?? 60_000, groupNames));
    problems.push(...source.sortedProblems());
  }
  return { rules: { groups }, problems };
}

function checkFile(
  source: YamlSource,
  defaultIntervalMs: number,
  groupNames: Map<string, string>,
): RuleGroup[] {
  const root = source.doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) return [];
  const top = source.fields(root, 'rule file', { groups: null });
  const groups: RuleGroup[] = [];
  for (const node of source.items(top?.get('groups')?.value ?? null, 'groups')) {
    const group = checkGroup(source, node, defaultIntervalMs);
    if (!group) continue;
    const elsewhere = groupNames.get(group.name);
    if (elsewhere !== undefined) {
      source.problem(
        node,
        `group name ${JSON.stringify(group.name)} is already used (in ${elsewhere}); group names must be unique`,
      );
      continue;
    }
    groupNames.set(group.name, source.file);
    groups.push(group);
  }
  return groups;
}

function checkGroup(source: YamlSource, node: Node, defaultIntervalMs: number): RuleGroup | undefined {
  const fields = source.fields(node, 'group', {
    name: null,
    interval: null,
    rules: null,
    limit: 'group limit is not supported',
    query_offset: 'query_offset is not supported: evaluation follows the event-time watermark',
    labels: 'group labels are not supported: put labels on each rule',
  });
  if (!fields) return undefined;
  const name = source.string(fields.get('name'), 'group name', true, node);
  if (name === '') source.problem(fields.get('name')?.value, 'group name must not be empty');
  const intervalMs = source.duration(fields.get('interval'), 'interval', defaultIntervalMs);
  if (intervalMs <= 0) source.problem(fields.get('interval')?.value, 'interval must be longer than 0s');
  const rules: AlertRule[] = [];
  const ordinals = new Map<string, number>();
  for (const ruleNode of source.items(fields.get('rules')?.value ?? null, 'rules')) {
    const rule = checkRule(source, ruleNode, name ?? '', intervalMs);
    if (!rule) continue;
    const ordinal = ordinals.get(rule.name) ?? 0;
    ordinals.set(rule.name, ordinal + 1);
    rules.push({ ...rule, id: hashParts([rule.group, rule.name, String(ordinal)]) });
  }
  if (name === undefined || name === '') return undefined;
  return { name, file: source.file, intervalMs, rules };
}

function checkRule(source: YamlSource, node: Node, group: string, intervalMs: number): AlertRule | undefined {
  const fields = source.fields(node, 'rule', {
    alert: null,
    expr: null,
    for: null,
    keep_firing_for: null,
    labels: null,
    annotations: null,
    record: 'recording rules are not supported (only alerting rules)',
  });
  // A recording rule gets one problem, not one for each alerting field it lacks.
  if (!fields || (isMap(node) && node.has('record'))) return undefined;
  const before = source.problems.length;
  const name = source.string(fields.get('alert'), 'alert', true, node);
  if (name === '') source.problem(fields.get('alert')?.value, 'alert name must not be empty');
  const exprField = fields.get('expr');
  const exprText = source.string(exprField, 'expr', true, node);
  let expr: AlertExpr | undefined;
  if (exprText !== undefined && exprField?.value) {
    try {
      expr = parseExpr(exprText);
      checkAnomaly(source, exprField, expr, intervalMs);
    } catch (error) {
      source.inScalar(exprField.value, error);
    }
  }
  const forMs = source.duration(fields.get('for'), 'for', 0);
  const keepFiringForMs = source.duration(fields.get('keep_firing_for'), 'keep_firing_for', 0);
  const labels = templates(source, fields.get('labels'), 'labels', true);
  const annotations = templates(source, fields.get('annotations'), 'annotations', false);
  if (source.problems.length > before || name === undefined || expr === undefined || exprText === undefined) {
    return undefined;
  }
  return {
    id: '',
    group,
    name,
    expr,
    exprText,
    forMs,
    keepFiringForMs,
    labels,
    annotations,
    file: source.file,
    line: source.lineOf(node),
  };
}

/** An anomaly baseline needs room for a few values: at least two evaluation intervals. */
function checkAnomaly(source: YamlSource, field: Field, expr: AlertExpr, intervalMs: number): void {
  if (!expr.anomaly || expr.anomaly.baselineMs >= 2 * intervalMs) return;
  source.problem(
    field.value,
    `the anomaly baseline ${formatDuration(expr.anomaly.baselineMs)} must span at least two evaluation intervals (${formatDuration(2 * intervalMs)})`,
  );
}

function templates(
  source: YamlSource,
  field: Field | undefined,
  what: string,
  isLabels: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, value, key, node } of source.stringMap(field, what)) {
    if (!LABEL_NAME.test(name)) {
      source.problem(key, `${what}: invalid name ${JSON.stringify(name)}`);
      continue;
    }
    if (isLabels && name.startsWith('__')) {
      source.problem(key, `labels: ${name} is reserved (names starting with __)`);
      continue;
    }
    try {
      parseTemplate(value);
    } catch (error) {
      source.inScalar(node, error, `${what}.${name}: `);
      continue;
    }
    out[name] = value;
  }
  return out;
}
