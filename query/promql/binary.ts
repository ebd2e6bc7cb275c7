import type { BinaryOp, VectorMatching } from './ast.js';
import { COMPARISON_OPS } from './ast.js';
import { PromQLExecutionError } from './errors.js';
import { dropMetricName, formatLabels, labelsKey, matchingKey, type Labels } from './labels.js';
import type { Sample } from './values.js';

/** Go's math.Pow where it differs from `**`: 1 to any power, and ±1 cases of infinite exponents. */
function pow(x: number, y: number): number {
  if (x === 1 || y === 0) return 1;
  if (x === -1 && (y === Infinity || y === -Infinity)) return 1;
  return x ** y;
}

/** The value of an arithmetic operator, or for a comparison whether it holds (1/0). */
export function arithmetic(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '%':
      return a % b;
    case '^':
      return pow(a, b);
    case 'atan2':
      return Math.atan2(a, b);
    case '==':
      return a === b ? 1 : 0;
    case '!=':
      return a !== b ? 1 : 0;
    case '>':
      return a > b ? 1 : 0;
    case '<':
      return a < b ? 1 : 0;
    case '>=':
      return a >= b ? 1 : 0;
    case '<=':
      return a <= b ? 1 : 0;
    default:
      throw new PromQLExecutionError(`operator "${op}" not allowed for scalar operations`);
  }
}

/** An element-wise result: the value and whether the element stays (comparisons filter). */
function element(op: BinaryOp, lhs: number, rhs: number, returnBool: boolean): [number, boolean] {
  if (!COMPARISON_OPS.has(op)) return [arithmetic(op, lhs, rhs), true];
  const holds = arithmetic(op, lhs, rhs) === 1;
  if (returnBool) return [holds ? 1 : 0, true];
  return [lhs, holds];
}

/** `scalar op scalar`. */
export function scalarBinary(op: BinaryOp, lhs: number, rhs: number): number {
  return arithmetic(op, lhs, rhs);
}

/** `vector op scalar` or, with `swap`, `scalar op vector`; a comparison keeps the vector's value. */
export function vectorScalarBinary(
  op: BinaryOp,
  vector: readonly Sample[],
  scalar: number,
  swap: boolean,
  returnBool: boolean,
  t: number,
): Sample[] {
  const out: Sample[] = [];
  const dropName = returnBool || !COMPARISON_OPS.has(op);
  for (const s of vector) {
    const [lhs, rhs] = swap ? [scalar, s.value] : [s.value, scalar];
    const [computed, keep] = element(op, lhs, rhs, returnBool);
    if (!keep) continue;
    // A comparison filters: the vector's own value stays, even with the scalar on the left.
    const value = COMPARISON_OPS.has(op) && !returnBool ? s.value : computed;
    out.push({ metric: dropName ? dropMetricName(s.metric) : s.metric, value, t });
  }
  return out;
}

/**
 * Result labels by the two input label sets, kept across steps by the evaluator (one cache per
 * operation node), as Prometheus' EvalNodeHelper keeps them.
 */
export type ResultMetricCache = WeakMap<Labels, WeakMap<Labels, Labels>>;

/** The labels of a result element of one-to-one or many-to-one matching, as Prometheus' resultMetric. */
function resultMetric(
  lhs: Labels,
  rhs: Labels,
  op: BinaryOp,
  matching: VectorMatching,
  returnBool: boolean,
  cache: ResultMetricCache,
): Labels {
  let byRhs = cache.get(lhs);
  if (!byRhs) {
    byRhs = new WeakMap();
    cache.set(lhs, byRhs);
  }
  let metric = byRhs.get(rhs);
  if (!metric) {
    metric = computeResultMetric(lhs, rhs, op, matching, returnBool);
    byRhs.set(rhs, metric);
  }
  return metric;
}

