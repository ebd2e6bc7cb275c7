import { describe, expect, it } from 'vitest';
import { parseExpr, PromQLParseError, typeOf, type Expr } from '../../query/promql/index.js';

/** The expression fully parenthesised, to read precedence and associativity off the tree. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'NumberLiteral':
      return String(e.value);
    case 'StringLiteral':
      return JSON.stringify(e.value);
    case 'VectorSelector':
      return (
        (e.name ?? '{}') +
        (e.offsetMs ? ` offset ${e.offsetMs}` : '') +
        (e.at ? ` @ ${JSON.stringify(e.at)}` : '')
      );
    case 'MatrixSelector':
      return `${show(e.selector)}[${e.rangeMs}]`;
    case 'SubqueryExpr':
      return `${show(e.expr)}[${e.rangeMs}:${e.stepMs}]`;
    case 'ParenExpr':
      return show(e.expr);
    case 'UnaryExpr':
      return `(${e.op}${show(e.expr)})`;
    case 'BinaryExpr':
      return `(${show(e.lhs)} ${e.op}${e.returnBool ? ' bool' : ''} ${show(e.rhs)})`;
    case 'AggregateExpr':
      return `${e.op}${e.without ? ' without' : ' by'}(${e.grouping.join(',')})(${e.param ? `${show(e.param)}, ` : ''}${show(e.expr)})`;
    case 'Call':
      return `${e.func}(${e.args.map(show).join(', ')})`;
  }
}

function parseError(query: string): PromQLParseError {
  try {
    parseExpr(query);
  } catch (error) {
    if (error instanceof PromQLParseError) return error;
    throw error;
  }
  throw new Error(`expected ${query} to fail`);
}

describe('PromQL parser', () => {
  it.each([
    ['1 + 2 * 3', '(1 + (2 * 3))'],
    ['1 * 2 + 3', '((1 * 2) + 3)'],
    ['2 ^ 3 ^ 2', '(2 ^ (3 ^ 2))'],
    ['1 - 2 - 3', '((1 - 2) - 3)'],
    ['8 / 2 / 2', '((8 / 2) / 2)'],
    ['-a ^ 2', '(-(a ^ 2))'],
    ['-a * b', '((-a) * b)'],
    ['a + b > c', '((a + b) > c)'],
    ['a > b and c < d', '((a > b) and (c < d))'],
    ['a or b and c', '(a or (b and c))'],
    ['a or b unless c', '(a or (b unless c))'],
    ['a and b unless c', '((a and b) unless c)'],
    ['a atan2 b * c', '((a atan2 b) * c)'],
    ['a % b + c', '((a % b) + c)'],
    ['a == bool b', '(a == bool b)'],
    ['(a + b) * c', '((a + b) * c)'],
    ['-2', '-2'],
    ['- - 2', '2'],
  ])('%s parses as %s', (query, expected) => {
    expect(show(parseExpr(query))).toBe(expected);
  });

  it('reads literals, durations and modifiers', () => {
    expect(show(parseExpr('0x1f + 1e3 + .5'))).toBe('((31 + 1000) + 0.5)');
    expect(show(parseExpr('x[1h30m]'))).toBe('x[5400000]');
    expect(show(parseExpr('x[1.5]'))).toBe('x[1500]');
    expect(show(parseExpr('x[5m] offset -1m'))).toBe('x offset -60000[300000]');
    expect(show(parseExpr('x @ 10.5 offset 1s'))).toBe('x offset 1000 @ {"kind":"time","ms":10500}');
    expect(show(parseExpr('x @ start()'))).toBe('x @ {"kind":"start"}');
    expect(show(parseExpr('rate(x[5m])[1h:]'))).toBe('rate(x[300000])[3600000:0]');
    expect(show(parseExpr('x[1d:1w]'))).toBe('x[86400000:604800000]');
    expect(show(parseExpr('"a\\"b\\n" # comment'))).toBe('"a\\"b\\n"');
    expect((parseExpr('`raw\\n`') as { value: string }).value).toBe('raw\\n');
    expect((parseExpr("'\\x41\\u00e9'") as { value: string }).value).toBe('Aé');
    expect((parseExpr('Inf') as { value: number }).value).toBe(Infinity);
    expect(Number.isNaN((parseExpr('nan') as { value: number }).value)).toBe(true);
  });

  it('reads selectors with every matcher and the name as a matcher', () => {
    const e = parseExpr('http_requests_total{job="api", code!="200", path=~"/a.*", method!~"GET|HEAD",}');
    expect(e).toMatchObject({
      kind: 'VectorSelector',
      name: 'http_requests_total',
      matchers: [
        { name: '__name__', type: '=', value: 'http_requests_total' },
        { name: 'job', type: '=', value: 'api' },
        { name: 'code', type: '!=', value: '200' },
        { name: 'path', type: '=~', value: '/a.*' },
        { name: 'method', type: '!~', value: 'GET|HEAD' },
      ],
    });
    expect(parseExpr('{__name__=~"a|b"}')).toMatchObject({ name: undefined });
    expect(parseExpr('{__name__="a", on="x"}')).toMatchObject({ name: 'a' });
    expect(parseExpr('job:rate5m:sum')).toMatchObject({ name: 'job:rate5m:sum' });
  });

  it('reads aggregations with grouping before or after and parameters', () => {
    expect(show(parseExpr('sum by (job) (x)'))).toBe('sum by(job)(x)');
    expect(show(parseExpr('sum(x) without (a, b,)'))).toBe('sum without(a,b)(x)');
    expect(show(parseExpr('topk(3, x)'))).toBe('topk by()(3, x)');
    expect(show(parseExpr('quantile by (le) (0.9, x)'))).toBe('quantile by(le)(0.9, x)');
    expect(show(parseExpr('count_values("v", x)'))).toBe('count_values by()("v", x)');
    expect(show(parseExpr('SUM(x) BY (job)'))).toBe('sum by(job)(x)');
  });

  it('reads vector matching', () => {
    expect(parseExpr('a * on(x, y) group_left(z) b')).toMatchObject({
      matching: { card: 'many-to-one', on: true, labels: ['x', 'y'], include: ['z'] },
    });
    expect(parseExpr('a / ignoring(x) group_right b')).toMatchObject({
      matching: { card: 'one-to-many', on: false, labels: ['x'], include: [] },
    });
    expect(parseExpr('a and on() b')).toMatchObject({
      matching: { card: 'many-to-many', on: true, labels: [] },
    });
    expect(parseExpr('a + 1')).toMatchObject({ matching: undefined });
  });

  it('types expressions', () => {
    expect(typeOf(parseExpr('1 + 1'))).toBe('scalar');
    expect(typeOf(parseExpr('x + 1'))).toBe('vector');
    expect(typeOf(parseExpr('x[5m]'))).toBe('matrix');
    expect(typeOf(parseExpr('x[5m:]'))).toBe('matrix');
    expect(typeOf(parseExpr('scalar(x)'))).toBe('scalar');
    expect(typeOf(parseExpr('"s"'))).toBe('string');
  });

  it.each([
    ['sum(x', 5, 'unexpected end of input in aggregation, expected "," or ")"'],
    ['rate(x)', 5, 'expected type range vector in call to function "rate", got instant vector'],
    ['rate(x[5m], 1)', 0, 'expected 1 argument(s) in call to "rate", got 2'],
    ['round()', 0, 'expected at least 1 argument(s) in call to "round", got 0'],
    ['round(x, 1, 2)', 0, 'expected at most 2 argument(s) in call to "round", got 3'],
    ['foo(x)', 0, 'unknown function with name "foo"'],
    ['sum(x[5m])', 4, 'expected type instant vector in aggregation expression, got range vector'],
    ['topk(x)', 0, 'wrong number of arguments for aggregate expression provided, expected 2, got 1'],
    ['count_values(1, x)', 13, 'expected type string in aggregation parameter, got scalar'],
    ['x[5m] + 1', 0, 'binary expression must contain only scalar and instant vector types'],
    ['1 > 2', 2, 'comparisons between scalars must use BOOL modifier'],
    ['x + bool y', 2, 'bool modifier can only be used on comparison operators'],
    ['x and 1', 2, 'set operator "and" not allowed in binary scalar expression'],
    ['x and on(a) group_left y', 2, 'no grouping allowed for "and" operation'],
    ['x + on(a) group_left(a) y', 2, 'label "a" must not occur in ON and GROUP clause at once'],
    ['1 + on(a) x', 2, 'vector matching only allowed between instant vectors'],
    ['{a=""}', 0, 'vector selector must contain at least one non-empty matcher'],
    ['x{__name__="y"}', 0, 'metric name must not be set twice: "x" or "y"'],
    ['(x)[5m]', 3, 'ranges only allowed for vector selectors'],
    ['x[5m][5m]', 5, 'ranges only allowed for vector selectors'],
    ['x[5m][10m:]', 5, 'subquery is only allowed on instant vector, got range vector instead'],
    [
      'sum(x) offset 5m',
      7,
      'offset modifier must be preceded by an instant vector selector or range vector selector or a subquery',
    ],
    ['x offset 1m offset 2m', 12, 'offset may not be set multiple times'],
    ['x @ 1 @ 2', 6, '@ <timestamp> may not be set multiple times'],
    [
      '-"a"',
      0,
      'unary expression only allowed on expressions of type scalar or instant vector, got "string"',
    ],
    ['x{a="b"', 7, 'unexpected end of input in label matching, expected "," or "}"'],
    ['x{a~"b"}', 3, "unexpected character: '~'"],
    ['"abc', 0, 'unterminated quoted string'],
    ['x[5x]', 2, 'bad number or duration syntax: "5x"'],
    ['x[1m1h]', 2, 'unexpected duration "1m1h" in subquery or range selector, expected duration'],
    ['x{a=~"("}', 5, 'invalid regular expression "("'],
    ['', 0, 'no expression found in input'],
    ['x y', 2, 'unexpected identifier "y"'],
  ])('%s fails at offset %i: %s', (query, offset, message) => {
    const error = parseError(query);
    expect(error.detail.startsWith(message)).toBe(true);
    expect(error.position.offset).toBe(offset);
    expect(error.errorType).toBe('bad_data');
    expect(error.message).toBe(`1:${offset + 1}: parse error: ${error.detail}`);
  });

  it('reports line and column on multi-line queries', () => {
    const error = parseError('sum(\n  rate(x)\n)');
    expect(error.position).toEqual({ offset: 12, line: 2, column: 8 });
    expect(error.message.startsWith('2:8: parse error: expected type range vector')).toBe(true);
  });
});
