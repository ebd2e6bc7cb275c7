import {
  DEFAULT_LOOKBACK_DELTA_MS,
  matches,
  parseExpr as parsePromQL,
  PromQLParseError,
  typeOf,
} from '../query/promql/index.js';
import type { Expr, LabelMatcher, VectorSelector } from '../query/promql/index.js';
import { parseDuration } from './duration.js';
import { ExpressionError } from './errors.js';

/**
 * Alert expressions: PromQL as the query service evaluates it (query/promql/, one engine for both),
 * giving an instant vector or a scalar, plus the stream extension
 * `anomaly(<expr>, <baseline duration>, <k>)`. The rules are evaluated on event time as the
 * stream advances, so `@` (an absolute time) is refused; every selector's look-back is bounded
 * and known when the rules load, which is how long the stage keeps each series' samples.
 */
export interface AlertExpr {
  expr: Expr;
  /** Keeps the elements of `expr` outside mean ± k·σ of their own values over the baseline. */
  anomaly?: { baselineMs: number; k: number };
  /** Every selector of the expression with how far before an evaluation instant it reads. */
  selectors: AlertSelector[];
}

export interface AlertSelector {
  node: VectorSelector;
  matchers: LabelMatcher[];
  lookbackMs: number;
}

/** Parses an alert expression; throws an ExpressionError at the offending offset. */
export function parseExpr(text: string): AlertExpr {
  const anomaly = /^\s*anomaly\s*\(/.exec(text);
  if (!anomaly) {
    const expr = parseAt(text, 0);
    return { expr, selectors: selectorsOf(expr, 0) };
  }
  const args = splitCall(text, anomaly[0].length);
  if (args.length !== 3) {
    throw new ExpressionError(
      `anomaly() takes an expression, a baseline duration and a number of standard deviations, got ${args.length} argument(s)`,
      anomaly.index,
    );
  }
  const [inner, baseline, k] = args as [Arg, Arg, Arg];
  const expr = parseAt(inner.text, inner.offset);
  let baselineMs: number;
  try {
    baselineMs = parseDuration(baseline.text.trim());
  } catch {
    throw new ExpressionError(
      'expected the baseline duration, e.g. 1h',
      baseline.offset + leading(baseline.text),
    );
  }
  const kValue = Number(k.text.trim());
  if (k.text.trim() === '' || !Number.isFinite(kValue) || !(kValue > 0))
    throw new ExpressionError(
      'the number of standard deviations must be a number > 0, e.g. 3',
      k.offset + leading(k.text),
    );
  return { expr, anomaly: { baselineMs, k: kValue }, selectors: selectorsOf(expr, inner.offset) };
}

/**
 * Parses a series description of a rule test (`metric{a="b"}`, equality matchers only):
 * the metric name and the labels sorted by name.
 */
export function parseSeriesDescription(text: string): { name: string; labels: Array<[string, string]> } {
  const expr = parseAt(text, 0);
  if (expr.kind !== 'VectorSelector' || expr.offsetMs !== 0 || expr.at !== undefined)
    throw new ExpressionError('a series is a metric name with labels, e.g. up{job="api"}', 0);
  let name = '';
  const labels: Array<[string, string]> = [];
  for (const m of expr.matchers) {
    if (m.type !== '=') throw new ExpressionError(`a series takes only = matchers, not ${m.type}`, 0);
    if (m.name === '__name__') name = m.value;
    else if (m.value !== '') labels.push([m.name, m.value]);
  }
  if (name === '') throw new ExpressionError('a series needs a metric name', 0);
  labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { name, labels };
}

/** Whether a series (name, labels sorted by name) is selected by every matcher. */
export function matchesSeries(
  matchers: readonly LabelMatcher[],
  name: string,
  labels: ReadonlyArray<readonly [string, string]>,
): boolean {
  for (const m of matchers) {
    const value = m.name === '__name__' ? name : (labels.find(([k]) => k === m.name)?.[1] ?? '');
    if (!matches(m, value)) return false;
  }
  return true;
}

/** The matchers as canonical text (sorted): equal selectors share their sample buffers. */
export function formatSelector(matchers: readonly LabelMatcher[]): string {
  const parts = matchers
    .map((m) => `${m.name}${m.type}${JSON.stringify(m.value)}`)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${parts.join(',')}}`;
}

function parseAt(text: string, offset: number): Expr {
  let expr: Expr;
  try {
    expr = parsePromQL(text);
  } catch (error) {
    if (error instanceof PromQLParseError)
      throw new ExpressionError(error.detail, offset + error.position.offset);
    throw error;
  }
  const type = typeOf(expr);
  if (type !== 'vector' && type !== 'scalar') {
    throw new ExpressionError(
      `an alert expression must give an instant vector or a scalar, not a ${type === 'matrix' ? 'range vector' : type}`,
      offset + leading(text),
    );
  }
  return expr;
}

/** Each selector with its look-back from an evaluation instant: offsets, ranges, subqueries and the lookback delta. */
function selectorsOf(expr: Expr, offset: number): AlertSelector[] {
  const out: AlertSelector[] = [];
  const noAt = (node: { at: unknown; pos: { start: number } }) => {
    if (node.at !== undefined)
      throw new ExpressionError(
        'the @ modifier is not supported in alert rules: they are evaluated on event time as the stream advances',
        offset + node.pos.start,
      );
  };
  const walk = (node: Expr, before: number): void => {
    switch (node.kind) {
      case 'VectorSelector':
        noAt(node);
        out.push({
          node,
          matchers: node.matchers,
          lookbackMs: Math.max(0, before + node.offsetMs + DEFAULT_LOOKBACK_DELTA_MS),
        });
        return;
      case 'MatrixSelector':
        noAt(node.selector);
        out.push({
          node: node.selector,
          matchers: node.selector.matchers,
          lookbackMs: Math.max(0, before + node.selector.offsetMs + node.rangeMs),
        });
        return;
      case 'SubqueryExpr':
        noAt(node);
        // The inner expression runs at steps back to the range's start, aligned down to a step.
        walk(node.expr, before + node.offsetMs + node.rangeMs + (node.stepMs || 60_000));
        return;
      case 'ParenExpr':
      case 'UnaryExpr':
        walk(node.expr, before);
        return;
      case 'BinaryExpr':
        walk(node.lhs, before);
        walk(node.rhs, before);
        return;
      case 'AggregateExpr':
        walk(node.expr, before);
        if (node.param) walk(node.param, before);
        return;
      case 'Call':
        for (const arg of node.args) walk(arg, before);
        return;
      default:
        return;
    }
  };
  walk(expr, 0);
  return out;
}

interface Arg {
  text: string;
  /** Offset of the argument's first character in the whole expression. */
  offset: number;
}

/** The top-level arguments of a call whose "(" ends at `start`; the call must end the expression. */
function splitCall(text: string, start: number): Arg[] {
  const args: Arg[] = [];
  let depth = 0;
  let from = start;
  for (let at = start; at < text.length; at++) {
    const c = text[at] as string;
    if (c === '"' || c === "'" || c === '`') {
      const close = skipString(text, at);
      if (close < 0) throw new ExpressionError('unterminated quoted string', at);
      at = close;
    } else if (c === '(' || c === '[' || c === '{') depth++;
    else if ((c === ')' || c === ']' || c === '}') && depth > 0) depth--;
    else if (c === ',' && depth === 0) {
      args.push({ text: text.slice(from, at), offset: from });
      from = at + 1;
    } else if (c === ')') {
      args.push({ text: text.slice(from, at), offset: from });
      const rest = text.slice(at + 1).replace(/#[^\n]*/g, '');
      if (rest.trim() !== '')
        throw new ExpressionError(
          'an anomaly expression cannot be compared or combined',
          at + 1 + leading(text.slice(at + 1)),
        );
      return args;
    }
  }
  throw new ExpressionError('unclosed "(" of anomaly()', start - 1);
}

/** The index of the quote closing the string opened at `at`, or -1. */
function skipString(text: string, at: number): number {
  const quote = text[at];
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === '\\' && quote !== '`') i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

function leading(text: string): number {
  return text.length - text.trimStart().length;
}