function computeResultMetric(
  lhs: Labels,
  rhs: Labels,
  op: BinaryOp,
  matching: VectorMatching,
  returnBool: boolean,
): Labels {
  const out: Record<string, string> = { ...lhs };
  if (returnBool || !COMPARISON_OPS.has(op)) delete out.__name__;
  if (matching.card === 'one-to-one') {
    if (matching.on) {
      for (const name of Object.keys(out)) if (!matching.labels.includes(name)) delete out[name];
    } else {
      for (const name of matching.labels) delete out[name];
    }
  }
  for (const name of matching.include) {
    const value = rhs[name];
    if (value !== undefined && value !== '') out[name] = value;
    else delete out[name];
  }
  return Object.freeze(out);
}

/** `vector op vector` for arithmetic and comparisons, with one-to-one or grouped matching. */
export function vectorBinary(
  op: BinaryOp,
  lhsIn: readonly Sample[],
  rhsIn: readonly Sample[],
  matching: VectorMatching,
  returnBool: boolean,
  t: number,
  cache: ResultMetricCache = new WeakMap(),
): Sample[] {
  if (lhsIn.length === 0 || rhsIn.length === 0) return [];
  const swapped = matching.card === 'one-to-many';
  const [lhs, rhs] = swapped ? [rhsIn, lhsIn] : [lhsIn, rhsIn];
  const key = (s: Sample) => matchingKey(s.metric, matching.on, matching.labels);
  const rightByKey = new Map<string, Sample>();
  for (const s of rhs) {
    const k = key(s);
    const duplicate = rightByKey.get(k);
    if (duplicate) {
      const side = swapped ? 'left' : 'right';
      const group = formatLabels(groupOf(s.metric, matching));
      throw new PromQLExecutionError(
        `found duplicate series for the match group ${group} on the ${side} hand-side of the operation: ` +
          `[${formatLabels(duplicate.metric)}, ${formatLabels(s.metric)}];` +
          'many-to-many matching not allowed: matching labels must be unique on one side',
      );
    }
    rightByKey.set(k, s);
  }
  const matched = new Map<string, Set<string> | null>();
  const out: Sample[] = [];
  for (const ls of lhs) {
    const k = key(ls);
    const rs = rightByKey.get(k);
    if (!rs) continue;
    const [fl, fr] = swapped ? [rs.value, ls.value] : [ls.value, rs.value];
    const [value, keep] = element(op, fl, fr, returnBool);
    const metric = resultMetric(ls.metric, rs.metric, op, matching, returnBool, cache);
    const inserted = matched.get(k);
    if (matching.card === 'one-to-one') {
      if (inserted !== undefined) {
        throw new PromQLExecutionError(
          'multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)',
        );
      }
      matched.set(k, null);
    } else {
      const set = inserted ?? new Set<string>();
      const metricKey = labelsKey(metric);
      if (set.has(metricKey)) {
        throw new PromQLExecutionError(
          'multiple matches for labels: grouping labels must ensure unique matches',
        );
      }
      set.add(metricKey);
      matched.set(k, set);
    }
    // Matching is checked before a comparison filters, so ambiguity is an error whatever the values.
    if (!keep) continue;
    out.push({ metric, value, t });
  }
  return out;
}

/** The labels a matching clause matches on, for messages. */
function groupOf(labels: Labels, matching: VectorMatching): Labels {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    const listed = matching.labels.includes(name);
    if (matching.on ? listed : !listed && name !== '__name__') out[name] = value;
  }
  return out;
}

/** `and`, `or`, `unless`: filters by matching label sets, values and labels untouched. */
export function setBinary(
  op: 'and' | 'or' | 'unless',
  lhs: readonly Sample[],
  rhs: readonly Sample[],
  matching: VectorMatching,
): Sample[] {
  const key = (s: Sample) => matchingKey(s.metric, matching.on, matching.labels);
  switch (op) {
    case 'and': {
      const right = new Set(rhs.map(key));
      return lhs.filter((s) => right.has(key(s)));
    }
    case 'or': {
      const left = new Set(lhs.map(key));
      return [...lhs, ...rhs.filter((s) => !left.has(key(s)))];
    }
    case 'unless': {
      const right = new Set(rhs.map(key));
      return lhs.filter((s) => !right.has(key(s)));
    }
  }
}
