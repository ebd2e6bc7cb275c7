import type { LabelMatcher } from './storage.js';

/** The four value types of PromQL, named as Prometheus' error messages name them. */
export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

export const TYPE_NAMES: Record<ValueType, string> = {
  scalar: 'scalar',
  vector: 'instant vector',
  matrix: 'range vector',
  string: 'string',
};

/** Character offsets [start, end) of a node in the query text. */
export interface PosRange {
  start: number;
  end: number;
}

/** `@ <time>`, `@ start()` or `@ end()`. */
export type AtModifier = { kind: 'time'; ms: number } | { kind: 'start' } | { kind: 'end' };

export type BinaryOp =
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '^'
  | 'atan2'
  | '=='
  | '!='
  | '>'
  | '<'
  | '>='
  | '<='
  | 'and'
  | 'or'
  | 'unless';

export type AggregateOp =
  | 'sum'
  | 'avg'
  | 'min'
  | 'max'
  | 'count'
  | 'stddev'
  | 'stdvar'
  | 'topk'
  | 'bottomk'
  | 'quantile'
  | 'count_values'
  | 'group';

export interface NumberLiteral {
  kind: 'NumberLiteral';
  value: number;
  pos: PosRange;
}

export interface StringLiteral {
  kind: 'StringLiteral';
  value: string;
  pos: PosRange;
}

export interface VectorSelector {
  kind: 'VectorSelector';
  /** The metric name when written before the braces (or as the only `__name__=` matcher). */
  name: string | undefined;
  /** Every matcher, the name included as `__name__="…"`. */
  matchers: LabelMatcher[];
  offsetMs: number;
  at: AtModifier | undefined;
  pos: PosRange;
}

export interface MatrixSelector {
  kind: 'MatrixSelector';
  selector: VectorSelector;
  rangeMs: number;
  pos: PosRange;
}

export interface SubqueryExpr {
  kind: 'SubqueryExpr';
  expr: Expr;
  rangeMs: number;
  /** 0 when omitted (`[1h:]`): the engine's default subquery step applies. */
  stepMs: number;
  offsetMs: number;
  at: AtModifier | undefined;
  pos: PosRange;
}

export interface ParenExpr {
  kind: 'ParenExpr';
  expr: Expr;
  pos: PosRange;
}

export interface UnaryExpr {
  kind: 'UnaryExpr';
  op: '-' | '+';
  expr: Expr;
  pos: PosRange;
}

/** How the two sides of a binary operation between vectors pair up. */
export interface VectorMatching {
  card: 'one-to-one' | 'many-to-one' | 'one-to-many' | 'many-to-many';
  /** True for `on(…)`, false for `ignoring(…)` or no clause. */
  on: boolean;
  labels: string[];
  /** Labels of `group_left(…)` / `group_right(…)` copied from the "one" side. */
  include: string[];
}

export interface BinaryExpr {
  kind: 'BinaryExpr';
  op: BinaryOp;
  lhs: Expr;
  rhs: Expr;
  returnBool: boolean;
  /** Present when both sides are instant vectors. */
  matching: VectorMatching | undefined;
  pos: PosRange;
}

export interface AggregateExpr {
  kind: 'AggregateExpr';
  op: AggregateOp;
  expr: Expr;
  param: Expr | undefined;
  grouping: string[];
  without: boolean;
  pos: PosRange;
}

export interface Call {
  kind: 'Call';
  func: string;
  args: Expr[];
  pos: PosRange;
}

export type Expr =
  | NumberLiteral
  | StringLiteral
  | VectorSelector
  | MatrixSelector
  | SubqueryExpr
  | ParenExpr
  | UnaryExpr
  | BinaryExpr
  | AggregateExpr
  | Call;

export const COMPARISON_OPS: ReadonlySet<BinaryOp> = new Set(['==', '!=', '>', '<', '>=', '<=']);
export const SET_OPS: ReadonlySet<BinaryOp> = new Set(['and', 'or', 'unless']);

/** Removes any number of enclosing parentheses. */
export function unwrapParens(expr: Expr): Expr {
  let e = expr;
  while (e.kind === 'ParenExpr') e = e.expr;
  return e;
}
