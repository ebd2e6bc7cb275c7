import { labelRegExp } from '../core/labelRegExp.js';
import { ExpressionError } from './errors.js';
import { lex, type Token } from './lexer.js';

/**
 * The PromQL subset of alert expressions (alerts/README.md lists it):
 *
 *   expr      = anomaly | vector [cmp number] | number cmp vector
 *   vector    = "(" vector ")" | aggregate | range | absent
 *   aggregate = (sum|avg|min|max|count) [by|without (l, …)] "(" range ")" [by|without (l, …)]
 *   range     = fn "(" selector "[" duration "]" ")" | quantile_over_time "(" φ "," selector "[" duration "]" ")"
 *   absent    = absent_over_time "(" selector "[" duration "]" ")"
 *   anomaly   = anomaly "(" (aggregate | range) "," duration "," number ")"
 *   selector  = metric ["{" matchers "}"] | "{" matchers "}"
 */

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  op: MatchOp;
  value: string;
  /** The anchored regular expression of `=~` and `!~`. */
  re?: RegExp;
}

/** A vector selector; the metric name is the matcher on `__name__`. */
export interface Selector {
  matchers: Matcher[];
}

export const RANGE_FUNCTIONS = [
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'last_over_time',
  'quantile_over_time',
  'rate',
  'increase',
] as const;
export type RangeFunction = (typeof RANGE_FUNCTIONS)[number];

export const AGGREGATIONS = ['sum', 'avg', 'min', 'max', 'count'] as const;
export type AggregationOp = (typeof AGGREGATIONS)[number];

export type CompareOp = '>' | '<' | '>=' | '<=' | '==' | '!=';

/** A range function over one selector: `fn(selector[range])`. */
export interface RangeCall {
  type: 'range';
  fn: RangeFunction;
  /** φ of quantile_over_time. */
  param?: number;
  selector: Selector;
  rangeMs: number;
}

export interface Aggregation {
  type: 'aggregate';
  op: AggregationOp;
  /** null: aggregate everything into one element without labels. */
  grouping: { mode: 'by' | 'without'; labels: string[] } | null;
  inner: RangeCall;
}

export interface Absent {
  type: 'absent';
  selector: Selector;
  rangeMs: number;
}

export type VectorExpr = RangeCall | Aggregation | Absent;

/** Keeps the elements of `vector` whose value compares true with `threshold`. */
export interface Comparison {
  type: 'compare';
  vector: VectorExpr;
  op: CompareOp;
  threshold: number;
}

/** Keeps the elements of `inner` outside the mean ± k·σ of their own values over `baselineMs`. */
export interface Anomaly {
  type: 'anomaly';
  inner: RangeCall | Aggregation;
  baselineMs: number;
  k: number;
}

export type AlertExpr = VectorExpr | Comparison | Anomaly;

