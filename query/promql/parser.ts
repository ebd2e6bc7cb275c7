import {
  COMPARISON_OPS,
  SET_OPS,
  TYPE_NAMES,
  type AggregateExpr,
  type AggregateOp,
  type AtModifier,
  type BinaryExpr,
  type BinaryOp,
  type Expr,
  type MatrixSelector,
  type SubqueryExpr,
  type ValueType,
  type VectorMatching,
  type VectorSelector,
} from './ast.js';
import { PromQLParseError } from './errors.js';
import { FUNCTIONS } from './functionSignatures.js';
import { parseDurationMs, tokenize, type Token } from './lexer.js';
import { compileRegex } from './regex.js';
import type { LabelMatcher, MatchType } from './storage.js';

const AGGREGATORS: ReadonlySet<string> = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
]);
const PARAM_AGGREGATORS: ReadonlySet<string> = new Set(['topk', 'bottomk', 'quantile', 'count_values']);

/** Binding strength of binary operators, loosest first, as Prometheus' grammar declares them. */
const PRECEDENCE: Record<BinaryOp, number> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '>': 3,
  '<': 3,
  '>=': 3,
  '<=': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  atan2: 5,
  '^': 6,
};
/** Unary minus binds as `*` does: `-a ^ b` is `-(a ^ b)`, `-a * b` is `(-a) * b`. */
const UNARY_OPERAND_PRECEDENCE = 6;
const KEYWORD_OPS: ReadonlySet<string> = new Set(['and', 'or', 'unless', 'atan2']);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Parses a PromQL expression and checks its types; throws `PromQLParseError` with the position. */
export function parseExpr(query: string): Expr {
  return new Parser(query).parseQuery();
}