const COMPARE_OPS = new Set(['>', '<', '>=', '<=', '==', '!=']);
const ARITHMETIC_OPS = new Set(['+', '-', '*', '/', '%', '^']);
const OTHER_AGGREGATIONS = new Set([
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'limitk',
  'limit_ratio',
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses an alert expression; throws an ExpressionError at the offending offset. */
export function parseExpr(text: string): AlertExpr {
  return new ExprParser(text).parseAlert();
}

/**
 * Parses a series description of a rule test (`metric{a="b"}`, equality matchers only):
 * the metric name and the labels sorted by name.
 */
export function parseSeriesDescription(text: string): { name: string; labels: Array<[string, string]> } {
  const parser = new ExprParser(text);
  const selector = parser.parseSeries();
  let name = '';
  const labels: Array<[string, string]> = [];
  for (const m of selector.matchers) {
    if (m.name === '__name__') name = m.value;
    else if (m.value !== '') labels.push([m.name, m.value]);
  }
  if (name === '') throw new ExpressionError('a series needs a metric name', 0);
  labels.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { name, labels };
}

class ExprParser {
  private readonly tokens: Token[];
  private at = 0;

  constructor(private readonly text: string) {
    this.tokens = lex(text);
  }

  parseAlert(): AlertExpr {
    const first = this.peek();
    if (first.kind === 'ident' && first.text === 'anomaly' && this.peek(1).text === '(') {
      const anomaly = this.parseAnomaly();
      this.expectEnd('an anomaly expression cannot be compared or combined');
      return anomaly;
    }
    if (this.startsNumber()) {
      const threshold = this.parseNumber();
      const op = this.next();
      if (!COMPARE_OPS.has(op.text)) throw this.error(op, 'expected a comparison operator after the number');
      this.rejectBool();
      const vector = this.parseVector();
      this.expectEnd();
      return { type: 'compare', vector, op: flip(op.text as CompareOp), threshold };
    }
    const vector = this.parseVector();
    const op = this.peek();
    if (op.kind === 'op' && COMPARE_OPS.has(op.text)) {
      this.next();
      this.rejectBool();
      if (!this.startsNumber()) throw this.error(this.peek(), 'expected a number to compare with');
      const threshold = this.parseNumber();
      this.expectEnd();
      return { type: 'compare', vector, op: op.text as CompareOp, threshold };
    }
    this.expectEnd();
    return vector;
  }

  parseSeries(): Selector {
    const selector = this.parseSelector();
    for (const m of selector.matchers) {
      if (m.op !== '=') throw new ExpressionError(`a series takes only = matchers, not ${m.op}`, 0);
    }
    this.expectEnd();
    return selector;
  }

  private parseAnomaly(): Anomaly {
    this.next();
    this.expect('(');
    const innerToken = this.peek();
    const inner = this.parseVector();
    if (inner.type === 'absent')
      throw this.error(innerToken, 'anomaly() takes a range function or an aggregation of one');
    this.expect(',', 'expected "," and the baseline duration');
    const baselineMs = this.parseDurationToken('expected the baseline duration, e.g. 1h');
    this.expect(',', 'expected "," and the number of standard deviations');
    const kToken = this.peek();
    if (!this.startsNumber()) throw this.error(kToken, 'expected the number of standard deviations, e.g. 3');
    const k = this.parseNumber();
    if (!(k > 0) || !Number.isFinite(k))
      throw this.error(kToken, 'the number of standard deviations must be > 0');
    this.expect(')');
    return { type: 'anomaly', inner, baselineMs, k };
  }

  private parseVector(): VectorExpr {
    const token = this.peek();
    if (token.text === '(' && token.kind === 'punct') {
      this.next();
      const inner = this.parseVector();
      this.expect(')');
      return inner;
    }
    if (token.kind === 'punct' && token.text === '{') {
      throw this.error(
        token,
        'a bare selector is not supported: wrap it in a range function, e.g. avg_over_time({…}[5m])',
      );
    }
    if (token.kind !== 'ident') throw this.unexpected(token);
    const name = token.text;
    const isCall = this.peek(1).text === '(' || this.peek(1).text === 'by' || this.peek(1).text === 'without';
    if ((AGGREGATIONS as readonly string[]).includes(name) && isCall) return this.parseAggregation();
    if ((RANGE_FUNCTIONS as readonly string[]).includes(name) || name === 'absent_over_time') {
      return this.parseRangeCall();
    }
    if (OTHER_AGGREGATIONS.has(name) && isCall) {
      throw this.error(token, `aggregation ${name} is not supported (supported: ${AGGREGATIONS.join(', ')})`);
    }
    if (this.peek(1).text === '(') {
      throw this.error(
        token,
        `function ${name} is not supported (supported: ${RANGE_FUNCTIONS.join(', ')}, absent_over_time, anomaly)`,
      );
    }
    throw this.error(
      token,
      `a bare selector is not supported: wrap it in a range function, e.g. avg_over_time(${name}[5m])`,
    );
  }

  private parseAggregation(): Aggregation {
    const opToken = this.next();
    let grouping = this.parseGrouping();
    this.expect('(');
    const innerToken = this.peek();
    const inner = this.parseVector();
    if (inner.type === 'aggregate') throw this.error(innerToken, 'nested aggregations are not supported');
    if (inner.type === 'absent') throw this.error(innerToken, 'absent_over_time cannot be aggregated');
    if (this.peek().text === ',') throw this.error(this.peek(), `${opToken.text} takes one argument`);
    this.expect(')');
    const after = this.parseGrouping();
    if (after && grouping) throw this.error(this.peek(), 'by/without given twice');
    grouping = grouping ?? after;
    return { type: 'aggregate', op: opToken.text as AggregationOp, grouping, inner };
  }

  private parseGrouping(): Aggregation['grouping'] {
    const token = this.peek();
    if (token.kind !== 'ident' || (token.text !== 'by' && token.text !== 'without')) return null;
    this.next();
    this.expect('(', `expected "(" and the label names after ${token.text}`);
    const labels: string[] = [];
    while (this.peek().text !== ')') {
      const label = this.next();
      if (label.kind !== 'ident' || !LABEL_NAME.test(label.text))
        throw this.error(label, 'expected a label name');
      labels.push(label.text);
      if (this.peek().text === ',') this.next();
      else if (this.peek().text !== ')') throw this.error(this.peek(), 'expected "," or ")"');
    }
    this.next();
    return { mode: token.text, labels };
  }

  private parseRangeCall(): RangeCall | Absent {
    const fnToken = this.next();
    const fn = fnToken.text;
    this.expect('(', `expected "(" after ${fn}`);
    let param: number | undefined;
    if (fn === 'quantile_over_time') {
      const paramToken = this.peek();
      if (!this.startsNumber()) throw this.error(paramToken, 'quantile_over_time takes φ first, e.g. 0.95');
      param = this.parseNumber();
      if (!(param >= 0 && param <= 1))
        throw this.error(paramToken, 'φ of quantile_over_time must be within [0, 1]');
      this.expect(',', 'expected "," and the range selector');
    }
    const selectorToken = this.peek();
    if (selectorToken.kind !== 'ident' && selectorToken.text !== '{') {
      throw this.error(selectorToken, `${fn} takes a range selector, e.g. ${fn}(metric{…}[5m])`);
    }
    if (selectorToken.kind === 'ident' && this.peek(1).text === '(') {
      throw this.error(selectorToken, `${fn} takes a range selector, not a function call`);
    }
    const selector = this.parseSelector();
    const open = this.peek();
    if (open.text !== '[')
      throw this.error(open, `expected a range such as [5m] after the selector of ${fn}`);
    this.next();
    const rangeToken = this.peek();
    const rangeMs = this.parseDurationToken('expected a range duration, e.g. [5m]');
    if (rangeMs <= 0) throw this.error(rangeToken, 'the range must be longer than 0s');
    const close = this.peek();
    if (close.kind === 'ident' && close.text.startsWith(':'))
      throw this.error(close, 'subqueries are not supported');
    this.expect(']');
    const modifier = this.peek();
    if (modifier.kind === 'ident' && modifier.text === 'offset')
      throw this.error(modifier, 'offset is not supported');
    if (modifier.text === '@') throw this.error(modifier, 'the @ modifier is not supported');
    if (this.peek().text === ',')
      throw this.error(this.peek(), `${fn} takes ${param === undefined ? 'one argument' : 'two arguments'}`);
    this.expect(')');
    if (fn === 'absent_over_time') return { type: 'absent', selector, rangeMs };
    const call: RangeCall = { type: 'range', fn: fn as RangeFunction, selector, rangeMs };
    if (param !== undefined) call.param = param;
    return call;
  }

  private parseSelector(): Selector {
    const matchers: Matcher[] = [];
    const start = this.peek();
    if (start.kind === 'ident') {
      this.next();
      matchers.push({ name: '__name__', op: '=', value: start.text });
    }
    if (this.peek().text === '{' && this.peek().kind === 'punct') {
      this.next();
      while (this.peek().text !== '}') {
        const label = this.next();
        if (label.kind !== 'ident' || !LABEL_NAME.test(label.text))
          throw this.error(label, 'expected a label name');
        const op = this.next();
        if (op.text !== '=' && op.text !== '!=' && op.text !== '=~' && op.text !== '!~') {
          throw this.error(op, 'expected a label matcher operator: = != =~ !~');
        }
        const value = this.next();
        if (value.kind !== 'string') throw this.error(value, 'expected a quoted label value');
        if (label.text === '__name__' && start.kind === 'ident') {
          throw this.error(label, 'the metric name is given twice');
        }
        matchers.push(matcher(label.text, op.text, value));
        if (this.peek().text === ',') this.next();
        else if (this.peek().text !== '}') throw this.error(this.peek(), 'expected "," or "}"');
      }
      this.next();
    } else if (start.kind !== 'ident') {
      throw this.error(start, 'expected a selector');
    }
    if (!matchers.some((m) => !matchesValue(m, ''))) {
      throw this.error(
        start,
        'a selector needs a metric name or a matcher that does not match the empty string',
      );
    }
    return { matchers };
  }

  private parseDurationToken(message: string): number {
    const token = this.next();
    if (token.kind !== 'duration') throw this.error(token, message);
    return token.value as number;
  }

  private startsNumber(): boolean {
    const token = this.peek();
    if (token.kind === 'number') return true;
    return (
      token.kind === 'op' && (token.text === '-' || token.text === '+') && this.peek(1).kind === 'number'
    );
  }

  private parseNumber(): number {
    let sign = 1;
    if (this.peek().kind === 'op') sign = this.next().text === '-' ? -1 : 1;
    return sign * (this.next().value as number);
  }

  private rejectBool(): void {
    const token = this.peek();
    if (token.kind === 'ident' && token.text === 'bool')
      throw this.error(token, 'the bool modifier is not supported');
  }

  private expectEnd(message?: string): void {
    const token = this.peek();
    if (token.kind === 'eof') return;
    if (message) throw this.error(token, message);
    if (token.kind === 'op' && ARITHMETIC_OPS.has(token.text)) {
      throw this.error(
        token,
        `arithmetic (${token.text}) is not supported: compare the expression with a number`,
      );
    }
    if (token.kind === 'ident' && ['and', 'or', 'unless'].includes(token.text)) {
      throw this.error(token, `the set operator ${token.text} is not supported`);
    }
    if (token.kind === 'op' && COMPARE_OPS.has(token.text))
      throw this.error(token, 'only one comparison is supported');
    throw this.unexpected(token);
  }

  private expect(text: string, message?: string): Token {
    const token = this.next();
    if (token.text !== text || token.kind === 'string')
      throw this.error(token, message ?? `expected "${text}"`);
    return token;
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.at + ahead, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (this.at < this.tokens.length - 1) this.at++;
    return token;
  }

  private unexpected(token: Token): ExpressionError {
    return this.error(
      token,
      token.kind === 'eof' ? 'unexpected end of expression' : `unexpected ${describe(token)}`,
    );
  }

  private error(token: Token, message: string): ExpressionError {
    return new ExpressionError(
      token.kind === 'eof' && !message.includes('end of expression')
        ? `${message} (at the end of the expression)`
        : message,
      token.pos,
    );
  }
}

function describe(token: Token): string {
  if (token.kind === 'string') return `string ${token.text}`;
  return `"${token.text}"`;
}

/** `a < x` is `x > a`: the vector is always on the left. */
function flip(op: CompareOp): CompareOp {
  const flipped: Record<CompareOp, CompareOp> = {
    '>': '<',
    '<': '>',
    '>=': '<=',
    '<=': '>=',
    '==': '==',
    '!=': '!=',
  };
  return flipped[op];
}

function matcher(name: string, op: MatchOp, token: Token): Matcher {
  const value = token.value as string;
  if (op === '=' || op === '!=') return { name, op, value };
  try {
    return { name, op, value, re: labelRegExp(value) };
  } catch (error) {
    throw new ExpressionError(
      `invalid regular expression ${token.text}: ${(error as Error).message}`,
      token.pos,
    );
  }
}

/** Whether a label value (empty when the label is missing) satisfies the matcher. */
export function matchesValue(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return (m.re as RegExp).test(value);
    case '!~':
      return !(m.re as RegExp).test(value);
  }
}

/** Whether a series (name, labels sorted by name) is selected. */
export function matchesSeries(
  selector: Selector,
  name: string,
  labels: ReadonlyArray<readonly [string, string]>,
): boolean {
  for (const m of selector.matchers) {
    const value = m.name === '__name__' ? name : (labels.find(([k]) => k === m.name)?.[1] ?? '');
    if (!matchesValue(m, value)) return false;
  }
  return true;
}

/** The selector as canonical text (matchers sorted): equal selectors share their sample buffers. */
export function formatSelector(selector: Selector): string {
  const parts = selector.matchers
    .map((m) => `${m.name}${m.op}${JSON.stringify(m.value)}`)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${parts.join(',')}}`;
}