/** The value type an expression evaluates to. */
export function typeOf(expr: Expr): ValueType {
  switch (expr.kind) {
    case 'NumberLiteral':
      return 'scalar';
    case 'StringLiteral':
      return 'string';
    case 'VectorSelector':
    case 'AggregateExpr':
      return 'vector';
    case 'MatrixSelector':
    case 'SubqueryExpr':
      return 'matrix';
    case 'ParenExpr':
    case 'UnaryExpr':
      return typeOf(expr.expr);
    case 'BinaryExpr':
      return typeOf(expr.lhs) === 'scalar' && typeOf(expr.rhs) === 'scalar' ? 'scalar' : 'vector';
    case 'Call':
      return (FUNCTIONS.get(expr.func) as { returns: ValueType }).returns;
  }
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;

  constructor(private readonly query: string) {
    this.tokens = tokenize(query);
  }

  parseQuery(): Expr {
    if (this.peek().type === 'eof') this.fail('no expression found in input', this.peek().start);
    const expr = this.parseExpr(0);
    const next = this.peek();
    if (next.type !== 'eof') this.unexpected(next);
    return expr;
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.index + ahead, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return token;
  }

  private fail(message: string, at: number): never {
    throw new PromQLParseError(message, this.query, at);
  }

  private unexpected(token: Token, context = ''): never {
    const what =
      token.type === 'eof'
        ? 'end of input'
        : token.type === 'identifier' || token.type === 'metricIdentifier'
          ? `identifier "${token.text}"`
          : token.type === 'number' || token.type === 'duration' || token.type === 'string'
            ? `${token.type} "${token.text}"`
            : `"${token.text}"`;
    this.fail(`unexpected ${what}${context ? ` ${context}` : ''}`, token.start);
  }

  private expect(type: Token['type'], context: string): Token {
    const token = this.peek();
    if (token.type !== type) this.unexpected(token, context);
    return this.next();
  }

  private isKeyword(token: Token, word: string): boolean {
    return token.type === 'identifier' && token.text.toLowerCase() === word;
  }

  private binaryOpAt(token: Token): BinaryOp | undefined {
    if (token.type === 'op') return token.text as BinaryOp;
    if (token.type === 'identifier' && KEYWORD_OPS.has(token.text.toLowerCase())) {
      return token.text.toLowerCase() as BinaryOp;
    }
    return undefined;
  }

  private parseExpr(minPrecedence: number): Expr {
    let lhs = this.parseUnary();
    for (;;) {
      const token = this.peek();
      const op = this.binaryOpAt(token);
      if (op === undefined || PRECEDENCE[op] < minPrecedence) return lhs;
      this.next();
      const returnBool = this.isKeyword(this.peek(), 'bool');
      if (returnBool) this.next();
      const matching = this.parseMatching(op);
      const rhs = this.parseExpr(op === '^' ? PRECEDENCE[op] : PRECEDENCE[op] + 1);
      lhs = this.binary(op, lhs, rhs, returnBool, matching, token);
    }
  }

  private parseUnary(): Expr {
    const token = this.peek();
    if (token.type === 'op' && (token.text === '-' || token.text === '+')) {
      this.next();
      const operand = this.parseExpr(UNARY_OPERAND_PRECEDENCE);
      const type = typeOf(operand);
      if (type !== 'scalar' && type !== 'vector') {
        this.fail(
          `unary expression only allowed on expressions of type scalar or instant vector, got "${TYPE_NAMES[type]}"`,
          token.start,
        );
      }
      const pos = { start: token.start, end: operand.pos.end };
      if (operand.kind === 'NumberLiteral') {
        return { kind: 'NumberLiteral', value: token.text === '-' ? -operand.value : operand.value, pos };
      }
      return { kind: 'UnaryExpr', op: token.text, expr: operand, pos };
    }
    return this.parsePostfix(this.parsePrimary());
  }

  private parseMatching(op: BinaryOp): VectorMatching {
    const matching: VectorMatching = {
      card: SET_OPS.has(op) ? 'many-to-many' : 'one-to-one',
      on: false,
      labels: [],
      include: [],
    };
    const token = this.peek();
    if (this.isKeyword(token, 'on') || this.isKeyword(token, 'ignoring')) {
      this.next();
      matching.on = token.text.toLowerCase() === 'on';
      matching.labels = this.parseLabelList();
      const group = this.peek();
      if (this.isKeyword(group, 'group_left') || this.isKeyword(group, 'group_right')) {
        this.next();
        matching.card = group.text.toLowerCase() === 'group_left' ? 'many-to-one' : 'one-to-many';
        if (this.peek().type === '(') matching.include = this.parseLabelList();
      }
    }
    return matching;
  }

  /** `(a, b, …)`, a trailing comma allowed. */
  private parseLabelList(): string[] {
    this.expect('(', 'in grouping opts, expected "("');
    const labels: string[] = [];
    while (this.peek().type !== ')') {
      const token = this.next();
      if (
        (token.type !== 'identifier' && token.type !== 'metricIdentifier') ||
        !LABEL_NAME.test(token.text)
      ) {
        this.unexpected(token, 'in grouping opts, expected label');
      }
      labels.push(token.text);
      if (this.peek().type === ',') this.next();
      else if (this.peek().type !== ')')
        this.unexpected(this.peek(), 'in grouping opts, expected "," or ")"');
    }
    this.next();
    return labels;
  }

  private binary(
    op: BinaryOp,
    lhs: Expr,
    rhs: Expr,
    returnBool: boolean,
    matching: VectorMatching,
    opToken: Token,
  ): BinaryExpr {
    const at = opToken.start;
    const lt = typeOf(lhs);
    const rt = typeOf(rhs);
    if (returnBool && !COMPARISON_OPS.has(op)) {
      this.fail('bool modifier can only be used on comparison operators', at);
    }
    if (COMPARISON_OPS.has(op) && !returnBool && lt === 'scalar' && rt === 'scalar') {
      this.fail('comparisons between scalars must use BOOL modifier', at);
    }
    if (matching.on && matching.include.some((l) => matching.labels.includes(l))) {
      const label = matching.include.find((l) => matching.labels.includes(l)) as string;
      this.fail(`label "${label}" must not occur in ON and GROUP clause at once`, at);
    }
    if (lt !== 'scalar' && lt !== 'vector') {
      this.fail('binary expression must contain only scalar and instant vector types', lhs.pos.start);
    }
    if (rt !== 'scalar' && rt !== 'vector') {
      this.fail('binary expression must contain only scalar and instant vector types', rhs.pos.start);
    }
    let vectorMatching: VectorMatching | undefined = matching;
    if (lt !== 'vector' || rt !== 'vector') {
      if (matching.labels.length > 0 || matching.on || matching.include.length > 0) {
        this.fail('vector matching only allowed between instant vectors', at);
      }
      vectorMatching = undefined;
    } else if (SET_OPS.has(op) && (matching.card === 'one-to-many' || matching.card === 'many-to-one')) {
      this.fail(`no grouping allowed for "${op}" operation`, at);
    }
    if ((lt === 'scalar' || rt === 'scalar') && SET_OPS.has(op)) {
      this.fail(`set operator "${op}" not allowed in binary scalar expression`, at);
    }
    return {
      kind: 'BinaryExpr',
      op,
      lhs,
      rhs,
      returnBool,
      matching: vectorMatching,
      pos: { start: lhs.pos.start, end: rhs.pos.end },
    };
  }

  private parsePrimary(): Expr {
    const token = this.peek();
    switch (token.type) {
      case 'number':
        this.next();
        return {
          kind: 'NumberLiteral',
          value: Number(token.text),
          pos: { start: token.start, end: token.end },
        };
      case 'duration': {
        // A duration where a number goes stands for its seconds, as in Prometheus 3 (`predict_linear(x[1h], 1h)`).
        this.next();
        const ms = parseDurationMs(token.text);
        if (ms === undefined) this.unexpected(token);
        return { kind: 'NumberLiteral', value: ms / 1000, pos: { start: token.start, end: token.end } };
      }
      case 'string':
        this.next();
        return { kind: 'StringLiteral', value: token.text, pos: { start: token.start, end: token.end } };
      case '(': {
        this.next();
        const expr = this.parseExpr(0);
        const close = this.expect(')', 'in paren expression');
        return { kind: 'ParenExpr', expr, pos: { start: token.start, end: close.end } };
      }
      case '{':
        return this.parseSelector(undefined, token.start);
      case 'identifier':
      case 'metricIdentifier':
        return this.parseIdentifierExpr(token);
      default:
        return this.unexpected(token);
    }
  }

  private parseIdentifierExpr(token: Token): Expr {
    const lower = token.text.toLowerCase();
    const after = this.peek(1);
    if (token.type === 'identifier' && AGGREGATORS.has(lower)) {
      if (after.type === '(' || this.isKeyword(after, 'by') || this.isKeyword(after, 'without')) {
        return this.parseAggregation(lower as AggregateOp, token);
      }
    }
    if (lower === 'inf' || lower === 'nan') {
      this.next();
      return {
        kind: 'NumberLiteral',
        value: lower === 'inf' ? Infinity : NaN,
        pos: { start: token.start, end: token.end },
      };
    }
    if (after.type === '(' && token.type === 'identifier') return this.parseCall(token);
    if (token.type === 'identifier' && KEYWORD_OPS.has(lower)) this.unexpected(token);
    this.next();
    return this.parseSelector(token.text, token.start);
  }

  private parseCall(nameToken: Token): Expr {
    const name = nameToken.text;
    const signature = FUNCTIONS.get(name);
    if (signature === undefined) this.fail(`unknown function with name "${name}"`, nameToken.start);
    this.next();
    this.next();
    const args: Expr[] = [];
    while (this.peek().type !== ')') {
      args.push(this.parseExpr(0));
      if (this.peek().type === ',') this.next();
      else if (this.peek().type !== ')') this.unexpected(this.peek(), 'in call, expected "," or ")"');
    }
    const close = this.next();
    const pos = { start: nameToken.start, end: close.end };
    const fixed = signature.args.length;
    if (signature.variadic === 0) {
      if (args.length !== fixed) {
        this.fail(`expected ${fixed} argument(s) in call to "${name}", got ${args.length}`, pos.start);
      }
    } else {
      const atLeast = fixed - 1;
      if (args.length < atLeast) {
        this.fail(
          `expected at least ${atLeast} argument(s) in call to "${name}", got ${args.length}`,
          pos.start,
        );
      }
      if (signature.variadic > 0 && args.length > atLeast + signature.variadic) {
        this.fail(
          `expected at most ${atLeast + signature.variadic} argument(s) in call to "${name}", got ${args.length}`,
          pos.start,
        );
      }
    }
    args.forEach((arg, i) => {
      const expected = signature.args[Math.min(i, fixed - 1)] as ValueType;
      this.expectType(arg, expected, `call to function "${name}"`);
    });
    return { kind: 'Call', func: name, args, pos };
  }

  private expectType(expr: Expr, expected: ValueType, context: string): void {
    const actual = typeOf(expr);
    if (actual !== expected) {
      this.fail(
        `expected type ${TYPE_NAMES[expected]} in ${context}, got ${TYPE_NAMES[actual]}`,
        expr.pos.start,
      );
    }
  }

  private parseAggregation(op: AggregateOp, opToken: Token): AggregateExpr {
    this.next();
    let grouping: string[] | undefined;
    let without = false;
    const parseGrouping = () => {
      const keyword = this.peek();
      if (this.isKeyword(keyword, 'by') || this.isKeyword(keyword, 'without')) {
        this.next();
        without = keyword.text.toLowerCase() === 'without';
        grouping = this.parseLabelList();
        return true;
      }
      return false;
    };
    const groupedBefore = parseGrouping();
    this.expect('(', 'in aggregation, expected "("');
    const args: Expr[] = [];
    while (this.peek().type !== ')') {
      args.push(this.parseExpr(0));
      if (this.peek().type === ',') this.next();
      else if (this.peek().type !== ')') this.unexpected(this.peek(), 'in aggregation, expected "," or ")"');
    }
    const close = this.next();
    let end = close.end;
    if (!groupedBefore && parseGrouping()) end = this.tokens[this.index - 1]?.end ?? end;
    const pos = { start: opToken.start, end };
    const wanted = PARAM_AGGREGATORS.has(op) ? 2 : 1;
    if (args.length !== wanted) {
      this.fail(
        `wrong number of arguments for aggregate expression provided, expected ${wanted}, got ${args.length}`,
        pos.start,
      );
    }
    const expr = args[wanted - 1] as Expr;
    const param = wanted === 2 ? args[0] : undefined;
    this.expectType(expr, 'vector', 'aggregation expression');
    if (param !== undefined) {
      this.expectType(param, op === 'count_values' ? 'string' : 'scalar', 'aggregation parameter');
    }
    return { kind: 'AggregateExpr', op, expr, param, grouping: grouping ?? [], without, pos };
  }

  private parseSelector(name: string | undefined, start: number): VectorSelector {
    const matchers: LabelMatcher[] = [];
    let end = this.tokens[this.index - 1]?.end ?? start;
    if (this.peek().type === '{') {
      this.next();
      while (this.peek().type !== '}') {
        matchers.push(this.parseMatcher());
        if (this.peek().type === ',') this.next();
        else if (this.peek().type !== '}')
          this.unexpected(this.peek(), 'in label matching, expected "," or "}"');
      }
      end = this.next().end;
    }
    if (name !== undefined) {
      const named = matchers.find((m) => m.name === '__name__');
      if (named !== undefined) {
        this.fail(`metric name must not be set twice: "${name}" or "${named.value}"`, start);
      }
      matchers.unshift({ name: '__name__', type: '=', value: name });
    }
    if (!matchers.some((m) => !matchesEmpty(m))) {
      this.fail('vector selector must contain at least one non-empty matcher', start);
    }
    const nameMatcher = matchers.find((m) => m.name === '__name__' && m.type === '=');
    return {
      kind: 'VectorSelector',
      name: name ?? nameMatcher?.value,
      matchers,
      offsetMs: 0,
      at: undefined,
      pos: { start, end },
    };
  }

  private parseMatcher(): LabelMatcher {
    const nameToken = this.next();
    if (
      (nameToken.type !== 'identifier' && nameToken.type !== 'number') ||
      !LABEL_NAME.test(nameToken.text)
    ) {
      this.unexpected(nameToken, 'in label matching, expected label');
    }
    const opToken = this.next();
    const type = opToken.type === '=' ? '=' : opToken.text;
    if (!(opToken.type === '=' || (opToken.type === 'op' && ['!=', '=~', '!~'].includes(opToken.text)))) {
      this.unexpected(opToken, 'in label matching, expected one of "=", "!=", "=~" or "!~"');
    }
    const valueToken = this.next();
    if (valueToken.type !== 'string') this.unexpected(valueToken, 'in label matching, expected string');
    if (type === '=~' || type === '!~') {
      try {
        compileRegex(valueToken.text);
      } catch (error) {
        this.fail(
          `invalid regular expression "${valueToken.text}": ${(error as Error).message}`,
          valueToken.start,
        );
      }
    }
    return { name: nameToken.text, type: type as MatchType, value: valueToken.text };
  }

  private parsePostfix(initial: Expr): Expr {
    let expr = initial;
    for (;;) {
      const token = this.peek();
      if (token.type === '[') expr = this.parseRange(expr);
      else if (this.isKeyword(token, 'offset')) expr = this.parseOffset(expr);
      else if (token.type === '@') expr = this.parseAt(expr);
      else return expr;
    }
  }

  private parseDuration(context: string, allowZero: boolean): number {
    const token = this.next();
    let ms: number | undefined;
    if (token.type === 'duration') ms = parseDurationMs(token.text);
    else if (token.type === 'number') ms = Math.round(Number(token.text) * 1000);
    if (ms === undefined || !Number.isFinite(ms)) this.unexpected(token, context);
    if (!allowZero && ms === 0) this.fail(`duration must be greater than 0`, token.start);
    return ms;
  }

  private parseRange(expr: Expr): Expr {
    const open = this.next();
    const rangeMs = this.parseDuration('in subquery or range selector, expected duration', false);
    if (this.peek().type === ':') {
      this.next();
      const stepMs =
        this.peek().type === ']' ? 0 : this.parseDuration('in subquery, expected duration', true);
      const close = this.expect(']', 'in subquery, expected "]"');
      const type = typeOf(expr);
      if (type !== 'vector') {
        this.fail(`subquery is only allowed on instant vector, got ${TYPE_NAMES[type]} instead`, open.start);
      }
      const subquery: SubqueryExpr = {
        kind: 'SubqueryExpr',
        expr,
        rangeMs,
        stepMs,
        offsetMs: 0,
        at: undefined,
        pos: { start: expr.pos.start, end: close.end },
      };
      return subquery;
    }
    const close = this.expect(']', 'in range selector, expected "]"');
    if (expr.kind !== 'VectorSelector') this.fail('ranges only allowed for vector selectors', open.start);
    if (expr.offsetMs !== 0) this.fail('no offset modifiers allowed before range', open.start);
    if (expr.at !== undefined) this.fail('no @ modifiers allowed before range', open.start);
    const matrix: MatrixSelector = {
      kind: 'MatrixSelector',
      selector: expr,
      rangeMs,
      pos: { start: expr.pos.start, end: close.end },
    };
    return matrix;
  }

  /** The node `offset` and `@` modify: a selector (through its matrix) or a subquery. */
  private modifiable(expr: Expr, what: string, at: number): VectorSelector | SubqueryExpr {
    if (expr.kind === 'VectorSelector' || expr.kind === 'SubqueryExpr') return expr;
    if (expr.kind === 'MatrixSelector') return expr.selector;
    return this.fail(
      `${what} modifier must be preceded by an instant vector selector or range vector selector or a subquery`,
      at,
    );
  }

  private parseOffset(expr: Expr): Expr {
    const keyword = this.next();
    const target = this.modifiable(expr, 'offset', keyword.start);
    let sign = 1;
    const signToken = this.peek();
    if (signToken.type === 'op' && (signToken.text === '-' || signToken.text === '+')) {
      this.next();
      if (signToken.text === '-') sign = -1;
    }
    const ms = this.parseDuration('in offset, expected duration', true);
    if (target.offsetMs !== 0) this.fail('offset may not be set multiple times', keyword.start);
    target.offsetMs = sign * ms;
    expr.pos = { start: expr.pos.start, end: this.tokens[this.index - 1]?.end ?? expr.pos.end };
    return expr;
  }

  private parseAt(expr: Expr): Expr {
    const atToken = this.next();
    const target = this.modifiable(expr, '@', atToken.start);
    let at: AtModifier;
    const token = this.next();
    if (this.isKeyword(token, 'start') || this.isKeyword(token, 'end')) {
      this.expect('(', 'in @ modifier, expected "("');
      this.expect(')', 'in @ modifier, expected ")"');
      at = { kind: token.text.toLowerCase() as 'start' | 'end' };
    } else {
      let sign = 1;
      let numberToken = token;
      if (token.type === 'op' && (token.text === '-' || token.text === '+')) {
        sign = token.text === '-' ? -1 : 1;
        numberToken = this.next();
      }
      const isNumber =
        numberToken.type === 'number' ||
        numberToken.type === 'duration' ||
        (numberToken.type === 'identifier' && /^(inf|nan)$/i.test(numberToken.text));
      if (!isNumber) this.unexpected(numberToken, 'in @, expected timestamp');
      const seconds =
        sign *
        (numberToken.type === 'duration'
          ? (parseDurationMs(numberToken.text) ?? NaN) / 1000
          : Number(/^inf$/i.test(numberToken.text) ? Infinity : numberToken.text));
      if (!Number.isFinite(seconds)) {
        this.fail(`timestamp out of bounds for @ modifier: ${seconds}`, numberToken.start);
      }
      at = { kind: 'time', ms: Math.round(seconds * 1000) };
    }
    if (target.at !== undefined) this.fail('@ <timestamp> may not be set multiple times', atToken.start);
    target.at = at;
    expr.pos = { start: expr.pos.start, end: this.tokens[this.index - 1]?.end ?? expr.pos.end };
    return expr;
  }
}

/** Whether a matcher accepts the empty value (a selector needs one that does not). */
export function matchesEmpty(matcher: LabelMatcher): boolean {
  switch (matcher.type) {
    case '=':
      return matcher.value === '';
    case '!=':
      return matcher.value !== '';
    case '=~':
      return compileRegex(matcher.value).test('');
    case '!~':
      return !compileRegex(matcher.value).test('');
  }
}
